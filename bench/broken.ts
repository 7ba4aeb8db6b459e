// Broken set-ups: each one must never pass. Runs every set-up (for real where this machine allows
// it safely, otherwise against scripted records or targets), then prints a table: set-up, expected
// exit class, actual exit code, first line. A snapshot of this machine (knobs, schedulers,
// processes by pid and start time, mounts, loop devices, namespaces, tracefs instances, headgate's
// private directories, the canaries) taken before and after each set-up must be identical.
//
//   npx tsx bench/broken.ts [--only NAME,...] [--json]
//
// Runs real load (one short baseline run, a few gates): never beside another benchmark or test.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { $ } from 'zx';
import { checkBooted } from '../harness/app/ab.js';
import { LinuxAdapter } from '../harness/drivers/os/linux.js';
import type { Target } from '../harness/drivers/targets/target.js';
import type { RunRecord, VariantResult } from '../harness/model/types.js';
import { compareRun, runAsReference } from '../harness/verdict/compare.js';
import { diff, knobNames, snapshot } from './lib/snapshot.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'headgate.js');
const sh = $({ quiet: true, nothrow: true });

/** What a set-up came to: its exit code and the first line that says why. */
interface Outcome {
  code: number;
  first: string;
}
interface Setup {
  name: string;
  /** The exit class it must end in (docs: README, Exit codes). */
  expect: 1 | 2 | 3 | 4;
  how: 'real' | 'scripted';
  run: () => Promise<Outcome>;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'hg-broken-'));
const reports = path.join(work, 'reports');
const baselines = path.join(work, 'baselines');
const quick = ['--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--out', reports];

/** The line of the CLI's output that says why: its error line, else its verdict line, else the last line. */
function firstLine(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith('headgate: ')) ?? lines.find((l) => /^verdict: /.test(l)) ?? lines.at(-1) ?? '';
}
async function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const r = await $({ quiet: true, nothrow: true, cwd: ROOT, env: { ...process.env, CI: '1', NO_COLOR: '1', ...env } })`${process.execPath} ${BIN} ${args}`;
  return { code: r.exitCode ?? -1, first: firstLine(r.stdout, r.stderr) };
}
const thrown = async (f: () => unknown): Promise<Outcome> => {
  try {
    await f();
    return { code: 0, first: '(accepted)' };
  } catch (e) {
    return { code: (e as { exitCode?: number }).exitCode ?? -1, first: (e as Error).message.split('\n')[0] };
  }
};

/** A baselines directory whose machine pin is edited (the kernel then reports other hardware than the pin). */
function editedPin(name: string, edit: (p: { cpuCount: number; cpuModel: string; memoryBytes: number }) => void): string {
  const dir = path.join(work, `baselines-${name}`);
  cpSync(baselines, dir, { recursive: true });
  const f = path.join(dir, 'machines.json');
  const doc = JSON.parse(readFileSync(f, 'utf8'));
  edit(doc.pins[0]);
  writeFileSync(f, JSON.stringify(doc));
  return dir;
}

/** The baseline run, and a copy of it with one change, as a run directory the CLI can read. */
let baseRun = '';
function editedRun(name: string, edit: (r: RunRecord) => void): string {
  const dir = path.join(reports, `edited-${name}`);
  cpSync(baseRun, dir, { recursive: true });
  const r = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;
  r.runId = `edited-${name}`;
  edit(r);
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(r));
  return dir;
}
const record = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;
/** The baseline run as today's, changed by `edit`, compared with the baseline run itself. */
function todayAgainstBase(edit: (today: RunRecord) => void): Outcome {
  const base = record(baseRun);
  const today = structuredClone(base);
  today.runId = 'today';
  edit(today);
  const c = compareRun(today, runAsReference(base), { alpha: 0.05 });
  return { code: c.exitCode, first: c.summary };
}
/** Today's run with its variant skipped the way a kernel that lacks the feature (or an option) skips it. */
const lostAgainstBase = (reason: string, skipKind: VariantResult['skipKind']): Outcome =>
  todayAgainstBase((t) => Object.assign(t.suites[0].variants[0], { status: 'skipped', reason, skipKind, repetitions: [] }));
/** io-sched on a block device the set-up prepared (the refusal is the point). */
const blockDeviceRun = (dev: string) => cli(['run', '--suite', 'io-sched', '--variant', 'none', '--block-device', dev, '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--out', reports]);
function loop(name: string, mib: number): { dev: string; file: string } {
  const file = path.join(work, `${name}.img`);
  execFileSync('truncate', ['-s', `${mib}M`, file]);
  return { dev: execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim(), file };
}
const loops: string[] = [];
const mounts: string[] = [];
const have = (tool: string) => sh`command -v ${tool}`.then((r) => r.exitCode === 0);

const online = () => readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();

const SETUPS: Setup[] = [
  {
    name: 'CPU offlined (cpu1 taken offline for the gate)',
    expect: 1,
    how: 'real',
    run: async () => {
      const f = '/sys/devices/system/cpu/cpu1/online';
      if (!existsSync(f)) return { code: -1, first: 'no cpu1 to take offline here' };
      writeFileSync(f, '0');
      try {
        return await cli(['gate', ...quick, '--baselines', baselines]);
      } finally {
        writeFileSync(f, '1');
      }
    },
  },
  { name: 'memory size changed (pin says 10% more)', expect: 1, how: 'scripted', run: () => cli(['gate', ...quick, '--baselines', editedPin('mem', (p) => (p.memoryBytes = Math.round(p.memoryBytes * 1.1)))]) },
  { name: 'CPU model changed (pin names another CPU)', expect: 1, how: 'scripted', run: () => cli(['gate', ...quick, '--baselines', editedPin('model', (p) => (p.cpuModel = 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz'))]) },
  {
    name: 'I/O scheduler the reference ran is not in this kernel (bfq here)',
    expect: 1,
    how: 'real',
    run: async () => {
      const r = await $({ quiet: true, nothrow: true, cwd: ROOT, env: { ...process.env, CI: '1' } })`${process.execPath} ${BIN} run --suite io-sched --variant none,bfq --quick --runs 2 --duration 1 --warmup 0 --out ${reports} --json`;
      const today = JSON.parse(r.stdout).runDir as string;
      const bfq = record(today).suites[0].variants.find((v) => v.id === 'bfq')!;
      if (bfq.status === 'ran') return { code: -1, first: 'this kernel has bfq: no scheduler to lose here' };
      // The reference: the same run with bfq as if it had run (none's repetitions stand in).
      const refDir = path.join(reports, 'edited-bfq-ref');
      cpSync(today, refDir, { recursive: true });
      const ref = record(refDir);
      const none = ref.suites[0].variants.find((v) => v.id === 'none')!;
      Object.assign(ref.suites[0].variants.find((v) => v.id === 'bfq')!, { status: 'ran', reason: undefined, skipKind: undefined, repetitions: none.repetitions });
      ref.runId = 'edited-bfq-ref';
      writeFileSync(path.join(refDir, 'run.json'), JSON.stringify(ref));
      return cli(['compare', today, '--against', refDir, '--out', reports]);
    },
  },
  { name: 'congestion control the reference ran is missing (bbr)', expect: 1, how: 'scripted', run: async () => lostAgainstBase('congestion control bbr not available (tcp_available_congestion_control: reno cubic)', 'capability') },
  { name: 'kTLS the reference ran is missing', expect: 1, how: 'scripted', run: async () => lostAgainstBase('kernel built without kTLS (CONFIG_TLS) or the tls module is not loaded: /proc/net/tls_stat absent', 'capability') },
  { name: "a variant this run's options left out (--server-url cold)", expect: 2, how: 'scripted', run: async () => lostAgainstBase('cold cache needs the objects on a filesystem the harness can evict; with --server-url they live on the appliance', 'setup') },
  {
    name: "the feature's proof counters did not move",
    expect: 1,
    how: 'scripted',
    run: async () =>
      todayAgainstBase((t) => {
        for (const r of t.suites[0].variants[0].repetitions) r.proofFailures = ['sendfile: kern.ipc.sfstat sendfile-syscalls moved by 0, expected at least 1'];
      }),
  },
  {
    name: 'a knob the kernel accepts but does not apply',
    expect: 3,
    how: 'scripted',
    run: () =>
      thrown(async () => {
        // sysctl -w succeeds, the value reads back clamped (as vm.dirty_ratio above 100 would be).
        const t = {
          name: 'scripted',
          journal: { where: 'x', record: async () => 'x', done: async () => {}, read: async () => ({ entries: [], done: new Set(), torn: false }) },
          exec: async (argv: string[]) => ({ code: 0, stdout: argv[0] === 'readlink' ? `${argv.at(-1)}\n` : '', stderr: '' }),
          readFileIfExists: async () => '100\n',
        } as unknown as Target;
        const stack = { push: () => {} } as never;
        await new LinuxAdapter(t).setKnob('vm.dirty_ratio', '250', stack);
      }),
  },
  {
    name: 'the load client saturated (every throughput repetition client-bound)',
    expect: 4,
    how: 'scripted',
    run: async () =>
      todayAgainstBase((t) => {
        for (const r of t.suites[0].variants[0].repetitions) r.clientBound = true;
      }),
  },
  { name: 'the reference run has a payload verification failure', expect: 2, how: 'real', run: () => cli(['compare', baseRun, '--against', editedRun('badref', (r) => Object.assign(r.suites[0].variants[0].repetitions[0].verification, { failed: 1, failures: [{ path: '/o/1', reason: 'sha256 mismatch' }] })), '--out', reports]) },
  { name: 'a shard missing in merge (1 of 2)', expect: 2, how: 'real', run: () => cli(['merge', editedRun('shard1', (r) => (r.shard = { index: 1, count: 2, targetShards: [1, 2] })), '--out', reports, '--baselines', baselines]) },
  { name: 'merge without a baseline', expect: 2, how: 'real', run: () => cli(['merge', baseRun, '--out', reports, '--baselines', path.join(work, 'no-baselines')]) },
  {
    name: 'a boot hook that boots the wrong command line',
    expect: 3,
    how: 'scripted',
    run: () => thrown(() => checkBooted('lab', { label: 'b', append: 'mitigations=off' }, { side: 'B', config: 'b', bootSec: 1, at: '', kernelRelease: '6.1.0', kernelVersion: '#1', cmdline: 'root=/dev/vda', method: 'hook' }, [])),
  },
  {
    name: 'a boot hook that boots the same kernel twice',
    expect: 3,
    how: 'scripted',
    run: () => {
      const rec = (side: 'A' | 'B') => ({ side, config: side, bootSec: 1, at: '', kernelRelease: '6.1.0', kernelVersion: '#1', cmdline: 'root=/dev/vda', method: 'hook' });
      return thrown(() => checkBooted('lab', { label: 'b' }, rec('B'), [rec('A')]));
    },
  },
  { name: 'the target runs another build than --expect-kernel', expect: 3, how: 'real', run: () => cli(['gate', ...quick, '--baselines', baselines, '--expect-kernel', 'head-20261207-not-this-build']) },
  {
    name: 'a block device with a filesystem',
    expect: 2,
    how: 'real',
    run: async () => {
      const l = loop('ext4', 32);
      loops.push(l.dev);
      execFileSync('mkfs.ext4', ['-q', l.dev]);
      return blockDeviceRun(l.dev);
    },
  },
  {
    name: 'a block device that is a member of a mounted two-device btrfs',
    expect: 2,
    how: 'real',
    run: async () => {
      if (!(await have('mkfs.btrfs'))) return { code: -1, first: 'btrfs-progs not installed' };
      const a = loop('bt-a', 300);
      const b = loop('bt-b', 300);
      loops.push(a.dev, b.dev);
      execFileSync('mkfs.btrfs', ['-q', '-f', '-d', 'raid1', '-m', 'raid1', a.dev, b.dev]);
      const mnt = path.join(work, 'bt');
      mkdirSync(mnt);
      execFileSync('mount', [a.dev, mnt]);
      mounts.push(mnt);
      return blockDeviceRun(b.dev);
    },
  },
  {
    name: 'a planted journal in a home another user made',
    expect: 3,
    how: 'real',
    run: async () => {
      const home = path.join(work, 'planted');
      mkdirSync(home);
      chmodSync(home, 0o777);
      chownSync(home, 65534, 65534);
      writeFileSync(path.join(work, 'canary'), 'keep');
      writeFileSync(path.join(home, 'journal.jsonl'), JSON.stringify({ id: 'x', at: '2026-01-01T00:00:00Z', owner: { host: 'h', pid: 2, start: '1' }, label: 'planted', undo: { kind: 'rm', path: path.join(work, 'canary') } }) + '\n');
      const o = await cli(['restore'], { HEADGATE_STATE_DIR: home });
      return existsSync(path.join(work, 'canary')) ? o : { code: -1, first: 'the canary was removed' };
    },
  },
  {
    name: "a symlink in headgate's home path",
    expect: 3,
    how: 'real',
    run: async () => {
      mkdirSync(path.join(work, 'real'), { mode: 0o700 });
      symlinkSync(path.join(work, 'real'), path.join(work, 'link'));
      return cli(['restore'], { HEADGATE_STATE_DIR: path.join(work, 'link', 'home') });
    },
  },
  {
    name: 'a hand-edited baseline',
    expect: 2,
    how: 'real',
    run: async () => {
      const dir = path.join(work, 'baselines-edited');
      cpSync(baselines, dir, { recursive: true });
      const prof = readdirSync(dir).find((d) => !d.endsWith('.json'))!;
      const f = path.join(dir, prof, 'sendfile.json');
      // One sample raised by hand, the checksum left as promoted.
      const doc = JSON.parse(readFileSync(f, 'utf8'));
      const v = Object.values(doc.variants as Record<string, { samples: Record<string, number[]> }>)[0];
      v.samples.throughput_gbps[0] *= 2;
      writeFileSync(f, JSON.stringify(doc, null, 2));
      return cli(['gate', ...quick, '--baselines', dir]);
    },
  },
  { name: 'no baseline under --require-baseline', expect: 2, how: 'real', run: () => cli(['gate', ...quick, '--baselines', path.join(work, 'no-baselines'), '--require-baseline']) },
];

async function main() {
  const { values } = parseArgs({ options: { only: { type: 'string' }, json: { type: 'boolean' } } });
  const only = values.only?.split(',');
  const knobs = [...(await knobNames())];
  const rows: { setup: string; how: string; expect: number; code: number; first: string; changed: string[] }[] = [];
  try {
    process.stderr.write('broken: a baseline run and its promotion (this machine, sendfile-on)\n');
    const r = await $({ quiet: true, nothrow: true, cwd: ROOT, env: { ...process.env, CI: '1' } })`${process.execPath} ${BIN} run ${quick} --json`;
    if (r.exitCode !== 0) throw new Error(`the baseline run failed: ${r.stderr.trim().split('\n').pop()}`);
    baseRun = JSON.parse(r.stdout).runDir;
    const p = await sh`${process.execPath} ${BIN} baseline promote ${baseRun} --reason ${'broken-setups bench reference'} --baselines ${baselines}`;
    if (p.exitCode !== 0) throw new Error(`promote failed: ${p.stderr}`);
    for (const s of SETUPS) {
      if (only && !only.some((o) => s.name.includes(o))) continue;
      const before = await snapshot(knobs);
      const cpus = online();
      const o = await s.run();
      // What the set-up itself made (its loop devices, its mount) goes before the comparison:
      // the question is whether headgate changed anything.
      for (const m of mounts.splice(0).reverse()) await sh`umount ${m}`;
      for (const d of loops.splice(0)) await sh`losetup -d ${d}`;
      const after = await snapshot(knobs);
      const changed = [...diff(before, after), ...(online() !== cpus ? [`online CPUs: ${cpus} -> ${online()}`] : [])];
      rows.push({ setup: s.name, how: s.how, expect: s.expect, code: o.code, first: o.first, changed });
      process.stderr.write(`${s.name}: exit ${o.code} (expected ${s.expect})${changed.length ? `; CHANGED: ${changed.join('; ')}` : ''}\n`);
    }
  } finally {
    for (const m of mounts) await sh`umount ${m}`;
    for (const d of loops) await sh`losetup -d ${d}`;
    rmSync(work, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else {
    const t = new Table({ head: ['set-up', 'how', 'expected', 'exit', 'first line'], colWidths: [34, 10, 10, 6, 70], wordWrap: true, style: { head: [], border: [] } });
    for (const r of rows) t.push([r.setup, r.how, r.expect, r.code, r.first + (r.changed.length ? ` [CHANGED: ${r.changed.join('; ')}]` : '')]);
    process.stdout.write(`${t.toString()}\n`);
  }
  const wrong = rows.filter((r) => r.code !== r.expect || r.changed.length);
  (values.json ? process.stderr : process.stdout).write(`${rows.length} set-ups; ${rows.filter((r) => r.code === 0).length} passed (must be 0); ${wrong.length} not as expected; ${rows.filter((r) => r.changed.length).length} changed this machine\n`);
  process.exitCode = wrong.length ? 1 : 0;
}

await main();
