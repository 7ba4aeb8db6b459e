import { defineSuite, httpVariantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/** Share of the bytes served that the kernel had to read from disk in the repetition (Linux pgpgin is KiB; FreeBSD counts 4 KiB pages read by sendfile). */
export function diskReadPct(m: RepetitionMeasurement): Record<string, number> {
  const c = m.counters;
  const readBytes = c['vmstat.pgpgin'] !== undefined ? c['vmstat.pgpgin'] * 1024 : c['netstat-m.sendfile-pages-sent'] !== undefined ? c['netstat-m.sendfile-pages-sent'] * 4096 : undefined;
  const sentBytes = ((m.metrics.throughput_gbps ?? 0) * 1e9 * m.durationMs) / 1000 / 8;
  return readBytes === undefined || sentBytes <= 0 ? {} : { disk_read_pct: (100 * readBytes) / sentBytes };
}

/** sendfile suite: one nginx per variant, closed-model HTTP load (hot or cold cache), every body verified. */
export default defineSuite({
  prepare: (ctx, variant) => httpVariantSession(ctx, variant, diskReadPct),
});
