import { describe, expect, it } from 'vitest';
import {
  boundReason,
  CLIENT_BOUND_DEMAND,
  judgeClient,
  parseAllowedCpus,
  parseSchedstat,
} from '../../harness/probes/headroom.js';

describe('load client headroom', () => {
  it('reads schedstat (run ns, wait ns, slices) and the allowed CPUs, and nothing else', () => {
    expect(parseSchedstat('1528362951 48215678 2210\n')).toEqual({ runNs: 1528362951, waitNs: 48215678 });
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('x y z')).toBeUndefined();
    expect(parseAllowedCpus('Name:\tnode\nCpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed:\t1\n')).toEqual([0]);
    expect(parseAllowedCpus('Cpus_allowed_list:\t0-3,6\n')).toEqual([0, 1, 2, 3, 6]);
    expect(parseAllowedCpus('Name:\tsh\n')).toBeUndefined();
  });

  it('a starved client is bound by how busy its CPUs were, although it used little CPU itself', () => {
    const starved = judgeClient({
      wallSec: 2,
      cpuSec: 0.04,
      allowedCpus: 1,
      sched: { runNs: 0.04e9, waitNs: 1.9e9 },
      cpusBusy: 1,
    });
    expect(starved.cpu).toBeCloseTo(0.02);
    expect(starved.demand).toBe(1);
    expect(starved.bound).toBe(true);
    expect(boundReason(starved)).toMatch(
      /had 0% of the CPU it may use left \(CPU 2% of a core, the CPUs it may use 100% busy, its load thread waiting for a CPU 95% of the time\)/,
    );
  });

  it('waiting alone (a VM waking an idle vCPU) is not saturation', () => {
    const u = judgeClient({
      wallSec: 5,
      cpuSec: 1.95,
      allowedCpus: 1,
      sched: { runNs: 1.9e9, waitNs: 1.2e9 },
      cpusBusy: 0.5,
    });
    expect(u.demand).toBeCloseTo(0.5);
    expect(u.bound).toBe(false);
  });

  it('the load thread can use one CPU, the process the CPUs it may use: the busiest share decides', () => {
    const wall = { wallSec: 1, allowedCpus: 2 };
    // One thread nearly saturated on a 2-CPU affinity: bound by the thread.
    expect(judgeClient({ ...wall, cpuSec: 0.85, sched: { runNs: 0.85e9, waitNs: 0 }, cpusBusy: 0.45 }).bound).toBe(
      true,
    );
    // Helper threads busy (1.7 cores of 2) while the load thread is not: bound by the CPU set.
    expect(judgeClient({ ...wall, cpuSec: 1.7, sched: { runNs: 0.5e9, waitNs: 0 } }).demand).toBeCloseTo(0.85);
    const ok = judgeClient({ ...wall, cpuSec: 0.6, sched: { runNs: 0.55e9, waitNs: 0.05e9 }, cpusBusy: 0.4 });
    expect(ok.demand).toBeLessThan(CLIENT_BOUND_DEMAND);
    expect(ok.bound).toBe(false);
  });

  it('without schedstat or /proc/stat the CPU share is the demand', () => {
    expect(judgeClient({ wallSec: 1, cpuSec: 0.79, allowedCpus: 1 }).bound).toBe(false);
    expect(judgeClient({ wallSec: 1, cpuSec: 0.8, allowedCpus: 1 }).bound).toBe(true);
  });
});
