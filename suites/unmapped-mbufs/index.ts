import { defineSuite, httpVariantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/** mbuf zone allocations (vmstat -z REQ deltas of the mbuf and extpgs zones) per GB of body served. */
export function mbufRequestsPerGB(m: RepetitionMeasurement): Record<string, number> {
  const keys = Object.keys(m.counters).filter((k) => /^uma\.(mbuf|.*extpgs).*\.req$/.test(k));
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  if (!keys.length || gb <= 0) return {};
  return { mbuf_req_per_gb: keys.reduce((a, k) => a + m.counters[k], 0) / gb };
}

/** unmapped-mbufs suite: the sendfile HTTP session with mb_use_ext_pgs set per variant (FreeBSD). */
export default defineSuite({
  prepare: (ctx, variant) => httpVariantSession(ctx, variant, mbufRequestsPerGB),
});
