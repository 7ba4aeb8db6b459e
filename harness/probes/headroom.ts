import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseProcStat } from '../drivers/os/parsers/linux.js';
import { parseCpuList } from '../lib/cpulist.js';

/**
 * Headroom of a load client. A repetition counts only if the client kept at least 20% of the CPU
 * it may use: past that, queueing inside the client (its event loop, or CPUs it shares) delays
 * requests and the figure describes the client as much as the server.
 *
 * "Demand" is the busiest of three shares, each over the wall time of the load:
 * - its load thread's CPU time, over one CPU (the JavaScript of a load runs on one thread);
 * - its process's CPU time, over the CPUs it may use;
 * - how busy those CPUs were, whoever kept them busy (Linux /proc/stat, every CPU of its affinity).
 * The last one catches a starved client: a program beside it on its CPU leaves it little CPU
 * time, so CPU time alone would call it idle. Time the load thread spent runnable but waiting
 * (schedstat) is reported with it, but is no measure of saturation on its own: in a VM an idle
 * vCPU takes tens of microseconds to wake, which adds up over thousands of wake-ups a second.
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

/** The CPUs this process may use, from /proc/self/status (undefined off Linux). */
export function parseAllowedCpus(status: string): number[] | undefined {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  return m ? parseCpuList(m[1]) : undefined;
}

/** Busy and total ticks of some CPUs (/proc/stat), to take a busy share over an interval. */
interface CpuTicks {
  busy: number;
  total: number;
}

const read = <T>(file: string, parse: (text: string) => T | undefined): T | undefined => {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};

/** How busy a load client was over one load: its CPU, its demand and whether it kept its headroom. */
export interface ClientUse {
  /** Process CPU (user + system, every thread), in cores. */
  cpu: number;
  /** Share of the CPU it may use that was taken (0..1+): the busiest of the three shares above. */
  demand: number;
  /** How busy the CPUs it may use were, whoever used them (0..1; undefined when unknown). */
  cpusBusy?: number;
  /** Time its load thread waited for a CPU, as a share of the wall time (0 when unknown). */
  waited: number;
  /** demand >= CLIENT_BOUND_DEMAND. */
  bound: boolean;
}

/** Judges a client from raw readings (pure). */
export function judgeClient(i: {
  wallSec: number;
  cpuSec: number;
  allowedCpus: number;
  sched?: ThreadSched;
  cpusBusy?: number;
}): ClientUse {
  const wall = Math.max(i.wallSec, 1e-9);
  const cpu = i.cpuSec / wall;
  const thread = i.sched ? i.sched.runNs / 1e9 / wall : cpu;
  const demand = Math.max(thread, cpu / Math.max(1, i.allowedCpus), i.cpusBusy ?? 0);
  return {
    cpu,
    demand,
    ...(i.cpusBusy !== undefined ? { cpusBusy: i.cpusBusy } : {}),
    waited: i.sched ? i.sched.waitNs / 1e9 / wall : 0,
    bound: demand >= CLIENT_BOUND_DEMAND,
  };
}

/** Starts measuring the calling client; the returned function judges it over the time since. */
export function meterClient(): () => ClientUse {
  const allowed = read('/proc/self/status', parseAllowedCpus);
  const ticks = (): CpuTicks | undefined =>
    allowed ? read('/proc/stat', (t) => parseProcStat(t, allowed)) : undefined;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const s0 = read('/proc/thread-self/schedstat', parseSchedstat);
  const k0 = ticks();
  return () => {
    const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    const s1 = s0 && read('/proc/thread-self/schedstat', parseSchedstat);
    const k1 = k0 && ticks();
    const sched = s0 && s1 ? { runNs: s1.runNs - s0.runNs, waitNs: s1.waitNs - s0.waitNs } : undefined;
    const cpusBusy = k0 && k1 && k1.total > k0.total ? (k1.busy - k0.busy) / (k1.total - k0.total) : undefined;
    // availableParallelism follows sched_getaffinity: under the CPU split, the client's CPUs.
    return judgeClient({
      wallSec,
      cpuSec: (c.user + c.system) / 1e6,
      allowedCpus: allowed?.length ?? availableParallelism(),
      sched,
      cpusBusy,
    });
  };
}

/** Why a client lost its headroom, in words. */
export function boundReason(
  u: Pick<ClientUse, 'cpu' | 'demand' | 'waited' | 'cpusBusy'>,
  who = 'the load client',
): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const busy = u.cpusBusy !== undefined ? `, the CPUs it may use ${pct(u.cpusBusy)} busy` : '';
  const waited = u.waited > 0.005 ? `, its load thread waiting for a CPU ${pct(u.waited)} of the time` : '';
  return `client-bound: ${who} had ${pct(Math.max(0, 1 - u.demand))} of the CPU it may use left (CPU ${pct(u.cpu)} of a core${busy}${waited}), under the ${pct(1 - CLIENT_BOUND_DEMAND)} headroom a repetition needs, so throughput reflects the client, not the target`;
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
