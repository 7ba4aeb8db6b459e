import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, runShellHook } from '../../harness/lib/exec.js';
import { isHeadgateError } from '../../harness/model/errors.js';

/**
 * Whether a process is gone. A killed process whose parent died stays a zombie until PID 1 reaps
 * it, and some container inits never do: a zombie is dead (it holds no resources but its pid).
 */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function waitGone(pid: number, ms = 1500): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (gone(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return gone(pid);
}

let dir: string;
const started: number[] = [];

/** The pid a hook wrote to FILE (its background grandchild). */
const pidFrom = (file: string): number => {
  const pid = Number(readFileSync(file, 'utf8').trim());
  started.push(pid);
  return pid;
};

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hg-exec-'));
});

afterEach(async () => {
  // Nothing may outlive a test, even when an assertion failed half-way.
  for (const pid of started.splice(0)) if (!gone(pid)) process.kill(pid, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('runCommand', () => {
  it('captures exit code, stdout and stderr, and does not throw for a non-zero exit', async () => {
    const r = await runCommand(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false, aborted: false });
  });

  it('passes every word unchanged (no shell splitting), with cwd, env and input', async () => {
    const words = ["it's", 'two words', '$HOME', '`id`', 'a"b', '*', ''];
    const printed = await runCommand(['printf', '%s\\0', ...words], { cwd: dir });
    expect(printed.stdout.split('\0').slice(0, -1)).toEqual(words);
    const r = await runCommand(['sh', '-c', 'pwd; echo "$HG_X-${HOME:-unset}"; cat'], { cwd: dir, env: { HG_X: 'x', HOME: undefined }, input: 'from stdin' });
    expect(r.stdout).toBe(`${await import('node:fs/promises').then((f) => f.realpath(dir))}\nx-unset\nfrom stdin`);
    // Without input, stdin is /dev/null: a reader sees EOF instead of hanging.
    expect((await runCommand(['cat'], { timeoutMs: 3000 })).stdout).toBe('');
  });

  it('keeps at most maxOutput bytes and streams output live', async () => {
    const seen: string[] = [];
    const r = await runCommand(['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; echo oops >&2'], { maxOutput: 1000, onOutput: (t, s) => s === 'stderr' && seen.push(t) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('a'.repeat(1000));
    expect(seen.join('')).toBe('oops\n');
  });

  it('names a missing program in an infrastructure error (exit 3)', async () => {
    const e = await runCommand(['hg-no-such-tool-7f3a', '--version']).catch((x: unknown) => x);
    expect(isHeadgateError(e) && e.kind === 'infra' && e.exitCode).toBe(3);
    expect((e as Error).message).toContain('hg-no-such-tool-7f3a');
    await expect(runCommand([path.join(dir, 'nope')])).rejects.toThrow(/nope: command not found/);
  });
});

describe('runShellHook: a timeout or an abort kills the whole process group', () => {
  it('a timeout kills the grandchild that would otherwise keep the hook running', async () => {
    const file = path.join(dir, 'pid');
    const t0 = Date.now();
    const r = await runShellHook(`sleep 30 & echo $! > ${file}; wait`, { timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(r).toMatchObject({ code: null, signal: 'SIGTERM', timedOut: true, aborted: false });
    expect(await waitGone(pidFrom(file))).toBe(true);
  });

  it('a group that ignores SIGTERM gets SIGKILL after the grace', async () => {
    const file = path.join(dir, 'pid');
    const r = await runShellHook(`trap '' TERM; sleep 30 & echo $! > ${file}; wait; wait`, { timeoutMs: 300 });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true });
    expect(await waitGone(pidFrom(file))).toBe(true);
  });

  it('an AbortSignal (SIGINT/SIGTERM of the harness) aborts it likewise', async () => {
    const file = path.join(dir, 'pid');
    const ac = new AbortController();
    const run = runShellHook(`sleep 30 & echo $! > ${file}; wait`, { signal: ac.signal, timeoutMs: 10_000 });
    const end = Date.now() + 2000;
    while (!existsSync(file) || !readFileSync(file, 'utf8').trim()) {
      if (Date.now() > end) throw new Error('the hook never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const grandchild = pidFrom(file);
    ac.abort(new Error('interrupted by SIGINT'));
    const r = await run;
    expect(r).toMatchObject({ code: null, signal: 'SIGTERM', timedOut: false, aborted: true });
    expect(await waitGone(grandchild)).toBe(true);
  });

  it('does not start a command whose signal already fired', async () => {
    const file = path.join(dir, 'ran');
    const ac = new AbortController();
    ac.abort();
    const r = await runShellHook(`touch ${file}`, { signal: ac.signal });
    expect(r.aborted).toBe(true);
    expect(existsSync(file)).toBe(false);
  });
});
