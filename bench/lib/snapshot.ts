// What headgate may change on this machine, as comparable lines: the fault and broken-setups
// benchmarks compare a snapshot before and after each scenario.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { HEADGATE_PROGRAMS } from '../../harness/drivers/journal.js';
import { manifestKnobs } from '../../harness/engine/policy.js';
import { processStart } from '../../harness/lib/machine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sh = $({ quiet: true, nothrow: true });

const lines = async (cmd: PromiseLike<{ stdout: string }>): Promise<string[]> => (await cmd).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
const ls = (dir: string, re: RegExp) => (existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).map((f) => `${dir}/${f}`) : []);
const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch {
    return '(absent)';
  }
};

/** Every sysctl a built-in suite declares for Linux, plus the global knobs the scenarios set. */
export async function knobNames(): Promise<string[]> {
  const names = new Set(['net.ipv4.tcp_slow_start_after_idle', 'vm.dirty_ratio', 'net.core.default_qdisc', 'net.ipv4.tcp_available_congestion_control']);
  for (const d of readdirSync(path.join(ROOT, 'suites'))) {
    const f = path.join(ROOT, 'suites', d, 'suite.json');
    if (!existsSync(f)) continue;
    for (const k of manifestKnobs(JSON.parse(readFileSync(f, 'utf8'))).linux) if (!k.startsWith('/')) names.add(k.replace(/\//g, '.'));
  }
  return [...names].sort();
}

/**
 * Everything headgate may change on this machine, as comparable lines: knobs by value, processes
 * of the programs headgate starts by pid and start time (a restarted server is a difference, not
 * the same line), tracefs mounts and instances, namespaces, links, qdiscs, loop devices, mounts,
 * and headgate's private per-run directories.
 */
export async function snapshot(knobs: string[]): Promise<Map<string, string[]>> {
  const s = new Map<string, string[]>();
  s.set('knobs', knobs.map((k) => `${k}=${read(`/proc/sys/${k.replace(/\./g, '/')}`)}`));
  s.set('schedulers', readdirSync('/sys/block').filter((d) => existsSync(`/sys/block/${d}/queue/scheduler`) && !/^loop/.test(d)).map((d) => `${d}: ${read(`/sys/block/${d}/queue/scheduler`)}`));
  s.set('qdiscs', await lines(sh`tc qdisc show`));
  s.set('namespaces', (await lines(sh`ip netns list`)).map((l) => l.split(' ')[0]));
  s.set('links', (await lines(sh`ip -o link show`)).map((l) => l.split(':')[1]?.trim().split('@')[0] ?? l));
  s.set('loop devices', await lines(sh`losetup -a`));
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  s.set('mounts', mounts.filter((l) => /hg-|headgate|loop|tracefs/.test(l)));
  s.set('tracefs instances', [...ls('/sys/kernel/tracing/instances', /./), ...ls('/sys/kernel/debug/tracing/instances', /./)]);
  const programs = new Set(HEADGATE_PROGRAMS);
  const mine = new Set([process.pid, process.ppid]);
  const ps = await lines(sh`ps -eo pid=,ppid=,stat=,comm=,args=`);
  s.set(
    'processes',
    ps
      .map((l) => l.split(/\s+/))
      // node and sh are headgate's own programs too, but also whatever else runs here: only a
      // surviving headgate (bin/headgate.js) counts among them.
      .filter(([pid, ppid, stat, comm, ...args]) => programs.has(comm) && !/^Z/.test(stat) && !mine.has(Number(pid)) && !mine.has(Number(ppid)) && (!['node', 'sh'].includes(comm) || args.join(' ').includes('bin/headgate.js')))
      .map(([pid, , , comm]) => `${comm} pid ${pid} started ${processStart(Number(pid)) ?? '?'}`)
      .filter((l) => !l.endsWith('started ?')),
  );
  const home = '/var/lib/headgate';
  s.set('private dirs', [...ls('/tmp', /^hg-/), ...ls('/var/tmp', /^headgate/), ...['labs', 'qemu', 'scratch', 'work/runs', 'ssh'].flatMap((d) => ls(`${home}/${d}`, /./))]);
  return s;
}

/** Lines of `after` that are not in `before` (or missing from it), per kind. */
export function diff(before: Map<string, string[]>, after: Map<string, string[]>): string[] {
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

