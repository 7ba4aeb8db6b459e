import { journaled } from '../../lib/journal.js';
import type { CleanupStack } from '../../lib/cleanup.js';
import { infraError } from '../../model/errors.js';
import type { Target } from '../targets/target.js';

/** Where headgate mounts tracefs when no tracefs is mounted (the kernel's own mount point for it). */
export const TRACEFS_MOUNT = '/sys/kernel/tracing';

/** The tracefs mount point in a /proc/mounts text, or null when none is mounted. */
export function tracefsMount(procMounts: string): string | null {
  for (const line of procMounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'tracefs' && f[1]) return f[1];
  }
  return null;
}

/**
 * Event counts of a trace buffer from its per_cpu/cpuN/stats files (kernel/trace/trace.c
 * tracing_stats_read: "entries: N", "overrun: N", "dropped events: N", "read events: N").
 * `entries` is what the ring buffer holds now; written = entries + overrun + read events.
 */
export function parseTraceStats(texts: string[]): { records: number; lost: number } {
  let records = 0;
  let lost = 0;
  for (const t of texts) {
    const v = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(t)?.[1] ?? 0);
    records += v('entries') + v('overrun') + v('read events');
    lost += v('overrun') + v('dropped events');
  }
  return { records, lost };
}

let instances = 0;

/**
 * Linux TCP event logging for one repetition: every tcp tracepoint of this kernel enabled in a
 * tracefs instance of headgate's own (so its buffer counts only these events and the global
 * trace buffer of whoever else traces is left alone). tracefs is mounted first when it is not
 * (undone at suite end). Each step is journaled before it is made. Returns the instance path.
 */
export async function enableTcpTrace(t: Target, repetition: CleanupStack, suite: CleanupStack): Promise<string> {
  const run = async (argv: string[]) => {
    const r = await t.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`tcp trace on ${t.name}: ${argv.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
    return r.stdout;
  };
  let root = tracefsMount((await t.readFileIfExists('/proc/mounts')) ?? '');
  if (!root) {
    root = TRACEFS_MOUNT;
    await journaled(t.journal, suite, `umount ${root}`, { kind: 'umount', path: root }, () => run(['mount', '-t', 'tracefs', 'nodev', root!]), async () => {
      await t.exec(['umount', root!], { allowFail: true });
    });
  }
  if ((await t.exec(['test', '-d', `${root}/events/tcp`], { allowFail: true })).code !== 0) throw infraError(`tcp trace on ${t.name}: ${root}/events/tcp absent (kernel without tcp tracepoints)`);
  const inst = `${root}/instances/hg-${process.pid}-${instances++}`;
  const remove = async () => void (await t.exec(['sh', '-c', 'test -d "$1" || exit 0; printf 0 > "$1/events/enable"; rmdir "$1"', 'sh', inst], { allowFail: true }));
  await journaled(t.journal, repetition, `remove tracefs instance ${inst}`, { kind: 'tracefs-instance', path: inst }, () => run(['mkdir', inst]), remove);
  await run(['sh', '-c', 'printf 1 > "$1/events/tcp/enable"', 'sh', inst]);
  return inst;
}

/** The record counters of a tracefs instance: events written to its buffer and events lost, summed over CPUs. */
export async function tcpTraceCounters(t: Target, inst: string): Promise<Record<string, number>> {
  const r = await t.exec(['sh', '-c', 'for f in "$1"/per_cpu/cpu*/stats; do cat "$f"; echo @@; done', 'sh', inst], { allowFail: true });
  if (r.code !== 0) return {};
  const { records, lost } = parseTraceStats(r.stdout.split('@@\n'));
  return { 'tcplog.records': records, 'tcplog.lost': lost };
}
