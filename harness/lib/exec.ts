import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { $, which } from 'zx';
import { infraError } from '../model/errors.js';

/** The node process handle startProcess hands out (re-exported: only this module imports node:child_process). */
export type { ChildProcess };

/** Options of runCommand and runShellHook. */
export interface RunOptions {
  /** Working directory (default: the harness's). */
  cwd?: string;
  /** Variables set over the harness's environment; undefined removes one. */
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed; without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Kills the command's process group after this many ms (SIGTERM, SIGKILL after a grace). */
  timeoutMs?: number;
  /** Kills the command's process group when this aborts (the harness got SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Bytes kept of each of stdout and stderr (default 32 MiB); the rest is read and dropped. */
  maxOutput?: number;
  /** Called with output as it arrives, for live logs of long commands and hooks. */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
}

/** How a command ended; a non-zero exit is a result, not an exception. */
export interface RunResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The timeout killed it. */
  timedOut: boolean;
  /** The AbortSignal killed it (or had fired before it could start: then it never ran). */
  aborted: boolean;
}

/** Time between SIGTERM and SIGKILL when a timeout or an abort stops a process group. */
export const KILL_GRACE_MS = 2000;
const DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024;

/** POSIX single-quoting for /bin/sh (zx's default quoting is bash's $'...'). */
const quote = (arg: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** Signals a whole process group (a detached child leads its own); false when no member is left. */
export function killProcessGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A zx output store for one stream: keeps at most `limit` bytes, forwards every piece live. */
function captured(limit: number, stream: 'stdout' | 'stderr', onOutput?: RunOptions['onOutput']) {
  const chunks: Buffer[] = [];
  const decoder = new StringDecoder('utf8');
  let size = 0;
  chunks.push = (...items: Array<Buffer | string>) => {
    for (const item of items) {
      const b = typeof item === 'string' ? Buffer.from(item) : item;
      if (onOutput) {
        const text = decoder.write(b);
        if (text) onOutput(text, stream);
      }
      if (size < limit) {
        const part = b.subarray(0, limit - size);
        size += part.length;
        Array.prototype.push.call(chunks, part);
      }
    }
    return chunks.length;
  };
  const flush = () => {
    const rest = decoder.end();
    if (rest && onOutput) onOutput(rest, stream);
  };
  return { chunks, text: () => Buffer.concat(chunks).toString('utf8'), flush };
}

/**
 * Runs argv (no shell word splitting: zx quotes every word) in a process group of its own and
 * waits for it; never throws for a non-zero exit, throws an infra error when the program is not
 * there. On timeout or abort the whole group gets SIGTERM, then SIGKILL after KILL_GRACE_MS, so
 * grandchildren die too. zx's own timeout/kill are not used: its kill first lists the process
 * tree by running `ps` (an unhandled rejection where ps is missing) and never follows up with
 * SIGKILL; it ends with the same process.kill(-pid) done here.
 */
export async function runCommand(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new Error('runCommand: empty argv');
  const cwd = opts.cwd ?? process.cwd();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const program = argv[0].includes('/') ? path.resolve(cwd, argv[0]) : argv[0];
  if (!(await which(program, { path: env.PATH ?? '', nothrow: true }))) {
    throw infraError(`${argv[0]}: command not found${argv[0].includes('/') ? '' : ' on PATH'}`, `install ${path.basename(argv[0])} or fix PATH`);
  }
  if (opts.signal?.aborted) return { code: null, signal: null, stdout: '', stderr: '', timedOut: false, aborted: true };

  const limit = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const out = captured(limit, 'stdout', opts.onOutput);
  const err = captured(limit, 'stderr', opts.onOutput);
  // An empty string is falsy to zx (stdin would stay open): always hand it a Buffer.
  const input = opts.input === undefined ? undefined : Buffer.from(opts.input);
  // `exec`: the shell becomes the program, so the pid, exit code and signal are the program's.
  const p = $({
    cwd,
    env,
    input,
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
    quiet: true,
    verbose: false,
    nothrow: true,
    shell: '/bin/sh',
    prefix: '',
    postfix: '',
    quote,
    store: { stdout: out.chunks, stderr: err.chunks, stdall: [] as Buffer[] },
  })`exec ${argv}`;
  // A command that exits without reading its input must not crash the harness with EPIPE.
  p.stdin?.on('error', () => {});
  const pid = p.pid;

  let timedOut = false;
  let aborted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'abort') => {
    if (why === 'timeout') timedOut = true;
    else aborted = true;
    if (graceTimer) return;
    killProcessGroup(pid, 'SIGTERM');
    graceTimer = setTimeout(() => killProcessGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = opts.timeoutMs ? setTimeout(() => stop('timeout'), opts.timeoutMs) : undefined;
  const onAbort = () => stop('abort');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const o = await p;
    out.flush();
    err.flush();
    if (o.cause && o.exitCode === null && o.signal === null && !timedOut && !aborted) {
      throw infraError(`${argv[0]}: could not be started in ${cwd}: ${o.cause.message}`);
    }
    return { code: o.exitCode, signal: o.signal, stdout: out.text(), stderr: err.text(), timedOut, aborted };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (graceTimer) {
      // Stopped by us: the leader is gone and the pipes closed; nothing of its group may stay.
      clearTimeout(graceTimer);
      killProcessGroup(pid, 'SIGKILL');
    }
  }
}

/** Runs a user hook with `sh -c` under runCommand's rules (own process group, group killed on timeout/abort). */
export function runShellHook(command: string, opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(['sh', '-c', command], opts);
}

/** Where a started process's standard streams go: ignored, piped to this process, a file descriptor, or (stdin) a stream fed in. */
export type StreamSpec = 'ignore' | 'pipe' | number | NodeJS.ReadableStream;

/** Options of startProcess. */
export interface StartOptions {
  cwd?: string;
  /** Variables set over the harness's environment; undefined removes one. */
  env?: Record<string, string | undefined>;
  stdin?: StreamSpec;
  stdout?: 'ignore' | 'pipe' | number;
  stderr?: 'ignore' | 'pipe' | number;
  /** Stops the process group (SIGTERM, then SIGKILL after KILL_GRACE_MS) after this many ms. */
  timeoutMs?: number;
  /** Stops the process group when this aborts. */
  signal?: AbortSignal;
}

/** A process started by startProcess: its pid (the leader of a group of its own), its streams, how it ended. */
export interface StartedProcess {
  readonly pid: number | undefined;
  readonly child: ChildProcess;
  /** Resolves when it has exited and its streams are closed: exit code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>;
  running(): boolean;
  /** SIGTERM to the group, SIGKILL after KILL_GRACE_MS; resolves when it has exited. */
  stop(): Promise<void>;
  /** One signal to the whole group. */
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts a process that streams (a server, ssh carrying a tar stream, QEMU) in a process group of
 * its own, so a stop, a timeout or an abort reaches its children too (SIGTERM, then SIGKILL after
 * KILL_GRACE_MS). The one place besides runCommand where headgate starts a program.
 */
export function startProcess(argv: string[], o: StartOptions = {}): StartedProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const feed = typeof o.stdin === 'object' ? o.stdin : undefined;
  const stdin = feed ? 'pipe' : (o.stdin as 'ignore' | 'pipe' | number | undefined) ?? 'ignore';
  const child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env, stdio: [stdin, o.stdout ?? 'ignore', o.stderr ?? 'ignore'], detached: true });
  child.stdin?.on('error', () => {});
  if (feed && child.stdin) feed.pipe(child.stdin);
  let alive = true;
  let grace: NodeJS.Timeout | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.once('error', (e) => {
      alive = false;
      resolve({ code: null, signal: null, error: e.message });
    });
    child.once('close', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  const stop = async () => {
    if (!alive) return;
    killProcessGroup(child.pid, 'SIGTERM');
    grace ??= setTimeout(() => killProcessGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    await exited;
  };
  const timer = o.timeoutMs ? setTimeout(() => void stop(), o.timeoutMs) : undefined;
  const onAbort = () => void stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  void exited.then(() => {
    clearTimeout(timer);
    if (grace) clearTimeout(grace);
    o.signal?.removeEventListener('abort', onAbort);
  });
  return { pid: child.pid, child, exited, running: () => alive, stop, kill: (sig) => void (alive && killProcessGroup(child.pid, sig)) };
}

/**
 * Runs a short command synchronously (a one-line lookup such as `sysctl -n kern.hostuuid` where
 * the caller cannot wait); '' on any failure, with the stderr for callers that tell failures apart.
 */
export function runSync(argv: string[], timeoutMs = 10_000): { stdout: string; stderr: string; code: number | null } {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? r.error.message : ''), code: r.error ? null : r.status };
}
