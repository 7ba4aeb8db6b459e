import { describe, expect, it } from 'vitest';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { makeRun } from '../helpers/records.js';
import { verdictLine } from '../../harness/reporters/format.js';

// A client-bound reference understates what the kernel delivered then. Against it a run that
// delivered far less has still regressed (the true gap is at least the measured one); a run that
// delivered as much cannot be called unchanged.

const ref = makeRun({ on: { throughput_gbps: [18.1, 18.4, 18.8, 17.2, 18.6, 18.3], latency_p99_ms: [2, 2, 2, 2, 2, 2], errors: [0, 0, 0, 0, 0, 0] } }, { runId: 'ref' });
ref.suites[0].variants[0].repetitions[3].clientBound = true;
const today = (gbps: number[]) => makeRun({ on: { throughput_gbps: gbps, latency_p99_ms: [2, 2, 2, 2, 2, 2], errors: [0, 0, 0, 0, 0, 0] } }, { runId: 'today' });
const tput = (c: ReturnType<typeof compareRun>) => c.comparisons.find((x) => x.metric === 'throughput_gbps')!;

describe('a client-bound reference', () => {
  it('still shows a crawl (-97%) as regressed', () => {
    const c = compareRun(today([0.5, 0.52, 0.49, 0.5, 0.51, 0.5]), runAsReference(ref), { alpha: 0.05 });
    expect(tput(c).verdict).toBe('regressed');
    expect(c.exitCode).toBe(1);
  });

  it('cannot call the same throughput unchanged: inconclusive, naming the client-bound reference', () => {
    const c = compareRun(today([18.2, 18.3, 18.5, 18.1, 18.6, 18.4]), runAsReference(ref), { alpha: 0.05 });
    expect(tput(c).verdict).toBe('inconclusive');
    expect(tput(c).rule).toMatch(/^client-bound: repetitions of the reference run saturated the load generator/);
  });

  it('a client-bound run of today is no evidence either way', () => {
    const t = today([0.5, 0.52, 0.49, 0.5, 0.51, 0.5]);
    for (const r of t.suites[0].variants[0].repetitions) r.clientBound = true;
    expect(tput(compareRun(t, runAsReference(ref), { alpha: 0.05 })).verdict).toBe('inconclusive');
  });
});

describe("every throughput verdict states the load client's headroom", () => {
  it("the busiest repetition's client CPU, on throughput only, in the row and in the one-line verdict", () => {
    const cpu = [61, 74.4, 58, 66, 70, 63];
    const t = makeRun({ on: { throughput_gbps: [18.2, 18.3, 18.5, 18.1, 18.6, 18.4], client_cpu_pct: cpu, latency_p99_ms: [2, 2, 2, 2, 2, 2], errors: [0, 0, 0, 0, 0, 0] } }, { runId: 'today' });
    const c = compareRun(t, runAsReference(t), { alpha: 0.05 });
    const peak = Math.max(...cpu);
    expect(tput(c).clientHeadroom).toBe(`load client at most ${peak.toFixed(0)}% of a core (${(100 - peak).toFixed(0)}% headroom)`);
    expect(verdictLine(tput(c))).toContain(tput(c).clientHeadroom!);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')!.clientHeadroom).toBeUndefined();
  });
});
