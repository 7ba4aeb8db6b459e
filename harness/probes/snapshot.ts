import type { CounterGroup } from '../model/types.js';
import type { OsAdapter } from '../drivers/os/adapter.js';

/** A point-in-time reading of the target's CPU, the server's CPU and kernel counters. */
export interface Snapshot {
  at: bigint;
  cpu: { busy: number; total: number; machineBusy?: number; cpus?: number };
  serverCpuSec: number | null;
  counters: Record<string, number>;
}

/** Takes a snapshot; server CPU is null when the server's processes are unknown (external server). */
export async function snapshot(os: OsAdapter, serverPids: number[], groups?: CounterGroup[]): Promise<Snapshot> {
  const [cpu, serverCpuSec, counters] = await Promise.all([
    os.cpuTimes(),
    serverPids.length ? os.processCpuSeconds(serverPids) : Promise.resolve(null),
    os.counters(groups),
  ]);
  return { at: process.hrtime.bigint(), cpu, serverCpuSec, counters };
}

/** Differences between two snapshots. */
export interface SnapshotDelta {
  wallSec: number;
  /** Busy share of the whole target, 0..1 (all cores). */
  targetBusy: number;
  /** Busy cores of the whole target (targetBusy x cores). */
  targetBusyCores: number;
  /** The machine's own work (CpuTimes.machineBusy) as a share of all its CPUs, 0..1. */
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
  const machineBusy = total > 0 ? (machine(b.cpu) - machine(a.cpu)) / total : 0;
  const cpus = b.cpu.cpus ?? cpuCount;
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
