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
 * No record at all passes whatever was still allocated. Records while earlier sessions still
 * held some after the wait (or with the gauge unreadable) cannot be attributed: a failure that
 * says so, never a pass. Returns the failures.
 */
export function logOffProof(os: string, logging: boolean, counters: Record<string, number>, drain?: TcpLogDrain | null): string[] {
  if (os !== 'freebsd' || logging) return [];
  const records = counters['tcplog.records'];
  if (records === undefined) return ['TCP black-box logging off: counter tcplog.records (vmstat -z zone tcp_log) was not readable'];
  if (records === 0) return [];
  if (drain && drain.alive === null) return [`TCP black-box logging off, yet ${records} tcp_log records were allocated (vmstat -z zone tcp_log), and net.inet.tcp.bb.log_global_entries was not readable: whether sessions selected earlier or new ones logged them cannot be told`];
  if (drain && drain.alive !== null && drain.alive > 0) {
    return [`TCP black-box logging off, yet ${records} tcp_log records were allocated (vmstat -z zone tcp_log) while ${drain.alive} records of sessions selected before this repetition were still allocated after waiting ${drain.waitedSec} s (net.inet.tcp.bb.log_global_entries; bound ${drain.how}): those sessions log when they end, so whether new sessions were logged cannot be told`];
  }
  return [`TCP black-box logging off, yet ${records} tcp_log records were allocated (vmstat -z zone tcp_log): sessions were still logged`];
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
      if (drain && (drain.waitedSec > 0 || drain.alive !== 0)) {
        const state = drain.alive === null ? 'unreadable' : drain.alive === 0 ? 'reached 0' : `still ${drain.alive}`;
        m.notes.push(`tcp log: waited ${drain.waitedSec} s for records of sessions selected earlier to end (net.inet.tcp.bb.log_global_entries ${state})`);
      }
      const off = logOffProof(ctx.fingerprint.os, logging, m.counters, drain);
      if (off.length) m.proofFailures = [...(m.proofFailures ?? []), ...off];
      return m;
    };
    return variantSession(ctx, variant, measure);
  },
});
