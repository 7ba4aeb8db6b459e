import { describe, expect, it } from 'vitest';
import type { MetricDef, RunRecord } from '../../harness/model/types.js';
import { baselinesAsReference, loadBaselines, promoteRun } from '../../harness/store/baselines.js';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { offerNotCarried, offeredDiffers, offeredLoadRule, referenceOffer } from '../../harness/verdict/offered.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

// Metrics as a --fixed-throughput run resolves them (metricsForRun): machine CPU % gates.
const METRICS: MetricDef[] = [
  { id: 'throughput_gbps', title: 'Throughput', unit: 'Gb/s', direction: 'higher', noiseFloor: 0.05, gating: false },
  { id: 'machine_cpu_pct', title: 'Machine CPU', unit: '% of all CPUs', direction: 'lower', noiseFloor: 0.08, gating: true },
  { id: 'latency_p99_ms', title: 'Latency p99', unit: 'ms', direction: 'lower', noiseFloor: 0.15, gating: false },
];
const NOISE = [1.0, 1.01, 0.99, 1.005, 0.995, 1.008, 0.992, 1.002];
const at = (level: number) => NOISE.map((x) => x * level);

/** A fixed-throughput run of sendfile/on: offered `offered` Gb/s, carrying `carried` of it, at `cpu` % machine CPU. */
function fixedRun(offered: number, cpu: number, o: { carried?: number[]; runId?: string } = {}): RunRecord {
  const r = makeRun(
    { on: { throughput_gbps: o.carried ?? NOISE.map((x) => offered * (0.99 + (x - 1))), machine_cpu_pct: at(cpu), latency_p99_ms: at(5) } },
    { runId: o.runId ?? 'cur', options: { ...makeRun({}).options, fixedThroughput: '60%' } },
  );
  r.suites[0].metrics = METRICS;
  r.suites[0].offeredGbps = offered;
  return r;
}
const cpuOf = (c: { comparisons: { metric: string; verdict: string; rule: string }[] }) => c.comparisons.find((x) => x.metric === 'machine_cpu_pct')!;

describe('offered-load rule (pure)', () => {
  it('offers more than 2% apart differ; only a reference with an offer is checked', () => {
    expect(offeredDiffers(1.0, 1.0)).toBe(false);
    expect(offeredDiffers(0.985, 1.0)).toBe(false);
    expect(offeredDiffers(0.97, 1.0)).toBe(true);
    expect(offeredDiffers(1.03, 1.0)).toBe(true);
    expect(offeredDiffers(undefined, 1.0)).toBe(true);
    expect(offeredDiffers(1.0, undefined)).toBe(false);
    // A reference known to have had no offer (closed model: full load) differs from any offer.
    expect(offeredDiffers(1.0, null)).toBe(true);
    expect(offeredDiffers(undefined, null)).toBe(false);
    expect(referenceOffer(2, undefined)).toBe(2);
    expect(referenceOffer(undefined, {})).toBeNull();
    expect(referenceOffer(undefined, { fixedThroughput: '60%' })).toBeUndefined();
    expect(referenceOffer(undefined, undefined)).toBeUndefined();
  });

  it('a repetition below 98% of its offer did not carry it', () => {
    expect(offerNotCarried(0.97, 1)).toBe(true);
    expect(offerNotCarried(0.98, 1)).toBe(false);
    expect(offerNotCarried(0.5, undefined)).toBe(false);
    expect(offerNotCarried(undefined, 1)).toBe(false);
  });

  it('names both rates; touches only the metrics measured at the offered load', () => {
    const cur = { name: 'this run', offeredGbps: 1.8, throughputGbps: [1.8, 1.79] };
    const ref = { name: 'the reference baseline', offeredGbps: 2.0, throughputGbps: [2.0, 1.99] };
    expect(offeredLoadRule('machine_cpu_pct', cur, ref)).toBe(
      'offered load differs: this run was offered 1.800 Gb/s, the reference baseline 2.000 Gb/s (more than 2% apart), so machine_cpu_pct compares CPU at two different loads; no verdict on this metric (give both sides the same rate in Gb/s: --fixed-throughput 2.000)',
    );
    expect(offeredLoadRule('machine_cpu_per_gbps', cur, ref)).toBeUndefined();
    expect(offeredLoadRule('machine_cpu_pct', { ...cur, offeredGbps: 2.0, throughputGbps: [2, 1.8, 1.99] }, ref)).toMatch(
      /^offered load not carried: 1 of 3 repetitions of this run carried less than 98% of the 2\.000 Gb\/s offered/,
    );
    expect(offeredLoadRule('machine_cpu_pct', { ...cur, offeredGbps: 2.0, throughputGbps: [2, 2] }, ref)).toBeUndefined();
  });
});

describe('fixed throughput as a share of the warm-up: the comparison is honest about the load', () => {
  // The slower kernel measured less capacity in its warm-up, so 60% of it is 10% less load and its
  // machine CPU % looks 8% lower: without the rule that is an "improvement" and the gate passes.
  const ref = fixedRun(2.0, 40, { runId: 'ref' });
  const slower = fixedRun(1.8, 36.8);

  it('offers more than 2% apart: machine_cpu_pct is inconclusive naming both rates, and the difference is listed', () => {
    const c = compareRun(slower, runAsReference(ref), { alpha: 0.05 });
    expect(cpuOf(c)).toMatchObject({ verdict: 'inconclusive', rule: expect.stringContaining('this run was offered 1.800 Gb/s, the reference run 2.000 Gb/s') });
    expect(c.fingerprintDifferences).toContain('sendfile: offered load (--fixed-throughput) 2.000 Gb/s -> 1.800 Gb/s');
    expect(c.verdict).toBe('inconclusive');
    expect(c.exitCode).toBe(4);
    expect(c.summary).toMatch(/measured at a fixed throughput cannot be compared .*offered load differs/);
    // Informational metrics of other kinds are still compared.
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')!.rule).not.toMatch(/offered load/);
  });

  it('offers within 2%: compared as usual', () => {
    const c = compareRun(fixedRun(1.98, 40), runAsReference(ref), { alpha: 0.05 });
    expect(cpuOf(c).rule).not.toMatch(/offered load/);
    expect(c.fingerprintDifferences.filter((d) => d.includes('offered load'))).toEqual([]);
    expect(c.verdict).toBe('pass');
  });

  it('a stored baseline keeps its offer and is held to the same rule', async () => {
    const dir = tempDir('hg-offered-');
    await promoteRun(ref, { dir, reason: 'reviewed' });
    const files = await loadBaselines(dir, ref.profile, ['sendfile']);
    expect(files[0].offeredGbps).toBe(2.0);
    const c = compareRun(slower, baselinesAsReference(files, dir, ref.profile), { alpha: 0.05 });
    expect(cpuOf(c)).toMatchObject({ verdict: 'inconclusive', rule: expect.stringContaining('the reference baseline 2.000 Gb/s') });
    expect(c.exitCode).toBe(4);
  });

  it('a reference measured at full load (closed model) is not CPU at this offer either', () => {
    const closed = fixedRun(2.0, 60, { runId: 'ref' });
    delete closed.suites[0].offeredGbps;
    closed.options = { ...closed.options, fixedThroughput: undefined };
    const c = compareRun(slower, runAsReference(closed), { alpha: 0.05 });
    expect(cpuOf(c)).toMatchObject({ verdict: 'inconclusive', rule: expect.stringContaining('the reference run no fixed load (closed model: full load)') });
    expect(c.fingerprintDifferences).toContain('run option fixed throughput: none -> "60%"');
  });

  it('an in-run or ab paired comparison with different offers is inconclusive too', () => {
    const c = comparePairedRun(slower, ref, { alpha: 0.05 });
    expect(cpuOf(c)).toMatchObject({ verdict: 'inconclusive', rule: expect.stringContaining('B was offered 1.800 Gb/s, A 2.000 Gb/s') });
    expect(c.fingerprintDifferences).toContain('sendfile: offered load (--fixed-throughput) 2.000 Gb/s -> 1.800 Gb/s');
    expect(c.summary).toMatch(/offered load differs/);
  });
});

describe('an offered load that was not carried', () => {
  const ref = fixedRun(2.0, 40, { runId: 'ref' });

  it('makes machine_cpu_pct inconclusive with the reason, never a pass, even though the CPU looks lower', () => {
    // Two repetitions carried 1.7 of 2.0 Gb/s: their CPU % describes a lighter load.
    const carried = [2.0, 1.99, 1.7, 2.0, 1.7, 1.98, 2.0, 1.99];
    const c = compareRun(fixedRun(2.0, 38, { carried }), runAsReference(ref), { alpha: 0.05 });
    expect(cpuOf(c)).toMatchObject({
      verdict: 'inconclusive',
      rule: expect.stringMatching(/^offered load not carried: 2 of 8 repetitions of this run carried less than 98% of the 2\.000 Gb\/s offered/),
    });
    expect(c.exitCode).toBe(4);
  });

  it('a reference that did not carry its offer is no reference for machine CPU % either', () => {
    const short = fixedRun(2.0, 40, { runId: 'ref', carried: [1.5, 2, 2, 2, 2, 2, 2, 2] });
    const c = compareRun(fixedRun(2.0, 40), runAsReference(short), { alpha: 0.05 });
    expect(cpuOf(c).rule).toMatch(/1 of 8 repetitions of the reference run carried less than 98%/);
  });
});
