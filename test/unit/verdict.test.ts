import { describe, expect, it } from 'vitest';
import { compareRun, runAsReference, undecidedVariants } from '../../harness/verdict/compare.js';
import { DRIFT_MARGIN, measureNoise, robustCv, thresholdFor, type NoiseProfile } from '../../harness/verdict/noise.js';
import { changePoints, trend } from '../../harness/stats/changepoint.js';
import { lookAlpha } from '../../harness/stats/sequential.js';
import { mulberry32 } from '../../harness/stats/shift.js';
import { METRICS, makeRun } from '../helpers/records.js';

/** Skewed noise with outliers: a sum of uniforms, exponentiated, and 5% of values 20% low. */
function noisy(rnd: () => number, level: number, cv: number): number {
  const z = (rnd() + rnd() + rnd() + rnd() - 2) * Math.sqrt(3);
  return level * Math.exp(cv * z) * (rnd() < 0.05 ? 0.8 : 1);
}

describe('change points over a history series', () => {
  it('finds an injected 5% step at run 30 of 50 and reports the levels on both sides', () => {
    const rnd = mulberry32(3);
    const series = Array.from({ length: 50 }, (_, i) => noisy(rnd, i < 30 ? 10 : 9.5, 0.01));
    const cps = changePoints(series);
    expect(cps).toHaveLength(1);
    expect(Math.abs(cps[0].index - 30)).toBeLessThanOrEqual(1);
    expect(cps[0].relChange).toBeLessThan(-0.03);
    expect(cps[0].relChange).toBeGreaterThan(-0.07);
    expect(cps[0].pValue).toBeLessThanOrEqual(0.01);
  });

  it('reports no change point in flat noisy series (at most 2 of 40 seeds, each test at p 0.01)', () => {
    let found = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = mulberry32(100 + seed);
      if (changePoints(Array.from({ length: 50 }, () => noisy(rnd, 10, 0.02))).length) found++;
    }
    expect(found).toBeLessThanOrEqual(2);
    const rnd = mulberry32(5);
    expect(changePoints(Array.from({ length: 50 }, () => noisy(rnd, 10, 0.02)))).toEqual([]);
  });

  it('a drift of 1% per merge that no gate would flag shows as a trend with a small p', () => {
    const rnd = mulberry32(8);
    const series = Array.from({ length: 30 }, (_, i) => noisy(rnd, 10 * (1 - 0.01 * i), 0.02));
    const t = trend(series);
    expect(t.relSlopePerRun).toBeLessThan(-0.007);
    expect(t.relSlopePerRun).toBeGreaterThan(-0.014);
    expect(t.pValue).toBeLessThan(0.001);
    const flat = mulberry32(9);
    expect(trend(Array.from({ length: 30 }, () => noisy(flat, 10, 0.02))).pValue).toBeGreaterThan(0.01);
  });
});

describe('noise calibration', () => {
  const session = (xs: number[], id: string) => makeRun({ on: { throughput_gbps: xs, latency_p99_ms: xs.map((x) => 100 / x), errors: xs.map(() => 0) } }, { runId: id });
  it('keeps every repetition as a residual around its session median and the largest session shift as drift', () => {
    const a = [10, 10.2, 9.8, 10.1, 9.9];
    const b = a.map((x) => x * 1.03);
    const n = measureNoise([session(a, 'a'), session(b, 'b')]);
    const e = n['sendfile/on/throughput_gbps'];
    expect(e.n).toBe(10);
    expect(e.residuals.slice(0, 5)).toEqual(a.map((x) => Number((x / 10 - 1).toPrecision(4))));
    expect(e.drift).toBeCloseTo(0.03, 3);
    expect(e.cv).toBeCloseTo(robustCv(a), 2);
  });
  it('thresholds: 3 x the calibrated drift or the 1% minimum; drift cancels in one session; the suite floor when never calibrated', () => {
    const tp = METRICS[0];
    expect(DRIFT_MARGIN).toBe(3);
    expect(thresholdFor(tp, undefined)).toMatchObject({ value: 0.05, source: 'suite noise floor (not calibrated)' });
    expect(thresholdFor(tp, { n: 10, cv: 0.02, drift: 0.002, residuals: [] }).value).toBe(0.01);
    expect(thresholdFor(tp, { n: 10, cv: 0.02, drift: 0.03, residuals: [] })).toMatchObject({ value: 0.09, source: expect.stringMatching(/^3 x the calibrated A\/A drift/) });
    expect(thresholdFor(tp, { n: 10, cv: 0.02, drift: 0.03, residuals: [] }, 0.01, true)).toMatchObject({ value: 0.01, source: expect.stringMatching(/one session, so drift cancels/) });
  });
});

describe('adaptive looks in the comparison', () => {
  const plan = { batch: 4, nMax: 24, rho: 2 };
  const rnd = mulberry32(21);
  const draw = (n: number, level: number) => Array.from({ length: n }, () => noisy(rnd, level, 0.02));
  const noise: NoiseProfile = {
    schemaVersion: 1,
    profile: 'test-profile',
    target: 'local',
    measuredAt: '2026-11-26T00:00:00Z',
    sessions: 3,
    runs: 8,
    options: makeRun({}).options,
    sourceRuns: [],
    metrics: { 'sendfile/on/throughput_gbps': { n: 24, cv: 0.02, drift: 0.002, residuals: [] }, 'sendfile/on/latency_p99_ms': { n: 24, cv: 0.02, drift: 0.002, residuals: [] } },
  };
  const run = (xs: number[]) => makeRun({ on: { throughput_gbps: xs, latency_p99_ms: xs.map((x) => 100 / x), errors: xs.map(() => 0) } });
  const ref = runAsReference(run(draw(8, 10)));

  it('a clear 20% drop settles at the first look; a 3% drop with 2% noise asks for more', () => {
    const opts = { alpha: 0.01, plan, noise };
    expect(undecidedVariants(run(draw(8, 8)), 'sendfile', ref, opts)).toEqual([]);
    expect(undecidedVariants(run(draw(8, 9.7)), 'sendfile', ref, opts)).toEqual(['on']);
  });

  it('the final comparison decides at the alpha of the last look and says how many looks it took', () => {
    const cur = run(draw(16, 9));
    cur.suites[0].variants[0].adaptive = { looks: [8, 12, 16], stoppedBy: 'settled' };
    const c = compareRun(cur, ref, { alpha: 0.01, plan, noise });
    const tp = c.comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(tp.looks).toBe(3);
    expect(tp.lookAlpha).toBeCloseTo(lookAlpha({ alpha: 0.01, nStart: 8, ...plan }, 12, 16), 15);
    expect(tp.verdict).toBe('regressed');
    expect(tp.noiseFloor).toBe(0.01);
    expect(tp.noise).toEqual({ cv: 0.02, drift: 0.002, n: 24 });
    // A look cut short by the wall-time budget gets the rest of alpha.
    cur.suites[0].variants[0].adaptive = { looks: [8, 12, 16], stoppedBy: 'time' };
    const t = compareRun(cur, ref, { alpha: 0.01, plan, noise }).comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(t.lookAlpha).toBeCloseTo(0.01 - 0.01 * (12 / 24) ** 2, 15);
  });
});
