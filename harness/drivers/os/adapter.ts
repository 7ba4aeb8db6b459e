import type { CleanupStack } from '../../lib/cleanup.js';
import type { CounterGroup, Fingerprint, OsFamily } from '../../model/types.js';

/** Busy and total CPU time of the whole target, in the OS's clock ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/** Whether a feature can be exercised on the target, and if not, exactly why. */
export interface Capability {
  ok: boolean;
  reason?: string;
}

/** How to probe, set, restore and read kernel features on one OS family. */
export interface OsAdapter {
  readonly family: OsFamily;
  fingerprint(): Promise<Fingerprint>;
  cpuTimes(): Promise<CpuTimes>;
  /** Total CPU seconds (user + system) consumed so far by the given processes. */
  processCpuSeconds(pids: number[]): Promise<number>;
  /** Child process ids of a process (e.g. nginx workers of the master). */
  childPids(pid: number): Promise<number[]>;
  /** Kernel counters of the given groups, as monotonic numbers for before/after deltas. */
  counters(groups?: CounterGroup[]): Promise<Record<string, number>>;
  getKnob(name: string): Promise<string>;
  /** Sets a knob and registers its restore on the stack (only if the value changes). */
  setKnob(name: string, value: string, stack: CleanupStack): Promise<void>;
  capability(name: string): Promise<Capability>;
  /**
   * Evicts files from the page cache and reads them back, so every run serves pages that came
   * in through the same read path. Returns a note when the OS cannot do it (then the state is
   * whatever the cache holds).
   */
  primePageCache(files: string[]): Promise<string | null>;
  /**
   * Makes the files cold: evicts them now and, where the OS can, keeps evicting until stop(), so
   * reads during a repetition go to the disk, for at most maxSec. Throws (infrastructure) when it cannot.
   */
  coldCache(files: string[], logFile: string, maxSec: number): Promise<ColdCache>;
  /** fio's asynchronous I/O engine on this OS. */
  readonly fioEngine: string;
  /** Creates a file-backed block device for I/O tests and registers its removal; returns its /dev path. */
  scratchBlockDevice(file: string, sizeMiB: number, stack: CleanupStack): Promise<string>;
  /**
   * Refuses (exit 2) a user-named device that is in use (mounted, swap, holds /, has something
   * stacked on it, or a partition of it does): the I/O test overwrites it. Returns the device's
   * real path, which is what must be written to.
   */
  checkDeviceUnused(device: string): Promise<string>;
}

/** A running page-cache eviction; stop() ends it. */
export interface ColdCache {
  stop(): Promise<void>;
}
