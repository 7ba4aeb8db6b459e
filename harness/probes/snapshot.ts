import type { CounterGroup } from '../model/types.js';
import type { OsAdapter } from '../drivers/os/adapter.js';

/** A point-in-time reading of the target's CPU, the server's CPU and kernel counters. */
export interface Snapshot {
  at: bigint;
  cpu: { busy: number; total: number; machineBusy?: number; cpus?: number };
  /** The same over a CPU split's server CPUs only. */
  serverSide?: { busy: number; total: number; machineBusy?: number; cpus?: number };
  serverCpuSec: number | null;
  counters: Record<string, number>;
}

/** Takes a snapshot (CPU of `cpus` only when given: a split's server CPUs); server CPU is null when the server's processes are unknown (external server). */
export async function snapshot(os: OsAdapter, serverPids: number[], groups?: CounterGroup[], cpus?: readonly number[]): Promise<Snapshot> {
  // One reading serves both the whole machine and the split's server CPUs.
  const [{ server: serverSide, ...cpu }, serverCpuSec, counters] = await Promise.all([
    os.cpuTimes(cpus),
    serverPids.length ? os.processCpuSeconds(serverPids) : Promise.resolve(null),
    os.counters(groups),
  ]);
  return { at: process.hrtime.bigint(), cpu, ...(serverSide ? { serverSide } : {}), serverCpuSec, counters };
}

/** Differences between two snapshots. */
export interface SnapshotDelta {
  wallSec: number;
  /** Busy share of the whole target, 0..1 (all cores). */
  targetBusy: number;
  /** Busy cores of the whole target (targetBusy x cores). */
  targetBusyCores: number;
  /** The machine's own work (CpuTimes.machineBusy) as a share of all its CPUs (a split's server CPUs), 0..1. */
  machineBusy: number;
  /** The same in cores (machineBusy x the CPUs counted). */
  machineBusyCores: number;
  /** Cores used by the server processes, or null if unknown. */
  serverCores: number | null;
  counters: Record<string, number>;
}

/** Computes deltas; counters that went backwards (reset or wrap) are dropped rather than reported negative. */
export function diff(a: Snapshot, b: Snapshot, cpuCount: number): SnapshotDelta {
  const wallSec = Number(b.at - a.at) / 1e9;
  const total = b.cpu.total - a.cpu.total;
  const targetBusy = total > 0 ? (b.cpu.busy - a.cpu.busy) / total : 0;
  const machine = (c: Snapshot['cpu']) => c.machineBusy ?? c.busy;
  // Under a CPU split the machine's work is what ran on the server's CPUs (the load has the others).
  const [ma, mb] = a.serverSide && b.serverSide ? [a.serverSide, b.serverSide] : [a.cpu, b.cpu];
  const mTotal = mb.total - ma.total;
  const machineBusy = mTotal > 0 ? (machine(mb) - machine(ma)) / mTotal : 0;
  const cpus = mb.cpus ?? cpuCount;
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.counters)) {
    const before = a.counters[k];
    if (before !== undefined && v >= before) counters[k] = v - before;
  }
  return {
    wallSec,
    targetBusy,
    targetBusyCores: targetBusy * cpuCount,
    machineBusy,
    machineBusyCores: machineBusy * cpus,
    serverCores: a.serverCpuSec !== null && b.serverCpuSec !== null && wallSec > 0 ? (b.serverCpuSec - a.serverCpuSec) / wallSec : null,
    counters,
  };
}
