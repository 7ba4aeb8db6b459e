import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localMachine, pidNamespace, processStart } from '../../harness/lib/machine.js';

// M1: a stale lock seen by several runs at once is taken over by one of them at a time (the
// takeover mutex and the owner-file compare), never by two; a live owner in this pid namespace is
// never judged dead. Real processes race for real.

const ROOT = path.resolve(import.meta.dirname, '../..');
const parent = mkdtempSync(path.join(os.tmpdir(), 'hg-lockrace-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

type Outcome = { runId: string; from?: number; to?: number; refused?: string };

function contend(home: string, runId: string, holdMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/lock/take.ts'), runId, String(holdMs)], {
      cwd: ROOT,
      env: { ...process.env, HEADGATE_STATE_DIR: home },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Outcome);
      } catch {
        reject(new Error(`contender ${runId} printed ${JSON.stringify(out)}`));
      }
    });
  });
}

/** A dead process of this machine (reaped), for a stale owner. */
async function deadPid(): Promise<number> {
  const p = spawn('true');
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

describe('the machine lock under contention', () => {
  it('four runs racing for a stale lock: it is held by at most one at any time, and every run that held it released it', async () => {
    const home = path.join(parent, 'home');
    mkdirSync(home, { mode: 0o700 });
    mkdirSync(path.join(home, 'lock'), { mode: 0o700 });
    const me = localMachine();
    const stale = { host: os.hostname(), pid: await deadPid(), runId: 'dead-run', since: '2026-01-01T00:00:00Z', machine: me.id, boot: me.boot, pidns: pidNamespace(), start: '1', token: 'deadbeef' };
    writeFileSync(path.join(home, 'lock', 'owner.json'), JSON.stringify(stale) + '\n');
    const outcomes = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => contend(home, id, 1500)));
    const held = outcomes.filter((o) => o.from !== undefined).sort((a, b) => a.from! - b.from!);
    expect(held.length, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < held.length; i++) expect(held[i].from!, `${held[i].runId} took the lock while ${held[i - 1].runId} held it`).toBeGreaterThanOrEqual(held[i - 1].to!);
    for (const o of outcomes.filter((x) => x.refused)) expect(o.refused).toMatch(/locked by run r\d/);
    // Nothing is left: no lock, no takeover mutex.
    expect(existsSync(path.join(home, 'lock'))).toBe(false);
    expect(readdirSync(home).filter((n) => n.startsWith('lock'))).toEqual([]);
  }, 60_000);

  it("a live owner is never taken over, even when its lock names this machine's host and a stale-looking time", async () => {
    const home = path.join(parent, 'home2');
    mkdirSync(home, { mode: 0o700 });
    mkdirSync(path.join(home, 'lock'), { mode: 0o700 });
    const me = localMachine();
    const live = { host: os.hostname(), pid: process.pid, runId: 'live-run', since: '2020-01-01T00:00:00Z', machine: me.id, boot: me.boot, pidns: pidNamespace(), start: processStart(process.pid)!, token: 'cafe' };
    writeFileSync(path.join(home, 'lock', 'owner.json'), JSON.stringify(live) + '\n');
    const o = await contend(home, 'intruder', 10);
    expect(o.refused).toMatch(/locked by run live-run/);
    expect(JSON.parse(readFileSync(path.join(home, 'lock', 'owner.json'), 'utf8')).token).toBe('cafe');
  }, 30_000);
});
