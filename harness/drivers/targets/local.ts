import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { runCommand, startProcess } from '../../lib/exec.js';
import { ensureHome, homeDir } from '../../lib/home.js';
import { localJournal, type Journal } from '../../lib/journal.js';
import { localMachine, processStart, type MachineIdentity } from '../../lib/machine.js';
import { copyTreeSafely } from '../../lib/tree.js';
import { infraError, isHeadgateError } from '../../model/errors.js';
import type { OsAdapter } from '../os/adapter.js';
import { adapterFor } from '../os/index.js';
import { freePort } from '../net/ports.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target } from './target.js';

/** The machine the harness runs on. Commands run without a shell (lib/exec.ts runCommand). */
export class LocalTarget implements Target {
  readonly kind = 'local';
  readonly name = 'local';
  readonly address = '127.0.0.1';
  readonly workDir = null;
  readonly onController = true;
  readonly runsAsRoot = process.getuid?.() === 0;
  /** This machine's home (HEADGATE_STATE_DIR or /var/lib/headgate), checked when the target is made. */
  readonly home: string;
  constructor() {
    this.home = ensureHome();
  }
  /** Per-run private files (server prefixes, TLS keys): the home's work/runs, not the reports tree. */
  get runRoot(): string {
    return path.join(homeDir(), 'work', 'runs');
  }
  get machine(): MachineIdentity {
    return localMachine();
  }
  /** This machine's journal, shared with every headgate process here. */
  get journal(): Journal {
    return localJournal();
  }
  private adapter?: OsAdapter;

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    let res: ExecResult;
    try {
      const r = await runCommand(argv, { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000, signal: opts.signal });
      res = { stdout: r.stdout, stderr: r.stderr, code: r.timedOut ? 124 : (r.code ?? 128) };
    } catch (e) {
      // A missing program is a failed command (127, as a shell says), which allowFail callers inspect.
      if (!opts.allowFail || !isHeadgateError(e)) throw e;
      res = { stdout: '', stderr: e.message, code: 127 };
    }
    if (res.code !== 0 && !opts.allowFail) {
      throw infraError(`local: \`${argv.join(' ')}\` exited ${res.code}: ${res.stderr.trim().split('\n')[0] ?? ''}`);
    }
    return res;
  }

  async spawn(argv: string[], opts: { logFile: string }): Promise<ProcessHandle> {
    await mkdir(path.dirname(opts.logFile), { recursive: true });
    const fd = openSync(opts.logFile, 'a', 0o600);
    // A server that outlives this call, its output in a file, in a group of its own (lib/exec.ts):
    // kill() reaches its workers and helpers, and a Ctrl-C at the terminal does not (the harness
    // stops it while unwinding).
    const p = startProcess(argv, { stdout: fd, stderr: fd });
    closeSync(fd);
    // Journaled at once (pid and start time), so a harness SIGKILLed from here on leaves a group
    // the next command can kill; marked done when the process ends.
    const start = p.pid ? processStart(p.pid) : null;
    const program = path.basename(argv[0]);
    const recorded = p.pid && start ? this.journal.record(`stop ${program} (pid ${p.pid})`, { kind: 'kill-group', pid: p.pid, start, program }).catch(() => null) : Promise.resolve(null);
    const exited = p.exited.then((x) => {
      void recorded.then((id) => (id ? this.journal.done(id) : undefined)).catch(() => {});
      return x.error ? `spawn failed: ${x.error}` : (x.code ?? x.signal ?? -1);
    });
    await recorded;
    return { pid: p.pid ?? -1, exited, running: p.running, kill: (signal = 'SIGTERM') => p.kill(signal) };
  }

  readFile(file: string): Promise<string> {
    return readFile(file, 'utf8');
  }

  async readFileIfExists(file: string): Promise<string | null> {
    return existsSync(file) ? readFile(file, 'utf8') : null;
  }

  /** Atomic (temp file, fsync, rename): a reader or a crash never sees half a file; a full disk is exit 3 naming it. */
  async writeFile(file: string, data: string | Buffer): Promise<void> {
    await writeAtomic(file, data);
  }

  async upload(localDir: string, targetDir: string, opts: { exclude?: string[] } = {}): Promise<void> {
    if (path.resolve(localDir) === path.resolve(targetDir)) return;
    await copyTreeSafely(localDir, targetDir, { exclude: opts.exclude });
  }

  /** Copies regular files and directories only (no links, devices, owners or setuid bits): see lib/tree.ts. */
  async download(targetDir: string, localDir: string): Promise<void> {
    if (path.resolve(localDir) === path.resolve(targetDir)) return;
    await copyTreeSafely(targetDir, localDir);
  }

  pickPort(address: string): Promise<number> {
    return freePort(address);
  }

  async which(program: string): Promise<string | null> {
    const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
    for (const d of dirs) {
      const p = path.join(d, program);
      if (existsSync(p)) return p;
    }
    return null;
  }

  async os(): Promise<OsAdapter> {
    if (!this.adapter) this.adapter = adapterFor(os.platform(), this);
    return this.adapter;
  }

  async close(): Promise<void> {}
}
