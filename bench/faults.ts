// Fault benchmark: SIGKILL headgate at seeded random moments while it changes this machine,
// then run the recovery (`headgate restore`) and compare a snapshot of everything headgate may
// touch with the snapshot taken before. Prints kills per scenario, leftovers right after the
// kill, and leftovers after recovery (the target is 0).
//
//   npx tsx bench/faults.ts [--kills 100] [--seed 7] [--scenario io-sched,tcp-stack,...] [--json]
//
// Runs real load: never beside another benchmark or test run (2 cores).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { $ } from 'zx';
import { mulberry32 } from '../harness/stats/shift.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'headgate.js');
const sh = $({ quiet: true, nothrow: true });

/** One way to make headgate change this machine, and how long a full run of it takes at most. */
interface Scenario {
  id: string;
  what: string;
  args: string[];
  /** Kill moments are drawn from [minSec, maxSec]. */
  minSec: number;
  maxSec: number;
}

const quick = ['--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--objects-mib', '8', '--cold-objects-mib', '64'];
const SCENARIOS: Scenario[] = [
  { id: 'sendfile+knob', what: 'local: nginx, a sysctl set around B (ab --b-knob)', args: ['ab', '--suite', 'sendfile', '--variant', 'sendfile-on', '--b-knob', 'net.ipv4.tcp_slow_start_after_idle=0', '--no-adaptive', ...quick], minSec: 0.5, maxSec: 7 },
  { id: 'io-sched', what: 'local: scratch file, loop device, I/O scheduler, fio', args: ['run', '--suite', 'io-sched', '--variant', 'none,mq-deadline', ...quick], minSec: 0.5, maxSec: 7 },
  { id: 'tcp-stack', what: 'local: namespaces, veths, netem qdisc, nginx and iperf3 in namespaces, host sysctls', args: ['run', '--suite', 'tcp-stack', '--variant', 'cubic,bbr', ...quick], minSec: 0.5, maxSec: 11 },
  { id: 'netns', what: 'netns target: lab namespaces, sshd, nginx over ssh, work directories', args: ['run', '--target', 'netns:faults', '--suite', 'sendfile', '--variant', 'sendfile-on', ...quick], minSec: 0.5, maxSec: 8 },
  { id: 'qemu', what: 'qemu target: QEMU process, state directory with keys, guest over ssh (kTLS suite)', args: ['run', '--target', 'qemu:faults', '--suite', 'ktls', '--variant', 'userspace-tls13', ...quick], minSec: 2, maxSec: 60 },
];

const lines = async (cmd: PromiseLike<{ stdout: string }>): Promise<string[]> => (await cmd).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
const ls = (dir: string, re: RegExp) => (existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).map((f) => `${dir}/${f}`) : []);

/** Everything headgate may change on this machine, as comparable lines. */
async function snapshot(): Promise<Map<string, string[]>> {
  const s = new Map<string, string[]>();
  const sysctls = ['net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_allowed_congestion_control', 'net.ipv4.tcp_congestion_control', 'net.core.default_qdisc', 'net.ipv4.tcp_available_congestion_control'];
  s.set('sysctls', await lines(sh`sysctl ${sysctls}`));
  s.set('schedulers', readdirSync('/sys/block').filter((d) => existsSync(`/sys/block/${d}/queue/scheduler`) && !/^loop/.test(d)).map((d) => `${d}: ${readFileSync(`/sys/block/${d}/queue/scheduler`, 'utf8').trim()}`));
  s.set('qdiscs', await lines(sh`tc qdisc show`));
  s.set('namespaces', (await lines(sh`ip netns list`)).map((l) => l.split(' ')[0]));
  s.set('links', (await lines(sh`ip -o link show`)).map((l) => l.split(':')[1]?.trim().split('@')[0] ?? l));
  s.set('loop devices', await lines(sh`losetup -a`));
  s.set('mounts', readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => /hg-|headgate|loop/.test(l)));
  // Processes headgate starts (by name), zombies excluded: PID 1 here may never reap them.
  const ps = await lines(sh`ps -eo pid=,stat=,comm=`);
  s.set('processes', ps.filter((l) => /\b(nginx|iperf3|sshd|ssh|qemu-system-x86|fio)\b/.test(l) && !/\sZ/.test(l)).map((l) => l.split(/\s+/).slice(2).join(' ')));
  s.set('temp dirs', [...ls('/tmp', /^hg-/), ...ls('/var/tmp', /^headgate-/), ...ls('/var/lib/headgate/scratch', /./)]);
  return s;
}

/** Lines of `after` that are not in `before` (or missing from it), per kind. */
function diff(before: Map<string, string[]>, after: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [k, b] of before) {
    const a = after.get(k) ?? [];
    const bs = new Set(b);
    const as = new Set(a);
    for (const x of a) if (!bs.has(x)) out.push(`${k}: + ${x}`);
    for (const x of b) if (!as.has(x)) out.push(`${k}: - ${x}`);
  }
  return out;
}

/** Starts headgate, SIGKILLs it after `sec` seconds (or lets it finish first); returns whether the kill hit a live run. */
function runAndKill(args: string[], sec: number, out: string): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--out', out, '--quiet'], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, CI: '1' } });
    let done = false;
    const t = setTimeout(() => {
      if (!done) child.kill('SIGKILL');
    }, sec * 1000);
    child.on('exit', (code, sig) => {
      done = true;
      clearTimeout(t);
      resolve({ killed: sig === 'SIGKILL', code });
    });
  });
}

async function main() {
  const { values } = parseArgs({ options: { kills: { type: 'string', default: '100' }, seed: { type: 'string', default: '7' }, scenario: { type: 'string' }, json: { type: 'boolean' } } });
  const wanted = values.scenario ? values.scenario.split(',') : SCENARIOS.map((s) => s.id);
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.id));
  const total = Number(values.kills);
  // QEMU boots are slow: it gets a fifth of the others' kills.
  const weight = (s: Scenario) => (s.id === 'qemu' ? 0.2 : 1);
  const wsum = scenarios.reduce((a, s) => a + weight(s), 0);
  // Seeded: the same seed kills at the same moments.
  const rand = mulberry32(Number(values.seed));
  const out = mkdtempSync(path.join(os.tmpdir(), 'hg-faults-'));
  const rows: { scenario: string; what: string; kills: number; finished: number; before: number; after: number; examples: string[]; sec: number }[] = [];
  try {
    // Start clean: whatever an earlier run left is restored before the first baseline.
    await sh`${process.execPath} ${BIN} restore --quiet`;
    for (const sc of scenarios) {
      const n = Math.max(1, Math.round((total * weight(sc)) / wsum));
      const row = { scenario: sc.id, what: sc.what, kills: 0, finished: 0, before: 0, after: 0, examples: [] as string[], sec: 0 };
      const t0 = Date.now();
      for (let i = 0; row.kills < n && i < 2 * n; i++) {
        const base = await snapshot();
        const sec = sc.minSec + rand() * (sc.maxSec - sc.minSec);
        const r = await runAndKill(sc.args, sec, out);
        if (r.killed) row.kills++;
        else row.finished++;
        const left = diff(base, await snapshot());
        row.before += left.length;
        await sh`${process.execPath} ${BIN} restore --quiet`;
        // Processes killed by the restore may take a moment to be reaped.
        await new Promise((res) => setTimeout(res, 300));
        const still = diff(base, await snapshot());
        row.after += still.length;
        if (still.length && row.examples.length < 3) row.examples.push(`kill at ${sec.toFixed(1)} s: ${still.slice(0, 3).join('; ')}`);
        process.stderr.write(`${sc.id} ${i + 1} (kill ${row.kills}/${n}): ${r.killed ? `killed at ${sec.toFixed(1)} s` : `finished (exit ${r.code}) before ${sec.toFixed(1)} s`}; leftovers ${left.length} -> ${still.length}\n`);
      }
      row.sec = (Date.now() - t0) / 1000;
      rows.push(row);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const t = new Table({ head: ['scenario', 'kills', 'finished first', 'leftovers after kill', 'after recovery', 'wall s'], style: { head: [], border: [] } });
  for (const r of rows) t.push([r.scenario, r.kills, r.finished, r.before, r.after, r.sec.toFixed(0)]);
  const kills = rows.reduce((a, r) => a + r.kills, 0);
  const after = rows.reduce((a, r) => a + r.after, 0);
  process.stdout.write(`${t.toString()}\n${kills} kills (seed ${values.seed}); ${after} differences after recovery\n`);
  for (const r of rows) for (const e of r.examples) process.stdout.write(`  ${r.scenario}: ${e}\n`);
  process.exitCode = after === 0 ? 0 : 1;
}

await main();
