import * as hdr from 'hdr-histogram-js';
import { infraError } from '../model/errors.js';
import type { HttpLoadResult } from './http.js';
import { latencySummary } from './verify.js';

/** Failures kept per merged result, as one client keeps them. */
const MAX_FAILURES = 20;

/**
 * Merges the results of load clients that ran at the same time against one server. Latency
 * percentiles come from the sum of the clients' HDR histograms (never an average of percentiles),
 * counts and bytes add up (open model: the offered rates too), the duration is the longest
 * client's, and every client that saturated its core is named.
 */
export function mergeLoadResults(parts: { name: string; result: HttpLoadResult }[]): HttpLoadResult {
  if (parts.length === 0) throw infraError('merge: no client results');
  const merge = (key: 'latency' | 'ttfb') => {
    const encoded = parts.map((p) => p.result.histograms?.[key]).filter((x): x is string => Boolean(x));
    if (encoded.length === 0) return undefined;
    if (encoded.length !== parts.length && key === 'latency') throw infraError(`merge: a client sent no ${key} histogram`);
    // The open model's range (an hour: latency from the due time includes queueing); the closed
    // model's two minutes fit inside it.
    const total = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
    for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e));
    return total;
  };
  const lat = merge('latency')!;
  const ttfb = merge('ttfb');
  const sum = (f: (r: HttpLoadResult) => number) => parts.reduce((a, p) => a + f(p.result), 0);
  const clients = parts.map((p) => ({
    name: p.name,
    requests: p.result.requests,
    bodyBytes: p.result.bodyBytes,
    clientCpu: p.result.clientCpu,
    ...(p.result.clientDemand !== undefined ? { clientDemand: p.result.clientDemand } : {}),
    clientBound: p.result.clientBound,
    ...(p.result.clientBoundReason ? { clientBoundReason: p.result.clientBoundReason } : {}),
    ...(p.result.startedAtMs !== undefined ? { startedAtMs: p.result.startedAtMs } : {}),
  }));
  // The clients' windows should coincide (the start barrier); how far apart they started, when all said.
  const starts = clients.flatMap((c) => (c.startedAtMs !== undefined ? [c.startedAtMs] : []));
  const skew = starts.length === clients.length && starts.length > 1 ? Math.max(...starts) - Math.min(...starts) : undefined;
  const demands = clients.flatMap((c) => (c.clientDemand !== undefined ? [c.clientDemand] : []));
  // Open model: the offer is every client's share added up; a client that sent none ran closed.
  const offers = parts.flatMap((p) => (p.result.offeredRate !== undefined ? [p.result.offeredRate] : []));
  if (offers.length && offers.length !== parts.length) throw infraError('merge: some clients ran the open model and some the closed one');
  const out: HttpLoadResult = {
    durationSec: Math.max(...parts.map((p) => p.result.durationSec)),
    requests: sum((r) => r.requests),
    bodyBytes: sum((r) => r.bodyBytes),
    wireBytes: sum((r) => r.wireBytes),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    verification: {
      verified: sum((r) => r.verification.verified),
      failed: sum((r) => r.verification.failed),
      failures: parts.flatMap((p) => p.result.verification.failures.map((f) => ({ path: f.path, reason: `${p.name}: ${f.reason}` }))).slice(0, MAX_FAILURES),
    },
    // A decoded histogram knows its max only to bucket resolution; the clients' own maxima are exact.
    latencyUs: { ...latencySummary(lat), max: Math.max(...parts.map((p) => p.result.latencyUs.max)) },
    ...(ttfb ? { ttfbUs: { ...latencySummary(ttfb), max: Math.max(...parts.map((p) => p.result.ttfbUs?.max ?? 0)) } } : {}),
    // The busiest client decides whether the load, not the target, set the pace.
    clientCpu: Math.max(...clients.map((c) => c.clientCpu)),
    ...(demands.length ? { clientDemand: Math.max(...demands) } : {}),
    ...(skew !== undefined ? { clientSkewMs: skew } : {}),
    ...(offers.length ? { offeredRate: offers.reduce((a, x) => a + x, 0) } : {}),
    // Each client judged itself against the CPUs it may use on its own host.
    clientBound: clients.some((c) => c.clientBound),
    histograms: { latency: hdr.encodeIntoCompressedBase64(lat), ...(ttfb ? { ttfb: hdr.encodeIntoCompressedBase64(ttfb) } : {}) },
    clients,
  };
  return out;
}
