import { describe, expect, it } from 'vitest';
import { boundReason, CLIENT_BOUND_DEMAND, judgeClient, parseSchedstat } from '../../harness/probes/headroom.js';

describe('load client headroom', () => {
  it('reads schedstat (run ns, wait ns, slices) and nothing else', () => {
    expect(parseSchedstat('1528362951 48215678 2210\n')).toEqual({ runNs: 1528362951, waitNs: 48215678 });
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('x y z')).toBeUndefined();
  });

  it('counts time waiting for a CPU as demand: a starved client is bound although it used little CPU', () => {
    const starved = judgeClient({ wallSec: 2, cpuSec: 0.04, allowedCpus: 1, sched: { runNs: 0.04e9, waitNs: 1.9e9 } });
    expect(starved.cpu).toBeCloseTo(0.02);
    expect(starved.demand).toBeCloseTo(0.97);
    expect(starved.waited).toBeCloseTo(0.95);
    expect(starved.bound).toBe(true);
    expect(boundReason(starved)).toMatch(
      /needed 97% of the CPU it may use \(CPU 2% of a core, waiting for a CPU 95%\)/,
    );
  });

  it('the load thread can use one CPU, the process the CPUs it may use: the busier share decides', () => {
    const wall = { wallSec: 1, allowedCpus: 2 };
    // One thread nearly saturated on a 2-CPU affinity: bound by the thread.
    expect(judgeClient({ ...wall, cpuSec: 0.85, sched: { runNs: 0.85e9, waitNs: 0 } }).bound).toBe(true);
    // Helper threads busy (1.7 cores of 2) while the load thread is not: bound by the CPU set.
    expect(judgeClient({ ...wall, cpuSec: 1.7, sched: { runNs: 0.5e9, waitNs: 0 } }).demand).toBeCloseTo(0.85);
    // Below the bound on both: headroom kept.
    const ok = judgeClient({ ...wall, cpuSec: 0.6, sched: { runNs: 0.55e9, waitNs: 0.05e9 } });
    expect(ok.demand).toBeLessThan(CLIENT_BOUND_DEMAND);
    expect(ok.bound).toBe(false);
  });

  it('without schedstat the CPU share is the demand', () => {
    expect(judgeClient({ wallSec: 1, cpuSec: 0.79, allowedCpus: 1 }).bound).toBe(false);
    expect(judgeClient({ wallSec: 1, cpuSec: 0.8, allowedCpus: 1 }).bound).toBe(true);
  });
});
