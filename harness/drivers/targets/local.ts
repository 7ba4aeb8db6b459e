import { spawn } from 'node:child_process';
import { openSync, closeSync, existsSync } from 'node:fs';
import { cp, readFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { writeAtomic } from '../../lib/atomic.js';
import { killProcessGroup } from '../../lib/exec.js';
import { localJournal, processStart, type Journal } from '../../lib/journal.js';
import { infraError } from '../../model/errors.js';
import type { OsAdapter } from '../os/adapter.js';
import { adapterFor } from '../os/index.js';
import { freePort } from '../net/ports.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target } from './target.js';

/** The machine the harness runs on. Commands run without a shell, quoted by zx. */
export class LocalTarget implements Target {
  readonly kind = 'local';
  readonly name = 'local';
  readonly address = '127.0.0.1';
  readonly workDir = null;
  readonly runsAsRoot = process.getuid?.() === 0;
  /** This machine's journal, shared with every headgate process here. */
  get journal(): Journal {
    return localJournal();
  }
  private adapter?: OsAdapter;
  // One zx instance per target: quiet (no echo of child output), no throw (we map errors).
  private readonly sh = $({ quiet: true, nothrow: true });

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const p = this.sh({ timeout: opts.timeoutMs ?? 60_000, input: opts.input, ...(opts.signal ? { signal: opts.signal } : {}) })`${argv}`;
    const out = await p;
    const res = { stdout: out.stdout, stderr: out.stderr, code: out.exitCode ?? -1 };
    if (res.code !== 0 && !opts.allowFail) {
      throw infraError(`local: \`${argv.join(' ')}\` exited ${res.code}: ${res.stderr.trim().split('\n')[0] ?? ''}`);
    }
    return res;
  }

  async spawn(argv: string[], opts: { logFile: string }): Promise<ProcessHandle> {
    await mkdir(path.dirname(opts.logFile), { recursive: true });
    const fd = openSync(opts.logFile, 'a');
    // child_process, not zx: a server that outlives this call, its output in a file. In a group of
    // its own, so kill() reaches its workers and helpers too, and a Ctrl-C at the terminal does not
    // (the harness stops it while unwinding).
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    let alive = true;
    // Journaled at once (pid and start time), so a harness SIGKILLed from here on leaves a group
    // the next command can kill; marked done when the process ends.
    const start = child.pid ? processStart(child.pid) : null;
    const recorded = child.pid && start ? this.journal.record(`stop ${path.basename(argv[0])} (pid ${child.pid})`, { kind: 'kill-group', pid: child.pid, start }).catch(() => null) : Promise.resolve(null);
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, sig) => {
        alive = false;
        void recorded.then((id) => (id ? this.journal.done(id) : undefined)).catch(() => {});
        resolve(code ?? sig ?? -1);
      });
      child.on('error', (e) => {
        alive = false;
        resolve(`spawn failed: ${e.message}`);
      });
    });
    await recorded;
    return {
      pid: child.pid ?? -1,
      exited,
      running: () => alive,
      kill: (signal = 'SIGTERM') => {
        if (alive) killProcessGroup(child.pid, signal);
      },
    };
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
    const root = path.resolve(localDir);
    // Top-level shell-style patterns (only * is used), as tar --exclude=./PATTERN matches them.
    const skip = (opts.exclude ?? []).map((e) => new RegExp(`^${e.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
    await cp(localDir, targetDir, {
      recursive: true,
      filter: (src) => {
        const rel = path.relative(root, path.resolve(src));
        return rel === '' || rel.includes(path.sep) || !skip.some((re) => re.test(rel));
      },
    });
  }

  async download(targetDir: string, localDir: string): Promise<void> {
    await this.upload(targetDir, localDir);
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
