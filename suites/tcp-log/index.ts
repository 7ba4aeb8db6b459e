import { defineSuite, variantSession, type RepetitionMeasurement, type TcpLogDrain } from '../../harness/engine/suite.js';

/** Log records written per GB served: how much logging the repetition did (tcplog.records is the log's own counter). */
export function recordsPerGb(m: RepetitionMeasurement): Record<string, number> {
  const records = m.counters['tcplog.records'];
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  return records === undefined || gb <= 0 ? {} : { log_records_per_gb: records / gb };
}

/**
 * FreeBSD log-off must log nothing: with log_auto_ratio=0 tcp_log_selectauto() selects no new
 * session (tcp_log_buf.c), so the tcp_log zone's REQ must not move. Sessions selected while
 * logging was on (log-on, a warm-up) log TCP_LOG_CONNEND when they end, out of TIME_WAIT up to
 * 2 x MSL later: before the repetition the suite waits until none of their records is allocated
 * (net.inet.tcp.bb.log_global_entries = 0, `drain`), so what REQ counts here is new sessions.
 * Records still alive after that wait make the proof impossible, which is reported, never
 * passed. Returns the failures.
 */
export function logOffProof(os: string, logging: boolean, counters: Record<string, number>, drain?: TcpLogDrain | null): string[] {
  if (os !== 'freebsd' || logging) return [];
  const out: string[] = [];
  if (drain && drain.alive === null) out.push('TCP black-box logging off: net.inet.tcp.bb.log_global_entries was not readable, so records of sessions selected earlier cannot be told from new ones');
  else if (drain && drain.alive !== null && drain.alive > 0)
    out.push(`TCP black-box logging off: ${drain.alive} tcp_log records of sessions selected before this repetition were still allocated after ${drain.waitedSec} s (net.inet.tcp.bb.log_global_entries; bound ${drain.how}); those sessions log when they end, so this repetition's records cannot be told from new ones`);
  const records = counters['tcplog.records'];
  if (records === undefined) return [...out, 'TCP black-box logging off: counter tcplog.records (vmstat -z zone tcp_log) was not readable'];
  return records === 0 ? out : [...out, `TCP black-box logging off, yet ${records} tcp_log records were allocated (vmstat -z zone tcp_log): sessions were still logged`];
}

/**
 * tcp-log suite: the same HTTP load with the kernel's TCP event log off and on. The log is
 * turned on inside each repetition (before the load opens its connections: FreeBSD picks the
 * sessions to log when a connection is created) and undone when the repetition ends.
 */
export default defineSuite({
  // FreeBSD's log-off sets net.inet.tcp.bb.log_auto_ratio, which exists only with options TCP_BLACKBOX (log-on requires it anyway).
  probe: async (ctx, variant) => (ctx.fingerprint.os === 'freebsd' && variant.params?.tcpLog !== true ? ctx.capability('tcp-log') : { ok: true }),
  async prepare(ctx, variant) {
    const server = await ctx.startHttpServer(variant);
    const logging = variant.params?.tcpLog === true;
    const measure = async (durationSec: number, label: string) => {
      const note = logging ? await ctx.enableTcpLog() : null;
      // Log-off on FreeBSD: records of sessions selected earlier must be gone before the counters' first read (W8).
      const drain = !logging && ctx.fingerprint.os === 'freebsd' ? await ctx.awaitTcpLogDrained() : null;
      const m = await ctx.measureHttp(server, { durationSec, label, objects: variant.objects, connections: variant.connections });
      Object.assign(m.metrics, recordsPerGb(m));
      if (note) m.notes.push(note);
      if (drain && drain.waitedSec > 0) m.notes.push(`tcp log: waited ${drain.waitedSec} s for records of sessions selected earlier to end (net.inet.tcp.bb.log_global_entries ${drain.alive === 0 ? 'reached 0' : `still ${drain.alive}`})`);
      const off = logOffProof(ctx.fingerprint.os, logging, m.counters, drain);
      if (off.length) m.proofFailures = [...(m.proofFailures ?? []), ...off];
      return m;
    };
    return variantSession(ctx, variant, measure);
  },
});
