import type { OsAdapter } from '../os/adapter.js';

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

/** A machine under test. Suites never see a driver; they get this through the harness API. */
export interface Target {
  readonly kind: string;
  readonly name: string;
  /** Address the client uses to reach servers on the target. */
  readonly address: string;
  /** Runs argv (no shell); throws an infra error on failure unless allowFail. */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process; its output goes to the given log file on the target. */
  spawn(argv: string[], opts: { logFile: string }): Promise<ProcessHandle>;
  readFile(file: string): Promise<string>;
  /** Returns null when the file does not exist. */
  readFileIfExists(file: string): Promise<string | null>;
  writeFile(file: string, data: string | Buffer): Promise<void>;
  /** Whether a program is on the target's PATH (its path, or null). */
  which(program: string): Promise<string | null>;
  /** The OS adapter for this target (probed once). */
  os(): Promise<OsAdapter>;
  close(): Promise<void>;
}
