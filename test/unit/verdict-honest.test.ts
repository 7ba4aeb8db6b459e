import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareOptionsOf } from '../../harness/app/common.js';
import { optionSpec, resolveGateOptions } from '../../harness/model/options.js';
import type { MetricDef, RunRecord, SuiteManifest, SuiteResult } from '../../harness/model/types.js';
import { validateDoc } from '../../harness/model/validate.js';
import { verdictTable } from '../../harness/reporters/console.js';
import { renderJunit } from '../../harness/reporters/junit.js';
import { renderMarkdown } from '../../harness/reporters/markdown.js';
import { decide, metricStats } from '../../harness/stats/compare.js';
import { minExactP } from '../../harness/stats/mannwhitney.js';
import { minimumDetectableEffect, pooledLogSpread } from '../../harness/stats/mde.js';
import { alphaSpent, lookAlpha } from '../../harness/stats/sequential.js';
import { mulberry32, relativeShiftCI } from '../../harness/stats/shift.js';
import { median } from '../../harness/stats/summary.js';
import { clientBoundSensitive, compareRun, gatingFamilySize, runAsReference, undecidedVariants, type CompareOptions } from '../../harness/verdict/compare.js';
import type { NoiseProfile } from '../../harness/verdict/noise.js';
import { makeRun } from '../helpers/records.js';

// The two sets of issue 15: a stored-baseline gate showed them as "unchanged" (sendfile/sendfile-off throughput).
const ISSUE_BASE = [30.1, 29.7, 33.4, 33.0, 33.4, 33.5];
const ISSUE_CURRENT = [27.1, 26.2, 26.2, 26.5, 30.9, 30.7];

/** A run with many variants of the test suite (throughput and p99 gating), the same samples for each but `odd`. */
function family(variants: number, samples: Record<string, number[]>, odd?: { variant: string; samples: Record<string, number[]> }) {
  const vs: Record<string, Record<string, number[]>> = {};
  for (let i = 0; i < variants; i++) vs[`v${i}`] = samples;
  if (odd) vs[odd.variant] = odd.samples;
  return makeRun(vs);
}

describe('honest verdicts: harm is never "unchanged"', () => {
  it('the issue 15 sets (throughput 12% lower, interval wholly beyond 5%) are inconclusive, never unchanged, among 42 gating comparisons', () => {
    const st = metricStats(ISSUE_BASE, ISSUE_CURRENT, 'higher');
    // The whole interval lies beyond the 5% threshold in the bad direction.
    expect(st.ciHigh).toBeLessThan(-0.05);
    expect(st.relChange).toBeLessThan(-0.05);
    const same = { throughput_gbps: ISSUE_BASE, latency_p99_ms: [5, 5.1, 4.9, 5, 5.2, 4.8] };
    // 21 variants x 2 gating metrics = 42 comparisons; one of them is the issue's.
    const ref = runAsReference(family(21, same));
    const cur = family(21, same, { variant: 'v3', samples: { ...same, throughput_gbps: ISSUE_CURRENT } });
    const c = compareRun(cur, ref, { alpha: 0.01 });
    const tp = c.comparisons.find((x) => x.variant === 'v3' && x.metric === 'throughput_gbps')!;
    expect(tp.pAdjusted).toBeGreaterThan(0.01);
    expect(tp.verdict).toBe('inconclusive');
    expect(tp.rule).toMatch(/whole 95% interval \(7\.0% to 21\.6% worse\) beyond the 5\.0% threshold, but not significant after multiplicity/);
    expect(c).toMatchObject({ verdict: 'inconclusive', exitCode: 4 });
    // Before the last look it is undecided: more repetitions, not a verdict.
    const plan = { batch: 4, nMax: 18, rho: 2 };
    expect(undecidedVariants(cur, 'sendfile', ref, { alpha: 0.01, plan })).toEqual(['v3']);
  });

  it('decide: the interval beyond the threshold is undecided before the last look and inconclusive at it, whatever p_adj', () => {
    const d = { direction: 'higher' as const, threshold: 0.05, relChange: -0.12, ciLow: -0.22, ciHigh: -0.07, pBetter: 1, alpha: 0.001, identical: false };
    for (const pWorse of [0.3, 0.49, 0.9, 1]) {
      expect(decide({ ...d, pWorse, pWorseRaw: 0.015, final: false })).toMatchObject({ verdict: 'inconclusive', settled: false });
      expect(decide({ ...d, pWorse, pWorseRaw: 0.015, final: true })).toMatchObject({ verdict: 'inconclusive', settled: true });
    }
    // Lower is better: the bad side is up.
    expect(decide({ ...d, direction: 'lower', relChange: 0.12, ciLow: 0.07, ciHigh: 0.22, pWorse: 0.6, final: true }).verdict).toBe('inconclusive');
    // Futility looks at the unadjusted p: a 3% drop with raw p 0.02 is not "no sign of a regression" because Holm made it 0.8.
    expect(decide({ ...d, relChange: -0.03, ciLow: -0.09, ciHigh: 0.01, pWorse: 0.8, pWorseRaw: 0.02, final: false })).toMatchObject({ settled: false });
    expect(decide({ ...d, relChange: 0.01, ciLow: -0.05, ciHigh: 0.06, pWorse: 1, pWorseRaw: 0.6, final: false })).toMatchObject({ verdict: 'unchanged', settled: true });
  });
});

describe('relative intervals on the log-ratio scale', () => {
  // A skewed p99 latency (ms): most repetitions near 2 ms, a few stalls of 40-130 ms.
  const base = [2.1, 2.4, 2.2, 48.0, 2.3, 61.0];
  const cur = [2.6, 2.5, 2.8, 2.4, 2.7, 40.0];
  it('an interval of a positive metric never passes -100% (the linear one does on the same samples)', () => {
    const [lo, hi] = relativeShiftCI(base, cur);
    expect(lo).toBeGreaterThan(-1);
    expect(hi).toBeGreaterThan(lo);
    // The old linear Moses interval over the median: its lower bound reads as a fall of more than 100%.
    const d = base.flatMap((a) => cur.map((b) => b - a)).sort((a, b) => a - b);
    expect(d[5] / median(base)).toBeLessThan(-1);
    expect(lo).toBeCloseTo(Math.expm1(base.flatMap((a) => cur.map((b) => Math.log(b / a))).sort((a, b) => a - b)[5]), 12);
  });
  it('stays above -100% on random skewed samples and covers a true ratio about 95% of the time', () => {
    const rnd = mulberry32(15);
    const draw = () => Math.exp(2 * (rnd() + rnd() - 1)) * (rnd() < 0.15 ? 20 : 1);
    let covered = 0;
    for (let t = 0; t < 400; t++) {
      const x = Array.from({ length: 8 }, draw);
      const y = Array.from({ length: 8 }, () => 1.3 * draw());
      const [lo, hi] = relativeShiftCI(x, y);
      expect(lo).toBeGreaterThan(-1);
      if (lo <= 0.3 && 0.3 <= hi) covered++;
    }
    // Exact under a multiplicative shift: 95% (400 trials: +- 2.2%).
    expect(covered / 400).toBeGreaterThan(0.92);
    expect(covered / 400).toBeLessThan(0.98);
  });
});

// Literal repetitions of one metric: a reference and an A/A repeat of it (8 each, the default --runs).
const BASE8 = [10.0, 10.3, 9.8, 10.1, 9.9, 10.2, 10.05, 9.95];
const SAME8 = [10.1, 9.85, 10.25, 9.9, 10.0, 10.15, 9.8, 10.05];

/** A run of every default Linux variant of the shipped suites, each gating and informational metric with the given samples. */
function defaultFamilyRun(samples: (suite: string, variant: string, m: MetricDef) => number[]): RunRecord {
  const dir = path.join(process.cwd(), 'suites');
  const suites: SuiteResult[] = [];
  for (const id of readdirSync(dir).sort()) {
    const man = JSON.parse(readFileSync(path.join(dir, id, 'suite.json'), 'utf8')) as SuiteManifest;
    if (!man.os.includes('linux')) continue;
    const variants = man.variants.filter((v) => v.default !== false && (v.os ?? man.os).includes('linux'));
    suites.push({
      id: man.id,
      title: man.title,
      feature: man.feature,
      status: 'ran',
      metrics: man.metrics,
      variants: variants.map((v) => ({
        id: v.id,
        status: 'ran' as const,
        artifacts: {},
        adaptive: { looks: [8], stoppedBy: 'settled' as const },
        repetitions: BASE8.map((_, i) => ({
          index: i,
          startedAt: '2026-11-26T00:00:00.000Z',
          durationMs: 10000,
          metrics: Object.fromEntries(man.metrics.map((m) => [m.id, samples(man.id, v.id, m)[i]])),
          counters: {},
          verification: { verified: 100, failed: 0, failures: [] },
          clientBound: false,
          notes: [],
        })),
      })),
    });
  }
  return { ...makeRun({}), suites };
}

describe('family and error control: the first look can find a regression', () => {
  // The default gate: --runs 8, adaptive up to 3 x 8, alpha 0.01 (harness/model/options.ts).
  const g = resolveGateOptions({});
  const cmp = compareOptionsOf(g, null);
  it('uses the defaults of the options model', () => {
    expect(g.runs).toBe(optionSpec('runs')!.default);
    expect(g.runs).toBe(8);
    expect(cmp.plan).toMatchObject({ batch: 4, nMax: 24, rho: 2 });
  });

  it('a single clear 10% throughput drop among the default gating family is regressed at the first look (8 vs 8)', () => {
    const ref = runAsReference(defaultFamilyRun(() => BASE8));
    const cur = defaultFamilyRun((s, v, m) => (s === 'sendfile' && v === 'sendfile-on' && m.id === 'throughput_gbps' ? BASE8.map((x) => x * 0.9) : SAME8));
    const m = gatingFamilySize(cur, ref);
    expect(m).toBeGreaterThanOrEqual(41);
    // A power spending function alone gives the first of the looks 8, 12, ..., 24 alpha/9: over the
    // family that is below the smallest p 8 vs 8 repetitions can give, 1/12870. No first look could find anything.
    expect(0.01 / 9 / m).toBeLessThan(minExactP(8, 8));
    // The interim look settles it: not among the variants that need more repetitions.
    expect(undecidedVariants(cur, 'sendfile', ref, cmp)).not.toContain('sendfile-on');
    const c = compareRun(cur, ref, cmp);
    const tp = c.comparisons.find((x) => x.suite === 'sendfile' && x.variant === 'sendfile-on' && x.metric === 'throughput_gbps')!;
    expect(tp).toMatchObject({ verdict: 'regressed', looks: 1, nBaseline: 8, nCurrent: 8 });
    expect(tp.pAdjusted).toBeCloseTo(m * minExactP(8, 8), 12);
    expect(tp.pAdjusted).toBeLessThanOrEqual(tp.lookAlpha!);
    expect(c.comparisons.filter((x) => x.gating && x.verdict !== 'unchanged')).toEqual([tp]);
    expect(c).toMatchObject({ verdict: 'fail', exitCode: 1 });
  });

  it('the first-look floor keeps the budget: the looks still add up to alpha and never decrease', () => {
    const plan = { alpha: 0.01, nStart: 8, batch: 4, nMax: 24, rho: 2, firstLook: 57 * minExactP(8, 8) };
    const looks = [8, 12, 16, 20, 24];
    const each = looks.map((n, i) => lookAlpha(plan, i ? looks[i - 1] : 0, n));
    expect(each.reduce((a, b) => a + b, 0)).toBeCloseTo(0.01, 15);
    each.forEach((a) => expect(a).toBeGreaterThanOrEqual(0));
    expect(alphaSpent(plan, 8)).toBeCloseTo(57 / 12870, 12);
    // Without a floor the plan is the plain power family.
    expect(alphaSpent({ ...plan, firstLook: undefined }, 8)).toBeCloseTo(0.01 / 9, 15);
  });
});

describe('minimum detectable effect', () => {
  const normalOf = (rnd: () => number) => () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  /** Share of simulated comparisons the production rule catches (one-sided Mann-Whitney p <= alpha and worse by the threshold). */
  function caught(effect: number, o: { n: number; sigma: number; alpha: number; threshold: number; direction: 'higher' | 'lower' }, trials: number, seed: number): number {
    const normal = normalOf(mulberry32(seed));
    let hit = 0;
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: o.n }, () => 100 * Math.exp(o.sigma * normal()));
      const y = Array.from({ length: o.n }, () => 100 * (o.direction === 'higher' ? 1 - effect : 1 + effect) * Math.exp(o.sigma * normal()));
      const s = metricStats(x, y, o.direction);
      const d = decide({ direction: o.direction, threshold: o.threshold, relChange: s.relChange, ciLow: s.ciLow, ciHigh: s.ciHigh, pWorse: s.pWorse, pBetter: s.pBetter, alpha: o.alpha, identical: false, final: true });
      if (d.verdict === 'regressed') hit++;
    }
    return hit / trials;
  }

  it('is the effect a Monte Carlo of the production rule catches 95% of the time (fixed seed)', () => {
    for (const o of [
      // 8 vs 8 at the first-look alpha over 41 comparisons: only near-complete separation rejects.
      { n: 8, sigma: 0.03, alpha: 0.0032 / 41, threshold: 0.01, direction: 'higher' as const },
      { n: 12, sigma: 0.05, alpha: 1e-3, threshold: 0.05, direction: 'lower' as const },
    ]) {
      const mde = minimumDetectableEffect({ sigma: o.sigma, nBaseline: o.n, nCurrent: o.n, alpha: o.alpha, threshold: o.threshold, direction: o.direction })!;
      expect(mde).toBeGreaterThan(o.threshold);
      const at = caught(mde, o, 400, 7);
      expect(at).toBeGreaterThan(0.91);
      expect(at).toBeLessThan(0.99);
      expect(caught(0.75 * mde, o, 400, 8)).toBeLessThan(0.85);
    }
  });

  it('is null when no regression can be significant, the threshold without noise, and shrinks with repetitions', () => {
    // 6 vs 6 cannot give a p below 1/924 (0.00108).
    expect(minimumDetectableEffect({ sigma: 0.02, nBaseline: 6, nCurrent: 6, alpha: 0.001, threshold: 0.05, direction: 'higher' })).toBeNull();
    expect(minimumDetectableEffect({ sigma: 0, nBaseline: 8, nCurrent: 8, alpha: 0.001, threshold: 0.05, direction: 'lower' })).toBeCloseTo(0.05, 12);
    const at = (n: number) => minimumDetectableEffect({ sigma: 0.03, nBaseline: n, nCurrent: n, alpha: 1e-4, threshold: 0.01, direction: 'higher' })!;
    expect(at(8)).toBeGreaterThan(at(12));
    expect(at(12)).toBeGreaterThan(at(24));
    // Large samples (normal theory of the HL estimator) continue the curve.
    expect(at(24)).toBeGreaterThan(at(100));
    // A regression of a throughput can never exceed 100%.
    expect(minimumDetectableEffect({ sigma: 0.5, nBaseline: 8, nCurrent: 8, alpha: 1e-4, threshold: 0.05, direction: 'higher' })!).toBeLessThan(1);
  });

  it('the pooled spread of the samples estimates the noise (about sigma for normal log noise)', () => {
    const normal = normalOf(mulberry32(3));
    const est: number[] = [];
    for (let t = 0; t < 300; t++) est.push(pooledLogSpread(Array.from({ length: 8 }, () => Math.exp(0.04 * normal())), Array.from({ length: 8 }, () => Math.exp(0.04 * normal()))));
    expect(est.reduce((a, b) => a + b, 0) / est.length).toBeGreaterThan(0.037);
    expect(est.reduce((a, b) => a + b, 0) / est.length).toBeLessThan(0.043);
    expect(pooledLogSpread([1, 0, 2], [1, 2, 3])).toBeNaN();
  });

  it('every gating comparison states it, from the calibration when present, else from its repetitions; reports show it', () => {
    const ref = runAsReference(makeRun({ on: { throughput_gbps: BASE8, latency_p99_ms: BASE8.map((x) => 50 / x), errors: BASE8.map(() => 0) } }));
    const cur = makeRun({ on: { throughput_gbps: SAME8, latency_p99_ms: SAME8.map((x) => 50 / x), errors: SAME8.map(() => 0) } });
    const c = compareRun(cur, ref, { alpha: 0.01 });
    const tp = c.comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(tp.verdict).toBe('unchanged');
    expect(tp.mde).toBeGreaterThan(0.05);
    expect(tp.mde).toBeLessThan(0.15);
    expect(tp.mdeSource).toMatch(/^spread of these repetitions \d\.\d%$/);
    expect(c.comparisons.find((x) => x.metric === 'errors')!.mde).toBeUndefined();
    const noise = { schemaVersion: 1, profile: 'p', target: 't', measuredAt: '', sessions: 3, runs: 10, options: cur.options, sourceRuns: [], metrics: { 'sendfile/on/throughput_gbps': { n: 30, cv: 0.05, drift: 0, residuals: [] } } } as NoiseProfile;
    const cal = compareRun(cur, ref, { alpha: 0.01, noise, sameSession: true }).comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(cal.mdeSource).toBe('calibrated noise 5.0%');
    expect(cal.mde!).toBeGreaterThan(tp.mde!);
    // Reports: next to the verdict, in console, summary.md and JUnit; run.json stays valid.
    cur.comparison = c;
    const line = `unchanged; could have detected >= ${(tp.mde! * 100).toFixed(1)}%`;
    expect(verdictTable(cur, c)).toContain(line);
    expect(renderMarkdown(cur)).toContain(line);
    // JUnit and Allure lead with the verdict (CI annotations match on it) and close with the MDE.
    expect(renderJunit(cur)).toMatch(new RegExp(`>unchanged: Throughput [^<]*; could have detected &gt;= ${(tp.mde! * 100).toFixed(1)}%<`));
    expect(() => validateDoc('run', JSON.parse(JSON.stringify(cur)), 'run.json')).not.toThrow();
  });
});

describe('--require-mde', () => {
  const ref = runAsReference(makeRun({ on: { throughput_gbps: BASE8, latency_p99_ms: BASE8.map((x) => 50 / x), errors: BASE8.map(() => 0) } }));
  const cur = makeRun({ on: { throughput_gbps: SAME8, latency_p99_ms: SAME8.map((x) => 50 / x), errors: SAME8.map(() => 0) } });
  it('turns an unchanged verdict that could not have seen the required change into inconclusive, with the reason', () => {
    const loose = compareRun(cur, ref, { alpha: 0.01, requireMde: 0.3 });
    expect(loose.comparisons.find((x) => x.metric === 'throughput_gbps')!.verdict).toBe('unchanged');
    const strict = compareRun(cur, ref, { alpha: 0.01, requireMde: 0.02 });
    const tp = strict.comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(tp.verdict).toBe('inconclusive');
    expect(tp.rule).toMatch(/^could only have detected \d+\.\d% or more, more than the required 2\.0% \(--require-mde\)/);
    expect(strict).toMatchObject({ verdict: 'inconclusive', exitCode: 4 });
    expect(strict.summary).toMatch(/could not have detected the required change/);
    // Informational metrics are not held to it.
    expect(strict.comparisons.find((x) => x.metric === 'errors')!.verdict).not.toBe('inconclusive');
  });
  it('asks for more repetitions before the last look', () => {
    const plan = { batch: 4, nMax: 24, rho: 2 };
    expect(undecidedVariants(cur, 'sendfile', ref, { alpha: 0.01, plan, requireMde: 0.02 })).toEqual(['on']);
    expect(undecidedVariants(cur, 'sendfile', ref, { alpha: 0.01, plan })).toEqual([]);
  });
  it('is an option: --require-mde 5% (or HEADGATE_REQUIRE_MDE) reaches the comparison', () => {
    const g = resolveGateOptions({ env: { HEADGATE_REQUIRE_MDE: '5%' } });
    expect(g.requireMde).toBe(0.05);
    expect(compareOptionsOf(g, null).requireMde).toBe(0.05);
    expect(compareOptionsOf(resolveGateOptions({}), null).requireMde).toBeUndefined();
    expect(() => resolveGateOptions({ flags: { requireMde: 1.5 } })).toThrow(/--require-mde/);
  });
});

describe('client-bound repetitions', () => {
  const base = { throughput_gbps: BASE8, latency_p99_ms: BASE8.map((x) => 50 / x), errors: BASE8.map(() => 0) };
  const bound = (r: RunRecord, which: number[]) => {
    for (const i of which) r.suites[0].variants[0].repetitions[i].clientBound = true;
    return r;
  };
  it('throughput units are the rates a saturated client caps', () => {
    expect(['Gb/s', 'Mbit/s', 'req/s', 'IO/s'].map(clientBoundSensitive)).toEqual([true, true, true, true]);
    expect(['Gb/s/core', 'ms', 'count'].map(clientBoundSensitive)).toEqual([false, false, false]);
  });
  it('make a throughput comparison inconclusive with the reason, never a pass (nor a verdict from the client)', () => {
    const ref = runAsReference(makeRun({ on: base }));
    const opts: CompareOptions = { alpha: 0.01 };
    for (const tp of [SAME8, BASE8.map((x) => x * 0.7)]) {
      const c = compareRun(bound(makeRun({ on: { ...base, throughput_gbps: tp } }), [2]), ref, opts);
      const t = c.comparisons.find((x) => x.metric === 'throughput_gbps')!;
      expect(t.verdict).toBe('inconclusive');
      expect(t.rule).toMatch(/^client-bound: repetitions of this run saturated the load generator, so Gb\/s measured the client/);
      expect(c.verdict).toBe('inconclusive');
      expect(c.summary).toMatch(/1 throughput metric\(s\) were client-bound \(sendfile\/on throughput_gbps\)/);
    }
    // Latency is still judged.
    const c = compareRun(bound(makeRun({ on: base }), [0, 1]), ref, opts);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')!.verdict).toBe('unchanged');
    // A client-bound reference run is no better.
    const fromBound = compareRun(makeRun({ on: base }), runAsReference(bound(makeRun({ on: base }), [5])), opts);
    expect(fromBound.comparisons.find((x) => x.metric === 'throughput_gbps')!.rule).toMatch(/repetitions of the reference run saturated/);
    // Without client-bound repetitions nothing changes.
    expect(compareRun(makeRun({ on: base }), ref, opts).verdict).toBe('pass');
  });
});

describe('a change whose samples include 0 (e.g. disk_read_pct of a hot cache)', () => {
  it('is shown in the metric\'s unit, never as a percentage of a median near 0', async () => {
    const { changeWithCi } = await import('../../harness/reporters/format.js');
    const { compareRun, runAsReference } = await import('../../harness/verdict/compare.js');
    const { makeRun } = await import('../helpers/records.js');
    const metric = { id: 'disk_read_pct', title: 'Disk reads', unit: '%', direction: 'lower' as const, noiseFloor: 0.2, gating: false };
    const base = makeRun({ on: { disk_read_pct: [0, 0.01, 0, 0.02, 0, 0.01] } });
    const cur = makeRun({ on: { disk_read_pct: [0.3, 0, 0.5, 0.01, 0.2, 0] } });
    for (const r of [base, cur]) r.suites[0].metrics = [metric];
    const c = compareRun(cur, runAsReference(base), { alpha: 0.01 }).comparisons.find((x) => x.metric === 'disk_read_pct')!;
    const text = changeWithCi(c);
    expect(text).toMatch(/^[+-][\d.]+ \[[+-][\d.]+, [+-][\d.]+\] % \(absolute: the samples include 0\)$/);
    // The bounds are the interval times |baseline median|, so they stay on the scale of the samples.
    for (const x of text.match(/[+-][\d.]+/g)!.map(Number)) expect(Math.abs(x)).toBeLessThanOrEqual(1);
  });
});
