import { describe, expect, it } from 'vitest';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { CPU_TIME_METRICS, thresholdFor, UNCALIBRATED_CPU_DRIFT } from '../../harness/verdict/noise.js';
import { PROBES } from '../../harness/probes/registry.js';
import { makeNoise, makeRun } from '../helpers/records.js';

// Two quick gates of one unchanged kernel, minutes apart, differed by 22% in CPU per Gb/s while each
// session's repetitions scattered 2-3%: a session effect no test on one session can see. Without a
// calibration of this machine's drift, the gate said FAIL (exit 1) on an unchanged kernel.

const OPTS = { alpha: 0.05 };
const steady = [10, 10.1, 9.9, 10, 10.2, 9.8];

describe('an uncalibrated CPU figure that moved between sessions is not called a regression below the drift sessions show', () => {
  const CPU = {
    id: 'machine_cpu_per_gbps',
    title: 'Machine CPU per Gb/s',
    unit: 'cores per Gb/s',
    direction: 'lower' as const,
    noiseFloor: 0.08,
    gating: true,
  };
  const cpuRun = (id: string, xs: number[]) => {
    const r = makeRun({ none: { throughput_gbps: steady, machine_cpu_per_gbps: xs } }, { runId: id });
    r.suites[0].metrics = [r.suites[0].metrics[0], CPU];
    return r;
  };
  // The quick-start cycle of 2026-12-08: sendfile-off, the same kernel, one gate after the other.
  const gate1 = [0.0289, 0.029, 0.0294, 0.0279, 0.0278, 0.0287];
  const gate2 = [0.0347, 0.0353, 0.0359, 0.0345, 0.0356, 0.036];

  it("the CPU-time list is exactly the probes' CPU figures (by id: disk_read_pct is a % too)", () => {
    const declared = [...PROBES.values()].flatMap((p) => p.metrics);
    const cpu = declared.filter((m) => /core|CPU/.test(m.unit) || /_cpu_/.test(m.id)).map((m) => m.id);
    // Both ways: every CPU figure is listed, and every listed id is a probe's (a stale name would guard nothing).
    expect(new Set(cpu)).toEqual(new Set(CPU_TIME_METRICS));
    expect(CPU_TIME_METRICS.has('disk_read_pct')).toBe(false);
    expect(
      thresholdFor({ ...CPU, id: 'disk_read_pct', unit: '%', noiseFloor: 0.08 }, undefined).regressionFloor,
    ).toBeUndefined();
  });

  it('the floor still decides "unchanged"; the drift only guards "regressed", and only against another session without a calibration', () => {
    expect(thresholdFor(CPU, undefined).regressionFloor).toBe(UNCALIBRATED_CPU_DRIFT);
    expect(thresholdFor(CPU, undefined).value).toBe(0.08);
    expect(thresholdFor(CPU, undefined, 0.01, true).regressionFloor).toBeUndefined();
    expect(thresholdFor(CPU, { n: 12, cv: 0.02, drift: 0.03, residuals: [] }).regressionFloor).toBeUndefined();
    expect(
      thresholdFor({ ...CPU, id: 'throughput_gbps', unit: 'Gb/s', direction: 'higher' }, undefined).regressionFloor,
    ).toBeUndefined();
  });

  it('+22% between two uncalibrated gates: inconclusive (exit 4) naming calibrate, never exit 1', () => {
    const c = compareRun(cpuRun('g2', gate2), runAsReference(cpuRun('g1', gate1)), OPTS);
    const m = c.comparisons.find((x) => x.metric === 'machine_cpu_per_gbps')!;
    expect(m.relChange).toBeGreaterThan(0.2);
    expect(m.verdict).toBe('inconclusive');
    expect(m.regressionFloor).toBe(UNCALIBRATED_CPU_DRIFT);
    expect(m.rule).toMatch(
      /significant .* but within the 25\.0% an uncalibrated CPU figure can drift between sessions: run headgate calibrate/,
    );
    expect(c.exitCode).toBe(4);
    expect(c.summary).toMatch(
      /1 CPU figure\(s\) moved beyond their floor but within the 25% two uncalibrated sessions can differ by \(sendfile\/none machine_cpu_per_gbps\): run headgate calibrate/,
    );
  });

  it('beyond the drift it is a regression; with a calibration the calibrated threshold decides; in one session the floor does', () => {
    const worse = gate1.map((x) => x * 1.4);
    expect(compareRun(cpuRun('g2', worse), runAsReference(cpuRun('g1', gate1)), OPTS).exitCode).toBe(1);
    const noise = makeNoise({ 'sendfile/none/machine_cpu_per_gbps': { n: 18, cv: 0.02, drift: 0.02, residuals: [] } });
    expect(compareRun(cpuRun('g2', gate2), runAsReference(cpuRun('g1', gate1)), { ...OPTS, noise }).exitCode).toBe(1);
    expect(
      compareRun(cpuRun('g2', gate2), runAsReference(cpuRun('g1', gate1)), { ...OPTS, sameSession: true }).exitCode,
    ).toBe(1);
  });

  it('ab by blocks (two boxes or two boots: like two sessions) keeps the guard; ab within one session does not', () => {
    const p = comparePairedRun(cpuRun('b', gate2), cpuRun('a', gate1), OPTS);
    const m = p.comparisons.find((x) => x.metric === 'machine_cpu_per_gbps')!;
    expect(m.verdict).toBe('inconclusive');
    expect(m.withinDrift).toBe(true);
    expect(p.exitCode).toBe(4);
    expect(comparePairedRun(cpuRun('b', gate2), cpuRun('a', gate1), { ...OPTS, sameSession: true }).exitCode).toBe(1);
  });
});
