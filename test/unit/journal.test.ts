import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { replayJournal } from '../../harness/drivers/journal.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { FileJournal, leftovers, parseJournal, processStart, SELF } from '../../harness/lib/journal.js';
import { ROOT } from '../helpers/cli.js';

const dirs: string[] = [];
const tmp = (p: string) => {
  const d = mkdtempSync(path.join(os.tmpdir(), p));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the restore journal', () => {
  it('records before, marks done after, and lists only dead owners\' entries, newest first', async () => {
    const j = new FileJournal(path.join(tmp('hg-jn-'), 'journal.jsonl'));
    const a = await j.record('a', { kind: 'rm', path: '/tmp/hg-x' });
    await j.record('b', { kind: 'rm', path: '/tmp/hg-y' });
    await j.done(a);
    const s = await j.read();
    expect(s.entries.map((e) => e.label)).toEqual(['a', 'b']);
    // This process is alive: nothing of its own is a leftover.
    expect(leftovers(s)).toEqual([]);
    // A dead owner's undone entries are, newest first.
    const dead = { ...s, entries: s.entries.map((e) => ({ ...e, owner: { ...SELF, pid: 999_999_999 } })) };
    expect(leftovers(dead).map((e) => e.label)).toEqual(['b']);
  });

  it('a torn last line (a writer killed mid-line) is ignored and reported, not fatal', () => {
    const line = JSON.stringify({ id: '1', at: 'x', owner: SELF, label: 'a', undo: { kind: 'rm', path: '/tmp/hg-a' } });
    const s = parseJournal(`${line}\n{"id":"2","at":"x","own`);
    expect(s.entries).toHaveLength(1);
    expect(s.torn).toBe(true);
  });

  it('a reused pid is not the owner: owners are matched by pid and start time', () => {
    expect(processStart(process.pid)).toBe(SELF.start);
    expect(leftovers({ entries: [{ id: '1', at: '', label: 'x', owner: { ...SELF, start: '1' }, undo: { kind: 'rm', path: '/tmp/hg-q' } }], done: new Set(), torn: false })).toHaveLength(1);
  });

  it('refuses undo actions outside headgate\'s own ground (an edited journal cannot rm /etc)', async () => {
    const j = new FileJournal(path.join(tmp('hg-jn-'), 'journal.jsonl'));
    writeFileSync(
      j.where,
      [
        { id: '1', at: 'x', owner: { ...SELF, pid: 999_999_999 }, label: 'evil rm', undo: { kind: 'rm', path: '/etc' } },
        { id: '2', at: 'x', owner: { ...SELF, pid: 999_999_999 }, label: 'evil sysfs', undo: { kind: 'write', path: '/sys/../etc/passwd', value: 'x' } },
        { id: '3', at: 'x', owner: { ...SELF, pid: 999_999_999 }, label: 'evil ns', undo: { kind: 'netns-del', name: 'production' } },
        { id: '4', at: 'x', owner: { ...SELF, pid: 999_999_999 }, label: 'evil socket', undo: { kind: 'ssh-master', controlPath: '/etc/passwd' } },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n') + '\n',
    );
    const r = await replayJournal(j, new LocalTarget(), () => {});
    expect(r.restored).toEqual([]);
    expect(r.failed).toHaveLength(4);
    expect(existsSync('/etc/passwd')).toBe(true);
  });

  it('a SIGKILLed run is repaired: sysctl, namespace, process group and directory as they were', async () => {
    const state = tmp('hg-jstate-');
    const env = { ...process.env, HEADGATE_STATE_DIR: state };
    const ns = `hg-jt-${process.pid}`;
    const dir = path.join(os.tmpdir(), `hg-jt-${process.pid}`);
    const knob = 'net.ipv4.tcp_slow_start_after_idle';
    const before = readFileSync(`/proc/sys/${knob.replace(/\./g, '/')}`, 'utf8').trim();
    const victim = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/journal/victim.ts'), ns, dir, knob, before === '1' ? '0' : '1'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        victim.stdout!.on('data', (d) => {
          out += d;
          const m = /ready (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        victim.on('exit', (c) => reject(new Error(`victim exited ${c} before it was ready`)));
      });
      expect((await $`ip netns list`).stdout).toContain(ns);
      expect(readFileSync(`/proc/sys/${knob.replace(/\./g, '/')}`, 'utf8').trim()).not.toBe(before);
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      // Everything is still there: nothing unwound it.
      expect(processStart(pid)).not.toBeNull();
      const r = await replayJournal(new FileJournal(path.join(state, 'journal.jsonl')), new LocalTarget(), () => {});
      expect(r.failed).toEqual([]);
      expect(r.restored).toHaveLength(4);
      expect((await $`ip netns list`).stdout).not.toContain(ns);
      expect(existsSync(dir)).toBe(false);
      expect(readFileSync(`/proc/sys/${knob.replace(/\./g, '/')}`, 'utf8').trim()).toBe(before);
      await expect.poll(() => processStart(pid) === null || /^Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? ''), { timeout: 5000 }).toBe(true);
      // A second replay finds nothing left.
      expect((await replayJournal(new FileJournal(path.join(state, 'journal.jsonl')), new LocalTarget(), () => {})).restored).toEqual([]);
    } finally {
      victim.kill('SIGKILL');
      await $({ nothrow: true })`ip netns del ${ns}`;
      rmSync(dir, { recursive: true, force: true });
      await $({ nothrow: true })`sysctl -q -w ${knob}=${before}`;
    }
  }, 30_000);
});
