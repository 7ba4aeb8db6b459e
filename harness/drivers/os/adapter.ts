import type { CleanupStack } from '../../lib/cleanup.js';
import type { CounterGroup, Fingerprint, OsFamily } from '../../model/types.js';

/** Busy and total CPU time of the whole target, in the OS's clock ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
  /**
   * The machine's own work as the fleet counts it, every CPU: user + nice + system + interrupt
   * (Linux: irq + softirq; never idle, iowait or steal). Absent: same as busy.
   */
  machineBusy?: number;
  /** CPUs the ticks were summed over, when the OS says (absent: the fingerprint's CPU count). */
  cpus?: number;
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
  /** CPU times of the whole target and, with a CPU split's server CPUs, of those alone (`server`), from one reading. */
  cpuTimes(serverCpus?: readonly number[]): Promise<CpuTimes & { server?: CpuTimes }>;
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
   * Set-up that outlives one call registers its removal on `stack` (the suite's). FreeBSD evicts
   * once, by remounting the objects filesystem, and keeps nothing running.
   */
  coldCache(files: string[], logFile: string, maxSec: number, stack: CleanupStack): Promise<ColdCache>;
  /**
   * Where the run keeps its objects (the runner calls it before the plan): FreeBSD decides the
   * `cache-cold` capability from the filesystem under it.
   */
  setObjectsDir?(dir: string): void;
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
  /**
   * Turns on the kernel's TCP event log (FreeBSD black-box logging of every new connection;
   * Linux tcp tracepoints) until `repetition` unwinds; longer-lived setup goes on `suite`. Its
   * record counters appear under the `tcplog` counter group. Returns a line for the notes.
   */
  enableTcpLog?(repetition: CleanupStack, suite: CleanupStack): Promise<string>;
  /**
   * Waits (bounded) until no TCP log record of an earlier session is alive, so a logging-off
   * repetition does not count the records those sessions allocate when they end (FreeBSD:
   * net.inet.tcp.bb.log_global_entries). `alive` is what is still allocated (null: unreadable).
   */
  awaitTcpLogDrained?(log?: (line: string) => void): Promise<TcpLogDrain>;
}

/** What awaitTcpLogDrained found: records still alive after waitedSec (of at most boundSec). */
export interface TcpLogDrain {
  alive: number | null;
  waitedSec: number;
  boundSec: number;
  /** How the bound was set, for the note. */
  how: string;
}

/** A running page-cache eviction; stop() ends it. */
export interface ColdCache {
  stop(): Promise<void>;
}
