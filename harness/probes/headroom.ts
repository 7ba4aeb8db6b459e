import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Headroom of a load client. A repetition counts only if the client kept at least 20% of the CPU
 * it may use: past that, queueing inside the client (its event loop, or a run queue it shares)
 * delays requests and the figure describes the client as much as the server.
 *
 * "Demand" is what the client asked of the scheduler: the time its load thread ran plus the time
 * it was runnable but waiting for a CPU (Linux schedstat), over the wall time. A client starved by
 * another program on its CPU uses little CPU yet waits; CPU time alone would call it idle. Where
 * schedstat is missing, demand falls back to CPU time.
 */

/** A client that asks for this share of the CPU it may use has no headroom left: client-bound. */
export const CLIENT_BOUND_DEMAND = 0.8;

/** Time the calling thread spent on a CPU and runnable but waiting for one, ns. */
export interface ThreadSched {
  runNs: number;
  waitNs: number;
}

/** Parses /proc/.../schedstat ("run_ns wait_ns timeslices"), or undefined for anything else. */
export function parseSchedstat(text: string): ThreadSched | undefined {
  const f = text.trim().split(/\s+/);
  if (f.length < 2 || !f.slice(0, 2).every((x) => /^\d+$/.test(x))) return undefined;
  return { runNs: Number(f[0]), waitNs: Number(f[1]) };
}

/** The calling thread's schedstat (the thread that runs the load's JavaScript), or undefined off Linux. */
function readThreadSched(): ThreadSched | undefined {
  try {
    return parseSchedstat(readFileSync('/proc/thread-self/schedstat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** How busy a load client was over one load: its CPU, its demand and whether it kept its headroom. */
export interface ClientUse {
  /** Process CPU (user + system, every thread), in cores. */
  cpu: number;
  /** Share of the CPU it may use that it asked for (0..1+): the busier of its load thread and its CPU set. */
  demand: number;
  /** Time its load thread waited for a CPU, as a share of the wall time (0 when unknown). */
  waited: number;
  /** demand >= CLIENT_BOUND_DEMAND. */
  bound: boolean;
}

/**
 * Judges a client from raw readings (pure): the load thread can use at most one CPU, the process
 * at most the CPUs it is allowed; demand is the larger of the two shares.
 */
export function judgeClient(i: {
  wallSec: number;
  cpuSec: number;
  allowedCpus: number;
  sched?: ThreadSched;
}): ClientUse {
  const wall = Math.max(i.wallSec, 1e-9);
  const cpu = i.cpuSec / wall;
  const thread = i.sched ? (i.sched.runNs + i.sched.waitNs) / 1e9 / wall : cpu;
  const demand = Math.max(thread, cpu / Math.max(1, i.allowedCpus));
  return { cpu, demand, waited: i.sched ? i.sched.waitNs / 1e9 / wall : 0, bound: demand >= CLIENT_BOUND_DEMAND };
}

/** Starts measuring the calling client; the returned function judges it over the time since. */
export function meterClient(): () => ClientUse {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const s0 = readThreadSched();
  return () => {
    const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    const s1 = s0 && readThreadSched();
    const sched = s0 && s1 ? { runNs: s1.runNs - s0.runNs, waitNs: s1.waitNs - s0.waitNs } : undefined;
    // availableParallelism follows sched_getaffinity: under the CPU split, the client's CPUs.
    return judgeClient({ wallSec, cpuSec: (c.user + c.system) / 1e6, allowedCpus: availableParallelism(), sched });
  };
}

/** Why a client lost its headroom, in words ("... needed 93% of the CPU it may use (CPU 85%, waiting 8%) ..."). */
export function boundReason(u: Pick<ClientUse, 'cpu' | 'demand' | 'waited'>, who = 'the load client'): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  return `client-bound: ${who} needed ${pct(u.demand)} of the CPU it may use (CPU ${pct(u.cpu)} of a core${u.waited > 0.005 ? `, waiting for a CPU ${pct(u.waited)}` : ''}), over the ${pct(CLIENT_BOUND_DEMAND)} that leaves it headroom, so throughput reflects the client, not the target`;
}

/** A load result's client fields from one judgement (clientCpu, clientDemand, clientBound and its reason). */
export function clientFields(u: ClientUse): {
  clientCpu: number;
  clientDemand: number;
  clientBound: boolean;
  clientBoundReason?: string;
} {
  return {
    clientCpu: u.cpu,
    clientDemand: u.demand,
    clientBound: u.bound,
    ...(u.bound ? { clientBoundReason: boundReason(u) } : {}),
  };
}
