import type { Journal } from '../../lib/journal.js';
import type { MachineIdentity } from '../../lib/machine.js';
import type { OsAdapter } from '../os/adapter.js';
import type { BootConfig, BootRecord } from '../../model/types.js';

/** Result of a command run on a target. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Options of Target.exec. */
export interface ExecOptions {
  timeoutMs?: number;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  /** Bytes written to the command's standard input. */
  input?: string | Buffer;
  /** Stops the command when it aborts (Ctrl-C, a step deadline) instead of waiting for its timeout. */
  signal?: AbortSignal;
}

/** A long-running process started on a target (e.g. nginx). */
export interface ProcessHandle {
  pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** True while the process runs. */
  running(): boolean;
  kill(signal?: NodeJS.Signals): void;
}

/** A netns lab the target lives in: the harness host reaches it through a middle-hop namespace. */
export interface TargetLab {
  /** Namespace of the middle hop, where impairment (tc) goes; its device toward the client. */
  middleNs: string;
  middleDevToClient: string;
  /** The harness host's address on the lab's client side. */
  clientAddress: string;
  /** The target's (server namespace's) address. */
  serverAddress: string;
  serverNs: string;
}

/** A machine under test. Suites never see a driver; they get this through the harness API. */
export interface Target {
  readonly kind: string;
  readonly name: string;
  /** Address the client uses to reach servers on the target. */
  readonly address: string;
  /**
   * Directory on the target for the harness's files (run directories, the object set); null when
   * the target is this machine and its objects are read where the harness wrote them.
   */
  readonly workDir: string | null;
  /**
   * headgate's home on the target's machine (lib/home.ts): its lock, its journal and private
   * per-run directories; checked (root-owned, 0700, no symlink on its path) when the target opens.
   */
  readonly home: string;
  /** Where this target's per-run private files go (server prefixes, TLS keys, scratch): a directory inside home or workDir. */
  readonly runRoot: string;
  /** The machine the target runs on (known once it is open). */
  readonly machine: MachineIdentity;
  /** True when the target runs on this machine's own kernel (local, a netns lab, ssh to this box): one lock and one journal with it. */
  readonly onController: boolean;
  /** True when processes started on the target run as root (root login or sudo). */
  readonly runsAsRoot: boolean;
  /**
   * The host ssh connects to (ssh-reached targets): when it equals `address`, load from the
   * controller reaches the target over the same path as the ssh session, so the ssh peer
   * ($SSH_CLIENT on the target) is the load's source address.
   */
  readonly sshHost?: string;
  /** Address servers bind on the target when it differs from `address` (a forwarded port: qemu). */
  readonly listenAddress?: string;
  /** Facts about the target every report must show (e.g. software emulation: not performance numbers). */
  readonly notes?: string[];
  /** A local file with the target's console output (qemu serial), attached to the run. */
  readonly consoleLog?: string;
  /** The netns lab around the target, when the harness built one. */
  readonly lab?: TargetLab;
  /** The target's restore journal (lib/journal.ts): what undoes each change, written before the change. */
  readonly journal: Journal;
  /** Runs argv (no shell); throws an infra error on failure unless allowFail. */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process; its output goes to the given log file on the target. */
  spawn(argv: string[], opts: { logFile: string }): Promise<ProcessHandle>;
  readFile(file: string): Promise<string>;
  /** Returns null when the file does not exist. */
  readFileIfExists(file: string): Promise<string | null>;
  writeFile(file: string, data: string | Buffer): Promise<void>;
  /** Copies a local directory's contents into a directory on the target (created if needed), minus top-level entries named in exclude. */
  upload(localDir: string, targetDir: string, opts?: { exclude?: string[] }): Promise<void>;
  /** Copies a directory's contents from the target into a local directory (created if needed). */
  download(targetDir: string, localDir: string): Promise<void>;
  /** A TCP port that is probably free on the target's server address (a server retries on a clash). */
  pickPort(address: string): Promise<number>;
  /** Whether a program is on the target's PATH (its path, or null). */
  which(program: string): Promise<string | null>;
  /** The OS adapter for this target (probed once). */
  os(): Promise<OsAdapter>;
  /**
   * Reboots the target into a boot configuration (kernel A/B on one box) and waits until it
   * answers again; absent on targets that cannot (local, netns).
   */
  reboot?(boot: BootConfig, side: 'A' | 'B', log: (line: string) => void): Promise<BootRecord>;
  /**
   * A guest this machine runs (QEMU): keeps every thread of its emulator (vCPUs, I/O) on these
   * CPUs of this machine, now and after every reboot, so the load on the other CPUs never shares one.
   */
  pinServer?(cpus: readonly number[], log: (line: string) => void): Promise<void>;
  /** Refuses (exit 2, naming the flag) a boot configuration this target could not boot, before any reboot. */
  checkBoot?(boot: BootConfig): Promise<void>;
  /** Releases the target; `failed` lets a VM driver keep a failed VM for inspection. */
  close(outcome?: { failed: boolean }): Promise<void>;
}
