import { beforeAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { discoverSuites } from '../../harness/engine/discovery.js';
import { proofFailures, variantApplies } from '../../harness/engine/plan.js';
import type { Suite, SuiteContext } from '../../harness/engine/suite.js';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { FreeBSDAdapter } from '../../harness/drivers/os/freebsd.js';
import { parseTraceStats, tracefsMount } from '../../harness/drivers/os/tracefs.js';

import { recordsPerGb } from '../../suites/tcp-log/index.js';
import { FakeTarget, freebsdSysctl, journalIntoTranscript, undoOn } from '../helpers/fake-target.js';
import { pollClock } from '../../harness/drivers/os/poll.js';

/** One per_cpu/cpuN/stats file as kernel/trace/trace.c tracing_stats_read prints it (6.18, this machine). */
const stats = (entries: number, overrun: number, dropped = 0) =>
  `entries: ${entries}\noverrun: ${overrun}\ncommit overrun: 0\nbytes: ${entries * 96}\noldest event ts:  9001.000001\nnow ts:  9012.345678\ndropped events: ${dropped}\nread events: 0\n`;


/** A scripted Linux host with tracefs in the kernel but not mounted (this machine as found), two CPUs. */
function linuxHost(o: { mounted?: boolean } = {}) {
  const state = { mounted: o.mounted ?? false, instances: new Set<string>(), enabled: new Map<string, string>(), written: 0 };
  const t = new FakeTarget((argv) => {
    const cmd = argv.join(' ');
    if (cmd === 'mount -t tracefs nodev /sys/kernel/tracing') return (state.mounted = true), {};
    if (cmd === 'umount /sys/kernel/tracing') return (state.mounted = false), {};
    if (cmd === 'test -d /sys/kernel/tracing/events/tcp') return state.mounted ? {} : { code: 1 };
    if (argv[0] === 'mkdir') return state.instances.add(argv[1]), {};
    if (argv[0] === 'sh' && argv[2].startsWith('printf 1')) return state.enabled.set(argv[4], '1'), {};
    if (argv[0] === 'sh' && argv[2].startsWith('test -d')) return state.instances.delete(argv[4]) ? (state.enabled.delete(argv[4]), {}) : {};
    if (argv[0] === 'sh' && argv[2].startsWith('for f in')) {
      if (!state.instances.has(argv[4])) return { code: 1, stderr: 'No such file or directory' };
      return { stdout: `${stats(state.written, 0)}@@\n${stats(state.written * 2, 5, 1)}@@\n` };
    }
    return undefined;
  });
  t.readFileIfExists = async (f: string) => {
    if (f === '/proc/mounts') return `sysfs /sys sysfs rw,relatime 0 0\n${state.mounted ? 'nodev /sys/kernel/tracing tracefs rw,relatime 0 0\n' : ''}`;
    if (f === '/proc/filesystems') return 'nodev\tsysfs\nnodev\ttracefs\nnodev\tdebugfs\n';
    return null;
  };
  const entries = journalIntoTranscript(t);
  return { t, state, entries, os: new LinuxAdapter(t) };
}

/** A scripted FreeBSD 15 host with options TCP_BLACKBOX (head: log_auto_all exists), zone tcp_log in vmstat -z. */
function freebsdHost() {
  const knobs: Record<string, string> = {
    'net.inet.tcp.bb.disable_all': '0',
    'net.inet.tcp.bb.log_auto_mode': '1',
    'net.inet.tcp.bb.log_auto_all': '0',
    'net.inet.tcp.bb.log_auto_ratio': '0',
    // A box tuned to a 2 s MSL (tcp_timer.c net.inet.tcp.msl, in ms): the drain bound stays short.
    'net.inet.tcp.msl': '2000',
  };
  const zone = { req: 1200 };
  /**
   * Sessions selected while logging was on and not yet discarded (TIME_WAIT), by the records each
   * holds. tcp_log_buf.c: discarding one runs tcp_log_tcpcbfini(), which logs TCP_LOG_CONNEND (one
   * more uma_zalloc from tcp_log under its limit, so REQ + 1) and then frees all its records;
   * net.inet.tcp.bb.log_global_entries (SYSCTL_UMA_CUR of the zone) is what is allocated.
   */
  const lingering: number[] = [];
  const discard = (n = lingering.length) => {
    zone.req += lingering.splice(0, n).length;
  };
  const t = new FakeTarget((argv) => {
    if (argv.join(' ') === 'sysctl -n net.inet.tcp.bb.log_global_entries') return { stdout: `${lingering.reduce((a, b) => a + b, 0)}\n` };
    const sc = freebsdSysctl(argv, knobs);
    if (sc) return sc;
    // usr.bin/vmstat/vmstat.c domemstat_zone(): header, blank line, "name:" rows.
    if (argv.join(' ') === 'vmstat -z')
      return {
        stdout:
          'ITEM                   SIZE  LIMIT     USED     FREE      REQ     FAILSLEEP XDOMAIN\n\n' +
          `tcp_log:                416, 5000000,     312,    1288,${String(zone.req).padStart(8)},   0,   0,   0\n` +
          'tcp_log_id_bucket:      208,      0,       0,       0,       0,   0,   0,   0\n' +
          'mbuf:                   256, 13045896,    2178,    4307, 2711093,   0,   0,   0\n',
      };
    return undefined;
  });
  const entries = journalIntoTranscript(t);
  return { t, knobs, zone, lingering, discard, entries, os: new FreeBSDAdapter(t) };
}

let suites: Suite[];
beforeAll(async () => {
  suites = await discoverSuites();
});
const suite = () => suites.find((s) => s.manifest.id === 'tcp-log')!;
const variant = (id: string) => suite().manifest.variants.find((v) => v.id === id)!;

describe('tcp-log suite', () => {
  it('the manifest loads: http probe metrics, tcplog counters, a proof per OS on log-on', () => {
    const m = suite().manifest;
    expect(m.os).toEqual(['linux', 'freebsd']);
    expect(m.counters).toEqual(['tcp', 'tcplog']);
    expect(m.metrics.filter((x) => x.gating).map((x) => x.id)).toEqual(['throughput_gbps', 'machine_cpu_per_gbps', 'latency_p99_ms']);
    expect(variant('log-on').expect?.linux?.[0].counter).toBe('tcplog.records');
    expect(variant('log-on').expect?.freebsd?.[0].counter).toBe('tcplog.records');
  });

  it('parses tracefs mounts and per-CPU stats (entries + overrun + read events written; overrun + dropped lost)', () => {
    expect(tracefsMount('sysfs /sys sysfs rw 0 0\n')).toBeNull();
    expect(tracefsMount('tracefs /sys/kernel/debug/tracing tracefs rw 0 0\n')).toBe('/sys/kernel/debug/tracing');
    expect(parseTraceStats([stats(10, 2), stats(7, 0, 3)])).toEqual({ records: 19, lost: 5 });
  });

  it('Linux: mounts tracefs, creates an instance, enables the tcp events, each journaled first; counters move; undone in reverse', async () => {
    const h = linuxHost();
    expect(await variantApplies(suite().manifest, variant('log-on'), h.os)).toEqual({ ok: true });
    const rep = new CleanupStack();
    const suiteStack = new CleanupStack();
    const note = await h.os.enableTcpLog(rep, suiteStack);
    const inst = `/sys/kernel/tracing/instances/hg-${process.pid}-0`;
    expect(note).toBe(`tcp log: every tcp tracepoint enabled in tracefs instance ${inst}`);
    expect(h.t.transcript).toEqual([
      'journal umount /sys/kernel/tracing',
      'mount -t tracefs nodev /sys/kernel/tracing',
      'test -d /sys/kernel/tracing/events/tcp',
      `journal remove tracefs instance ${inst}`,
      `mkdir ${inst}`,
      `sh -c printf 1 > "$1/events/tcp/enable" sh ${inst}`,
    ]);
    const before = await h.os.counters(['tcplog']);
    h.state.written = 400;
    const after = await h.os.counters(['tcplog']);
    const d = { 'tcplog.records': after['tcplog.records'] - before['tcplog.records'] };
    expect(d['tcplog.records']).toBe(1200);
    expect(after['tcplog.lost']).toBe(6);
    expect(proofFailures(variant('log-on').expect?.linux, d)).toEqual([]);
    expect(proofFailures(variant('log-on').expect?.linux, { 'tcplog.records': 0 })).toEqual([
      'tcp tracepoints wrote events to the trace buffer (tracefs per_cpu stats): tcplog.records moved by 0, expected at least 1',
    ]);
    h.t.transcript.length = 0;
    expect(await rep.unwind()).toEqual([]);
    expect(h.t.transcript).toEqual([`sh -c test -d "$1" || exit 0; printf 0 > "$1/events/enable"; rmdir "$1" sh ${inst}`]);
    // Off (no instance): the group reads nothing, so log-off never shows tcplog counters.
    expect(await h.os.counters(['tcplog'])).toEqual({});
    expect(await suiteStack.unwind()).toEqual([]);
    expect(h.state).toMatchObject({ mounted: false, instances: new Set() });
    // A dead run's journal undoes the same: instance first, then the mount (the state it left: mounted, the instance there).
    h.state.mounted = true;
    h.state.instances.add(inst);
    h.t.os = async () => h.os;
    h.t.transcript.length = 0;
    for (const u of [...h.entries].reverse()) await undoOn(h.t, u, 'linux');
    expect(h.t.transcript).toEqual([`sh -c test -d "$1" || exit 0; printf 0 > "$1/events/enable"; rmdir "$1" sh ${inst}`, 'umount /sys/kernel/tracing']);
  });

  it('Linux: an already mounted tracefs is used as is and never unmounted', async () => {
    const h = linuxHost({ mounted: true });
    const suiteStack = new CleanupStack();
    await h.os.enableTcpLog(new CleanupStack(), suiteStack);
    expect(h.t.transcript.some((c) => c.includes('mount'))).toBe(false);
    expect(suiteStack.size).toBe(0);
  });

  it('FreeBSD: black-box sysctls set in order (ratio last), journaled, restored in reverse; zone tcp_log REQ proves records', async () => {
    const h = freebsdHost();
    expect(await variantApplies(suite().manifest, variant('log-on'), h.os)).toEqual({ ok: true });
    const rep = new CleanupStack();
    const note = await h.os.enableTcpLog(rep);
    expect(note).toBe('tcp log: black-box logging of every new connection (net.inet.tcp.bb.disable_all=0, net.inet.tcp.bb.log_auto_mode=1, net.inet.tcp.bb.log_auto_all=1, net.inet.tcp.bb.log_auto_ratio=1)');
    expect(h.t.transcript.filter((c) => !c.startsWith('sysctl -n'))).toEqual([
      'journal sysctl net.inet.tcp.bb.log_auto_all=0',
      'sysctl net.inet.tcp.bb.log_auto_all=1',
      'journal sysctl net.inet.tcp.bb.log_auto_ratio=0',
      'sysctl net.inet.tcp.bb.log_auto_ratio=1',
    ]);
    const before = await h.os.counters(['tcplog']);
    h.zone.req += 52_000;
    const after = await h.os.counters(['tcplog']);
    expect(before).toEqual({ 'tcplog.records': 1200, 'tcplog.lost': 0 });
    const d = { 'tcplog.records': after['tcplog.records'] - before['tcplog.records'] };
    expect(proofFailures(variant('log-on').expect?.freebsd, d)).toEqual([]);
    h.t.transcript.length = 0;
    expect(await rep.unwind()).toEqual([]);
    expect(h.t.transcript).toEqual(['sysctl net.inet.tcp.bb.log_auto_ratio=0', 'sysctl net.inet.tcp.bb.log_auto_all=0']);
    expect(h.knobs).toMatchObject({ 'net.inet.tcp.bb.log_auto_all': '0', 'net.inet.tcp.bb.log_auto_ratio': '0' });
  });

  it('FreeBSD: an older kernel without log_auto_all is still logged (ratio alone selects there); no TCP_BLACKBOX is a skip with the reason', async () => {
    const h = freebsdHost();
    delete h.knobs['net.inet.tcp.bb.log_auto_all'];
    await h.os.enableTcpLog(new CleanupStack());
    expect(h.t.transcript.filter((c) => c.startsWith('sysctl net.'))).toEqual(['sysctl net.inet.tcp.bb.log_auto_ratio=1']);
    const bare = freebsdHost();
    for (const k of Object.keys(bare.knobs)) delete bare.knobs[k];
    expect(await variantApplies(suite().manifest, variant('log-on'), bare.os)).toEqual({
      ok: false,
      reason: 'kernel built without options TCP_BLACKBOX: sysctl net.inet.tcp.bb.log_auto_ratio unknown',
    });
  });

  it('the suite turns logging on inside every log-on repetition before the load, never for log-off', async () => {
    const calls: string[] = [];
    const ctx = {
      fingerprint: { os: 'linux' },
      options: { warmupSec: 0, durationSec: 2 },
      startHttpServer: async () => ({}),
      enableTcpLog: async () => (calls.push('enable'), 'tcp log: on'),
      measureHttp: async () => (calls.push('load'), { durationMs: 2000, metrics: { throughput_gbps: 4 }, counters: { 'tcplog.records': 1000 }, notes: [] }),
    } as unknown as SuiteContext;
    const on = await suite().prepare(ctx, variant('log-on'));
    const m = await on.repetition(0);
    expect(calls).toEqual(['enable', 'load']);
    expect(m.notes).toEqual(['tcp log: on']);
    expect(m.metrics.log_records_per_gb).toBe(1000);
    calls.length = 0;
    await (await suite().prepare(ctx, variant('log-off'))).repetition(0);
    expect(calls).toEqual(['load']);
    expect(recordsPerGb({ durationMs: 1000, metrics: {}, counters: {} } as never)).toEqual({});
  });
});

describe('tcp-log log-off proof on FreeBSD: sessions selected earlier (W8)', () => {
  /**
   * One log-off repetition on the scripted FreeBSD host through the suite's own code: the load
   * double reads the tcplog counters before and after, and in between ends what is still
   * lingering (a TIME_WAIT from log-on reaching its 2 x MSL during the load) and allocates
   * `fresh` records for sessions selected during log-off. Each poll second ends one lingering
   * session when `ending` (TIME_WAIT timers running out), none otherwise (still established).
   */
  async function logOffRepetition(h: ReturnType<typeof freebsdHost>, o: { fresh: number; ending: boolean; endAtLoad?: boolean }) {
    const real = pollClock.sleep;
    pollClock.sleep = async () => void (o.ending && h.discard(1));
    try {
      const ctx = {
        fingerprint: { os: 'freebsd' },
        options: { warmupSec: 0, durationSec: 2 },
        startHttpServer: async () => ({}),
        awaitTcpLogDrained: () => h.os.awaitTcpLogDrained(),
        measureHttp: async () => {
          const a = await h.os.counters(['tcplog']);
          if (o.endAtLoad !== false) h.discard();
          h.zone.req += o.fresh;
          const b = await h.os.counters(['tcplog']);
          return { durationMs: 2000, metrics: { throughput_gbps: 4 }, counters: { 'tcplog.records': b['tcplog.records'] - a['tcplog.records'] }, notes: [] };
        },
      } as unknown as SuiteContext;
      return await (await suite().prepare(ctx, variant('log-off'))).repetition(0);
    } finally {
      pollClock.sleep = real;
    }
  }

  it('records of log-on sessions that end during log-off do not fail the proof: the repetition starts once none is allocated', async () => {
    const h = freebsdHost();
    h.lingering.push(40, 12, 7); // three log-on sessions in TIME_WAIT, holding 59 records
    const m = await logOffRepetition(h, { fresh: 0, ending: true });
    expect(m.proofFailures ?? []).toEqual([]);
    expect(h.lingering).toEqual([]);
    expect(h.t.transcript.filter((c) => c === 'sysctl -n net.inet.tcp.bb.log_global_entries').length).toBeGreaterThan(1);
    expect(h.t.transcript).toContain('sysctl -n net.inet.tcp.msl');
    expect(m.notes).toEqual([expect.stringMatching(/^tcp log: waited \d+ s for records of sessions selected earlier to end \(net\.inet\.tcp\.bb\.log_global_entries reached 0\)$/)]);
  });

  it('a record of a session selected during log-off still fails it', async () => {
    const h = freebsdHost();
    h.lingering.push(40, 12, 7);
    const m = await logOffRepetition(h, { fresh: 1, ending: true });
    expect(m.proofFailures).toEqual(['TCP black-box logging off, yet 1 tcp_log records were allocated (vmstat -z zone tcp_log): sessions were still logged']);
  });

  it('records of earlier sessions that outlive the wait: no record in the repetition passes with a note; a record fails as not attributable, never passes', async () => {
    const h = freebsdHost();
    h.lingering.push(40); // a log-on session that does not end (still established)
    const quiet = await logOffRepetition(h, { fresh: 0, ending: false, endAtLoad: false });
    expect(quiet.proofFailures ?? []).toEqual([]);
    expect(quiet.notes).toEqual([expect.stringMatching(/^tcp log: waited \d+ s for records of sessions selected earlier to end \(net\.inet\.tcp\.bb\.log_global_entries still 40\)$/)]);
    // It waited at least 2 x the box's MSL, polling once a second.
    const polls = h.t.transcript.filter((c) => c === 'sysctl -n net.inet.tcp.bb.log_global_entries').length - 1;
    expect(polls).toBeGreaterThanOrEqual((2 * Number(h.knobs['net.inet.tcp.msl'])) / 1000);
    const ended = await logOffRepetition(h, { fresh: 0, ending: false, endAtLoad: true });
    expect(ended.proofFailures).toEqual([
      expect.stringMatching(/^TCP black-box logging off, yet 1 tcp_log records were allocated \(vmstat -z zone tcp_log\) while 40 records of sessions selected before this repetition were still allocated after waiting \d+ s \(net\.inet\.tcp\.bb\.log_global_entries; bound 2 x net\.inet\.tcp\.msl \(2000 ms\) \+ 10 s\): .*cannot be told$/),
    ]);
  });
});
