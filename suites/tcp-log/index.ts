import { defineSuite, variantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/** Log records written per GB served: how much logging the repetition did (tcplog.records is the log's own counter). */
export function recordsPerGb(m: RepetitionMeasurement): Record<string, number> {
  const records = m.counters['tcplog.records'];
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  return records === undefined || gb <= 0 ? {} : { log_records_per_gb: records / gb };
}

/**
 * FreeBSD log-off must log nothing: with log_auto_ratio=0 tcp_log_selectauto() selects no new
 * session (tcp_log_buf.c), so the tcp_log zone's REQ must not move. Returns the failures.
 */
export function logOffProof(os: string, logging: boolean, counters: Record<string, number>): string[] {
  if (os !== 'freebsd' || logging) return [];
  const records = counters['tcplog.records'];
  if (records === undefined) return ['TCP black-box logging off: counter tcplog.records (vmstat -z zone tcp_log) was not readable'];
  return records === 0 ? [] : [`TCP black-box logging off, yet ${records} tcp_log records were allocated (vmstat -z zone tcp_log): sessions were still logged`];
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
      const m = await ctx.measureHttp(server, { durationSec, label, objects: variant.objects, connections: variant.connections });
      Object.assign(m.metrics, recordsPerGb(m));
      if (note) m.notes.push(note);
      const off = logOffProof(ctx.fingerprint.os, logging, m.counters);
      if (off.length) m.proofFailures = [...(m.proofFailures ?? []), ...off];
      return m;
    };
    return variantSession(ctx, variant, measure);
  },
});
