import { defineSuite, variantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/** Log records written per GB served: how much logging the repetition did (tcplog.records is the log's own counter). */
export function recordsPerGb(m: RepetitionMeasurement): Record<string, number> {
  const records = m.counters['tcplog.records'];
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  return records === undefined || gb <= 0 ? {} : { log_records_per_gb: records / gb };
}

/**
 * tcp-log suite: the same HTTP load with the kernel's TCP event log off and on. The log is
 * turned on inside each repetition (before the load opens its connections: FreeBSD picks the
 * sessions to log when a connection is created) and undone when the repetition ends.
 */
export default defineSuite({
  async prepare(ctx, variant) {
    const server = await ctx.startHttpServer(variant);
    const logging = variant.params?.tcpLog === true;
    const measure = async (durationSec: number, label: string) => {
      const note = logging ? await ctx.enableTcpLog() : null;
      const m = await ctx.measureHttp(server, { durationSec, label, objects: variant.objects, connections: variant.connections });
      Object.assign(m.metrics, recordsPerGb(m));
      if (note) m.notes.push(note);
      return m;
    };
    return variantSession(ctx, variant, measure);
  },
});
