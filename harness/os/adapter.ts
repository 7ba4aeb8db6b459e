import type { CleanupStack } from '../core/cleanup.js';
import type { Fingerprint, OsFamily } from '../core/types.js';

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
  /** Kernel counters relevant to the suites, as monotonic numbers for before/after deltas. */
  counters(): Promise<Record<string, number>>;
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
}
