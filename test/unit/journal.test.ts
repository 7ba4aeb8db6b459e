import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { localScope, replayJournal, undoEntry, type UndoScope } from '../../harness/drivers/journal.js';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { undoPolicy } from '../../harness/engine/policy.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { COMPACT_BYTES, FileJournal, leftovers, ownerAlive, parseJournal, SELF, type JournalEntry, type UndoAction } from '../../harness/lib/journal.js';
import { localMachine, processStart } from '../../harness/lib/machine.js';
import { ROOT } from '../helpers/cli.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { tempDir } from '../helpers/temp.js';

/** A private directory (root-owned, 0700) standing in for headgate's home. */
const home = () => {
  const d = tempDir('hg-jn-');
  chmodSync(d, 0o700);
  return d;
};
const DEAD = { ...SELF, pid: 999_999_999 };
/** A dead run's entry made on the scripted target's machine (FakeTarget: fake-machine, fake-boot). */
const entry = (undo: UndoAction, extra: Partial<JournalEntry> = {}): JournalEntry => ({ id: Math.random().toString(36).slice(2), at: '2026-01-01T00:00:00Z', owner: DEAD, label: `${undo.kind}`, undo, machine: 'fake-machine', boot: 'fake-boot', ...extra });
/** The same, made on this machine in this boot. */
const here = (undo: UndoAction): JournalEntry => entry(undo, { machine: localMachine().id, boot: localMachine().boot });

/** Commands that change a machine; a refused journal entry must issue none of them. */
const MUTATING = /^(rm|kill|mount(?! -p$)|sysctl \S+=|sh -c printf|kldunload|umount|ip netns del|ip link del|losetup -d|mdconfig -d|jail -r|ifconfig \S+ destroy|kenv \S+=|ssh )/;
const mutations = (t: FakeTarget) => t.transcript.filter((c) => MUTATING.test(c) || /printf %s/.test(c));

/** A recording Linux target: /proc/sys reads answer from `values`, everything else succeeds and is recorded. */
function recording(values: Record<string, string> = {}): FakeTarget {
  const t = new FakeTarget((argv) => {
    if (argv[0] === 'readlink') return { stdout: `${argv[3]}\n` };
    if (argv[0] === 'sh' && argv[2]?.includes('pwd -P')) return { stdout: 'ok\n' };
    // A knob write takes effect (the adapter reads every write back).
    const w = argv[0] === 'sysctl' && argv[1] === '-q' && argv[2] === '-w' ? /^([^=]+)=(.*)$/.exec(argv[3]) : null;
    if (w) values[`/proc/sys/${w[1].includes('/') ? w[1] : w[1].replace(/\./g, '/')}`] = w[2];
    return { code: 0 };
  });
  Object.assign(t, { readFileIfExists: async (f: string) => (f in values ? `${values[f]}\n` : null) });
  return t;
}
const scopeOf = async (t: FakeTarget, o: Partial<UndoScope> = {}): Promise<UndoScope> => ({ target: t, family: 'linux', home: t.home, roots: [t.workDir], machine: t.machine, policy: await undoPolicy(), ...o });

describe('the restore journal file', () => {
  it("records before, marks done after, and lists only dead owners' entries, newest first", async () => {
    const j = new FileJournal(path.join(home(), 'journal.jsonl'));
    const a = await j.record('a', { kind: 'rm', path: '/x/a' });
    await j.record('b', { kind: 'rm', path: '/x/b' });
    await j.done(a);
    const s = await j.read();
    expect(s.entries.map((e) => e.label)).toEqual(['a', 'b']);
    // Every entry carries the machine and boot it describes.
    expect(s.entries[0]).toMatchObject({ machine: localMachine().id, boot: localMachine().boot });
    // This process is alive: nothing of its own is a leftover.
    expect(leftovers(s)).toEqual([]);
    const dead = { ...s, entries: s.entries.map((e) => ({ ...e, owner: DEAD })) };
    expect(leftovers(dead).map((e) => e.label)).toEqual(['b']);
  });

  it('a torn last line is closed before the next append, so the next entry is not lost (M10)', async () => {
    const dir = home();
    const file = path.join(dir, 'journal.jsonl');
    writeFileSync(file, '{"id":"t","at":"x","own', { mode: 0o600 });
    const j = new FileJournal(file);
    await j.record('after the torn line', { kind: 'rm', path: '/x/y' });
    const s = await j.read();
    expect(s.entries.map((e) => e.label)).toEqual(['after the torn line']);
    expect(s.damaged).toEqual([1]);
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('{"id":"t","at":"x","own');
  });

  it('lines that are not journal lines (5, null, an entry without owner) are skipped and reported, never a crash (L1)', () => {
    const good = JSON.stringify(entry({ kind: 'rm', path: '/x/z' }));
    const s = parseJournal(['5', 'null', '{"id":"1","at":"x","label":"no owner","undo":{"kind":"rm","path":"/x"}}', '[]', good, ''].join('\n'));
    expect(s.entries).toHaveLength(1);
    expect(s.damaged).toEqual([1, 2, 3, 4]);
    expect(s.torn).toBe(false);
  });

  it('a write the disk refuses (file-size limit) fails the record, exit 3 naming the journal, and leaves only whole lines', async () => {
    const dir = home();
    const file = path.join(dir, 'journal.jsonl');
    // A child process whose file-size limit (ulimit -f, 512-byte blocks) lets the journal hold about two entries.
    const script = path.join(dir, 'fill.mts');
    writeFileSync(
      script,
      [
        `import { FileJournal, journaled } from '${ROOT}/harness/lib/journal.ts';`,
        `import { CleanupStack } from '${ROOT}/harness/lib/cleanup.ts';`,
        `import { keepFileSizeLimitAnError } from '${ROOT}/harness/lib/atomic.ts';`,
        'keepFileSizeLimitAnError();',
        `const j = new FileJournal(${JSON.stringify(file)});`,
        'let changes = 0;',
        'for (let i = 0; i < 50; i++) {',
        "  try { await journaled(j, new CleanupStack(), 'entry ' + i + ' ' + 'x'.repeat(120), { kind: 'rm', path: '/x/' + i }, async () => { changes++; }, async () => {}); }",
        '  catch (e) { console.log(JSON.stringify({ changes, error: e.message, exit: e.exitCode })); process.exit(0); }',
        '}',
        'console.log(JSON.stringify({ changes, error: null }));',
      ].join('\n'),
    );
    const out = await $({ nothrow: true, cwd: ROOT })`bash -c ${`ulimit -f 2; exec ${process.execPath} --import tsx ${script}`}`;
    const r = JSON.parse(out.stdout.trim()) as { changes: number; error: string | null; exit?: number };
    expect(r.error).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not written`));
    expect(r.exit).toBe(3);
    const text = readFileSync(file, 'utf8');
    const s = parseJournal(text);
    // Every change that was made has a whole entry; the refused one was not made.
    expect(s.entries.length).toBe(r.changes);
    expect(s.damaged ?? []).toEqual([]);
  }, 30_000);

  it('compacts once it is large: only pending entries stay, and an entry appended meanwhile is not lost', async () => {
    const j = new FileJournal(path.join(home(), 'journal.jsonl'));
    const keep = await j.record('still pending', { kind: 'rm', path: '/x/keep' });
    for (let i = 0; statSync(j.where).size < COMPACT_BYTES; i++) await j.done(await j.record(`done ${i} ${'y'.repeat(400)}`, { kind: 'rm', path: `/x/${i}` }));
    const [compacted, late] = await Promise.all([j.compact(), j.record('appended during compaction', { kind: 'rm', path: '/x/late' })]);
    expect(compacted).toBe(true);
    const s = await j.read();
    expect(s.entries.filter((e) => !s.done.has(e.id)).map((e) => e.id).sort()).toEqual([keep, late].sort());
    expect(statSync(j.where).size).toBeLessThan(4096);
  }, 60_000);

  it('owners: a reused pid is not the owner; an unreadable start time or another pid namespace counts as alive (M1, M6)', () => {
    const me = { host: SELF.host, machine: localMachine(), pidns: 'pid:[1]' };
    expect(processStart(process.pid)).toBe(SELF.start);
    expect(ownerAlive({ ...SELF, pidns: 'pid:[1]' }, me)).toBe(true);
    expect(ownerAlive({ ...SELF, start: '1', pidns: 'pid:[1]' }, me)).toBe(false);
    expect(ownerAlive({ ...SELF, pidns: 'pid:[1]' }, me, () => ({ gone: true }))).toBe(false);
    expect(ownerAlive({ ...SELF, pidns: 'pid:[1]' }, me, () => ({ unknown: 'procstat failed' }))).toBe(true);
    expect(ownerAlive({ ...SELF, pidns: 'pid:[2]' }, me, () => ({ gone: true }))).toBe(true);
    expect(ownerAlive({ ...SELF, machine: 'another-machine' }, me, () => ({ gone: true }))).toBe(true);
    // An unreadable owner of a boot that has ended is dead.
    expect(ownerAlive({ ...SELF, boot: 'an-old-boot', pidns: 'pid:[1]' }, me, () => ({ unknown: 'x' }))).toBe(false);
  });
});

describe('replay accepts only what headgate could have made (checked against a recording target: nothing is run)', () => {
  const hostile: [string, UndoAction, RegExp][] = [
    ['a sysctl no suite declares (code execution as root)', { kind: 'sysctl', name: 'kernel.core_pattern', value: '|/tmp/x' }, /neither a suite's knob/],
    ['kernel.modprobe', { kind: 'sysctl', name: 'kernel.modprobe', value: '/tmp/x' }, /neither a suite's knob/],
    ['a usermode helper', { kind: 'sysctl', name: 'kernel.usermodehelper.bset', value: '0' }, /neither a suite's knob/],
    ['a sysctl that climbs out of /proc/sys', { kind: 'sysctl', name: 'net/../../etc/x', value: '1' }, /not a sysctl name/],
    ['/sys/power/state', { kind: 'write', path: '/sys/power/state', value: 'mem' }, /neither a suite's knob/],
    ['a PCI device remove file', { kind: 'write', path: '/sys/bus/pci/devices/0000:00:01.0/remove', value: '1' }, /neither a suite's knob/],
    ['rm outside the home', { kind: 'rm', path: '/etc' }, /not inside headgate's home/],
    ['rm with ..', { kind: 'rm', path: '/var/lib/headgate/../../etc' }, /not inside headgate's home/],
    ['loop backing file outside the home', { kind: 'losetup-detach', backing: '/var/lib/mysql/ibdata1' }, /not inside headgate's home/],
    ['md umount outside the home', { kind: 'md-umount', backing: '/data/disk.img', mountPoint: '/data' }, /not inside headgate's home/],
    ['a namespace of someone else', { kind: 'netns-del', name: 'production' }, /not headgate's/],
    ['an ssh socket outside the home', { kind: 'ssh-master', controlPath: '/etc/passwd' }, /not a control socket/],
    ['a module headgate never loads', { kind: 'kldunload', name: 'zfs' }, /not one headgate loads/],
    ['a jail of someone else', { kind: 'jail-remove', name: 'www' }, /not headgate's/],
    ['a tracefs instance of someone else', { kind: 'tracefs-instance', path: '/sys/kernel/tracing/instances/perf' }, /not a tracefs instance/],
    ['pid 1', { kind: 'kill-group', pid: 1, start: '1' }, /refused/],
    ['a remount of a system filesystem', { kind: 'remount', node: '/usr', special: '/dev/ada0p2', fstype: 'ufs' }, /only an objects filesystem/],
    ['a remount with ..', { kind: 'remount', node: '/var/../etc/objects', special: '/dev/ada1p1', fstype: 'ufs' }, /only an objects filesystem/],
    ['a remount of something that is not a device', { kind: 'remount', node: '/srv/objects', special: '/etc/passwd', fstype: 'ufs' }, /not a UFS device under \/dev/],
    ['a remount with shell in the dataset', { kind: 'remount', node: '/srv/objects', special: 'zroot/x;reboot', fstype: 'zfs' }, /not a UFS device under \/dev or a ZFS dataset/],
  ];
  for (const [name, undo, why] of hostile) {
    it(`refuses ${name}, and runs nothing that changes the machine`, async () => {
      const t = recording();
      await expect(undoEntry(await scopeOf(t), entry(undo))).rejects.toThrow(why);
      expect(mutations(t)).toEqual([]);
    });
  }

  it('mounts an interrupted cold-cache remount again (FreeBSD), and only if it is not mounted', async () => {
    const undo: UndoAction = { kind: 'remount', node: '/srv/objects', special: '/dev/ada1p1', fstype: 'ufs' };
    // putfsent (sbin/mount/mount.c): special, node, fstype, options, dump, pass.
    const mountP = (mounted: boolean) => `/dev/ada0p2\t/\tufs\trw\t1 1\n${mounted ? '/dev/ada1p1\t/srv/objects\tufs\trw\t2 2\n' : ''}`;
    for (const mounted of [false, true]) {
      const t = new FakeTarget((argv) => (argv.join(' ') === 'mount -p' ? { stdout: mountP(mounted) } : { code: 0 }));
      await undoEntry(await scopeOf(t, { family: 'freebsd' }), entry(undo));
      expect(t.transcript.filter((c) => c !== 'mount -p'), String(mounted)).toEqual(mounted ? [] : ['mount /srv/objects']);
    }
    const z = new FakeTarget((argv) => (argv.join(' ') === 'mount -p' ? { stdout: mountP(false) } : { code: 0 }));
    await undoEntry(await scopeOf(z, { family: 'freebsd' }), entry({ kind: 'remount', node: '/srv/.objects', special: 'tank/objects', fstype: 'zfs' }));
    expect(z.transcript.filter((c) => c !== 'mount -p')).toEqual(['mount -t zfs tank/objects /srv/.objects']);
  });

  it('refuses an rm through a symlink in a middle component (checked on the target with pwd -P)', async () => {
    const t = new FakeTarget((argv) => (argv[0] === 'sh' && argv[2]?.includes('pwd -P') ? { stdout: '' } : { code: 0 }));
    await expect(undoEntry(await scopeOf(t), entry({ kind: 'rm', path: '/var/lib/headgate/work/link/etc' }))).rejects.toThrow(/not inside headgate's home/);
    expect(mutations(t)).toEqual([]);
  });

  it('on this machine: an rm through a planted symlink is refused and its canary survives', async () => {
    const h = home();
    const outside = tempDir('hg-jn-canary-');
    writeFileSync(path.join(outside, 'canary'), 'x');
    symlinkSync(outside, path.join(h, 'link'));
    const scope = { ...localScope(new LocalTarget(), await undoPolicy()), home: h };
    await expect(undoEntry(scope, here({ kind: 'rm', path: path.join(h, 'link', 'canary') }))).rejects.toThrow(/not inside headgate's home/);
    expect(existsSync(path.join(outside, 'canary'))).toBe(true);
  });

  it('kills a process group only if its leader is a program headgate starts, with the recorded start time', async () => {
    const sleeper = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      const start = processStart(sleeper.pid!)!;
      const scope = localScope(new LocalTarget(), await undoPolicy());
      // Its real start time, but `sleep` is no program headgate starts: left alive.
      await expect(undoEntry(scope, here({ kind: 'kill-group', pid: sleeper.pid!, start }))).rejects.toThrow(/not a program headgate starts/);
      // Another start time (a reused pid): left alone without a word.
      await undoEntry(scope, here({ kind: 'kill-group', pid: sleeper.pid!, start: String(Number(start) + 1) }));
      expect(sleeper.exitCode === null && sleeper.signalCode === null).toBe(true);
      expect(processStart(sleeper.pid!)).toBe(start);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('writes a knob back only while it holds what headgate set; an admin value set since is reported, not overwritten', async () => {
    const t = recording({ '/proc/sys/net/ipv4/tcp_slow_start_after_idle': '1' });
    const scope = await scopeOf(t, { declared: new Set(['net.ipv4.tcp_slow_start_after_idle']) });
    await expect(undoEntry(scope, entry({ kind: 'sysctl', name: 'net.ipv4.tcp_slow_start_after_idle', value: '0', set: '2' }))).rejects.toThrow(/changed since, left as it is/);
    expect(mutations(t)).toEqual([]);
    await undoEntry(scope, entry({ kind: 'sysctl', name: 'net.ipv4.tcp_slow_start_after_idle', value: '0', set: '1' }));
    expect(mutations(t)).toEqual(['sh -c printf %s "$1" > "$2" sh 0 /proc/sys/net/ipv4/tcp_slow_start_after_idle']);
  });

  it('state of an earlier boot or of another machine is reported, not replayed; a file removal is replayed across boots (M3)', async () => {
    const t = recording({ '/proc/sys/vm/dirty_ratio': '7' });
    const scope = await scopeOf(t, { declared: new Set(['vm.dirty_ratio']) });
    await expect(undoEntry(scope, entry({ kind: 'sysctl', name: 'vm.dirty_ratio', value: '20', set: '7' }, { boot: 'an-earlier-boot' }))).rejects.toThrow(/earlier boot/);
    await expect(undoEntry(scope, entry({ kind: 'kldunload', name: 'ipfw' }, { boot: 'an-earlier-boot' }))).rejects.toThrow(/earlier boot/);
    await expect(undoEntry(scope, entry({ kind: 'rm', path: '/var/lib/headgate/work/x' }, { machine: 'another-machine' }))).rejects.toThrow(/recorded on machine another-machine/);
    expect(mutations(t)).toEqual([]);
    await undoEntry(scope, entry({ kind: 'rm', path: '/var/lib/headgate/work/x' }, { boot: 'an-earlier-boot' }));
    expect(mutations(t)).toEqual(['rm -rf --one-file-system /var/lib/headgate/work/x']);
  });

  it('a box a killed kernel A/B left on its test boot is rebooted into its own boot, in any later boot; one already back is not; without a way to reboot it is refused (H6)', async () => {
    const own = { kernelRelease: '6.12.1-amd64', kernelVersion: '#1 SMP Debian', cmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/vda1' };
    const test = { kernelRelease: '6.18.0-head', kernelVersion: '#7 SMP', cmdline: 'BOOT_IMAGE=/vmlinuz-head root=/dev/vda1' };
    const box = (running: typeof own, canReboot: boolean, comesUpOn = own) => {
      const t = recording();
      const reboots: string[] = [];
      Object.assign(t, {
        os: async () => ({ family: 'linux', fingerprint: async () => ({ kernelRelease: running.kernelRelease, kernelVersion: running.kernelVersion }) }),
        readFile: async (f: string) => (f === '/proc/cmdline' ? `${running.cmdline}\n` : ''),
        ...(canReboot
          ? {
              reboot: async (boot: { label: string }, side: 'A' | 'B') => {
                reboots.push(boot.label);
                Object.assign(running, comesUpOn);
                return { side, config: boot.label, bootSec: 1, at: '', method: 'hook', ...running };
              },
            }
          : {}),
      });
      return { t, reboots };
    };
    const undo: UndoAction = { kind: 'boot-default', ...own };
    // Left on the test boot, found in a later boot (the session rebooted the box): rebooted back.
    const left = box({ ...test }, true);
    await undoEntry(await scopeOf(left.t), entry(undo, { boot: 'the-session-s-boot' }));
    expect(left.reboots).toEqual(['default']);
    // Already on its own boot (the session's restore ran, the run died before marking it): nothing.
    const back = box({ ...own }, true);
    await undoEntry(await scopeOf(back.t), entry(undo));
    expect(back.reboots).toEqual([]);
    // A box whose default now boots something else: exit 3, the entry stays pending.
    const wrong = box({ ...test }, true, { ...test, cmdline: 'BOOT_IMAGE=/vmlinuz-fallback' });
    await expect(undoEntry(await scopeOf(wrong.t), entry(undo))).rejects.toThrow(/rebooted into its default boot but it runs 6.18.0-head/);
    // No boot hook to reboot with: refused with what to do, and nothing run.
    const stuck = box({ ...test }, false);
    await expect(undoEntry(await scopeOf(stuck.t), entry(undo))).rejects.toThrow(/not its own boot 6.12.1-amd64 .*reboot it into its default boot by hand/);
    expect(mutations(stuck.t)).toEqual([]);
  });

  it('a slash-form sysctl recorded by the adapter is written back to the same /proc/sys file (M2)', async () => {
    const values: Record<string, string> = { '/proc/sys/net/ipv4/conf/eth0.100/rp_filter': '1' };
    const t = recording(values);
    const recorded: UndoAction[] = [];
    Object.assign(t, { journal: { where: 'fake', record: async (_l: string, u: UndoAction) => (recorded.push(u), 'x'), done: async () => {}, read: async () => ({ entries: [], done: new Set(), torn: false }) } });
    await new LinuxAdapter(t).setKnob('net/ipv4/conf/eth0.100/rp_filter', '2', new CleanupStack());
    expect(recorded).toEqual([{ kind: 'sysctl', name: 'net/ipv4/conf/eth0.100/rp_filter', value: '1', set: '2' }]);
    values['/proc/sys/net/ipv4/conf/eth0.100/rp_filter'] = '2';
    t.transcript.length = 0;
    await undoEntry(await scopeOf(t, { declared: new Set(['net/ipv4/conf/eth0.100/rp_filter']) }), entry(recorded[0]));
    expect(mutations(t)).toEqual(['sh -c printf %s "$1" > "$2" sh 1 /proc/sys/net/ipv4/conf/eth0.100/rp_filter']);
  });

  it('a replay marks refused entries done with the reason and counts them as failed; a failed undo stays pending', async () => {
    const h = home();
    const j = new FileJournal(path.join(h, 'journal.jsonl'));
    const lines = [here({ kind: 'sysctl', name: 'kernel.core_pattern', value: '|/x' }), here({ kind: 'rm', path: path.join(h, 'gone') })];
    writeFileSync(j.where, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', { mode: 0o600 });
    const r = await replayJournal(j, { ...localScope(new LocalTarget(), await undoPolicy()), home: h }, () => {});
    expect(r.restored).toEqual(['rm']);
    expect(r.failed).toEqual([expect.stringMatching(/^sysctl: REFUSED: sysctl kernel.core_pattern is neither/)]);
    const again = await replayJournal(j, { ...localScope(new LocalTarget(), await undoPolicy()), home: h }, () => {});
    expect(again).toMatchObject({ restored: [], failed: [] });
  });
});

describe('a SIGKILLed run is repaired', () => {
  it('sysctl, namespace, process group and directory as they were', async () => {
    const state = home();
    const env = { ...process.env, HEADGATE_STATE_DIR: state };
    const ns = `hg-jt-${process.pid}`;
    const dir = path.join(state, 'work', `jt-${process.pid}`);
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
      const scope = { ...localScope(new LocalTarget(), await undoPolicy()), home: state };
      const r = await replayJournal(new FileJournal(path.join(state, 'journal.jsonl')), scope, () => {});
      expect(r.failed).toEqual([]);
      expect(r.restored).toHaveLength(4);
      expect((await $`ip netns list`).stdout).not.toContain(ns);
      expect(existsSync(dir)).toBe(false);
      expect(readFileSync(`/proc/sys/${knob.replace(/\./g, '/')}`, 'utf8').trim()).toBe(before);
      await expect.poll(() => processStart(pid) === null || /^Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? ''), { timeout: 5000 }).toBe(true);
      // A second replay finds nothing left.
      expect((await replayJournal(new FileJournal(path.join(state, 'journal.jsonl')), scope, () => {})).restored).toEqual([]);
    } finally {
      victim.kill('SIGKILL');
      await $({ nothrow: true })`ip netns del ${ns}`;
      await $({ nothrow: true })`sysctl -q -w ${knob}=${before}`;
    }
  }, 30_000);
});

describe("headgate's home", () => {
  it('a home another user made (or could write) is refused, exit 3 naming it, and nothing in it is read', async () => {
    const parent = tempDir('hg-home-');
    const planted = path.join(parent, 'state');
    mkdirSync(planted, { mode: 0o777 });
    chmodSync(planted, 0o777);
    chownSync(planted, 65534, 65534);
    const canary = tempDir('hg-home-canary-');
    writeFileSync(path.join(canary, 'keep'), 'x');
    writeFileSync(path.join(planted, 'journal.jsonl'), JSON.stringify(here({ kind: 'rm', path: path.join(canary, 'keep') })) + '\n');
    const r = await $({ nothrow: true, cwd: ROOT, env: { ...process.env, HEADGATE_STATE_DIR: planted } })`node bin/headgate.js restore`;
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`${planted}: refused as headgate's directory: ${planted} is owned by uid 65534`);
    expect(existsSync(path.join(canary, 'keep'))).toBe(true);
  });

  it('a symlink anywhere on its path is refused', async () => {
    const parent = tempDir('hg-home-');
    const real = path.join(parent, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, path.join(parent, 'link'));
    const r = await $({ nothrow: true, cwd: ROOT, env: { ...process.env, HEADGATE_STATE_DIR: path.join(parent, 'link', 'home') } })`node bin/headgate.js restore`;
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`${path.join(parent, 'link')} is a symlink`);
  });

  it('an ancestor other users can write to (not sticky) is refused; a missing home is made 0700', async () => {
    const parent = tempDir('hg-home-');
    chmodSync(parent, 0o777);
    const r = await $({ nothrow: true, cwd: ROOT, env: { ...process.env, HEADGATE_STATE_DIR: path.join(parent, 'home') } })`node bin/headgate.js restore`;
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('is writable by other users (mode 777) and not sticky');
    expect(existsSync(path.join(parent, 'home'))).toBe(false);
    chmodSync(parent, 0o755);
    const ok = await $({ nothrow: true, cwd: ROOT, env: { ...process.env, HEADGATE_STATE_DIR: path.join(parent, 'home') } })`node bin/headgate.js restore`;
    expect(ok.exitCode).toBe(0);
    expect((await $`stat -c %a:%u ${path.join(parent, 'home')}`).stdout.trim()).toBe('700:0');
  });
});
