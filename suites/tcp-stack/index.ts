import { defineSuite, variantSession } from '../../harness/engine/suite.js';
import type { Impairment } from '../../harness/engine/suite.js';
import type { VariantDef } from '../../harness/model/types.js';

/** The variant's impairment from its params (imp.rateMbit, imp.queueMs, imp.delayMs, imp.lossPct). */
export function impairmentOf(v: VariantDef): Impairment {
  const p = v.params ?? {};
  const num = (k: string) => (p[`imp.${k}`] === undefined ? undefined : Number(p[`imp.${k}`]));
  return { rateMbit: num('rateMbit') ?? 200, queueMs: num('queueMs') ?? 10, delayMs: num('delayMs'), lossPct: num('lossPct') };
}

/** Two flows compete for the bottleneck: goodput, fairness, RTT and retransmits per algorithm. */
const FLOWS = 2;

/**
 * tcp-stack suite: one bottleneck path per variant; each repetition is a bulk transfer (iperf3,
 * two flows) and then an HTTP load through nginx in the server namespace, both through the bottleneck.
 * On FreeBSD the path's client side is a VNET jail on the target, out of the HTTP load client's
 * reach: the repetition is the bulk transfer alone (the HTTP metrics are not gating).
 */
export default defineSuite({
  async prepare(ctx, variant) {
    const b = await ctx.bottleneck(impairmentOf(variant));
    const server = b.httpThroughPath ? await ctx.startHttpServer(variant, { bottleneck: b }) : null;
    const cc = variant.params?.cc === undefined ? undefined : String(variant.params.cc);
    const measure = async (durationSec: number, label: string) => {
      if (cc && ctx.fingerprint.os === 'linux') {
        // A namespace may only pick an algorithm the host allows (else EPERM): allow it for the
        // repetition, then set it in the server namespace so nginx's connections use it too.
        // The list is global (init namespace only): on a netns target it lives on the lab's host.
        const allowed = (await ctx.getKnob('net.ipv4.tcp_allowed_congestion_control', 'path-host')).split(/\s+/);
        if (!allowed.includes(cc)) await ctx.setKnob('net.ipv4.tcp_allowed_congestion_control', [...allowed, cc].join(' '), 'path-host');
        await ctx.setServerNamespaceKnob(b, 'net.ipv4.tcp_congestion_control', cc);
      }
      const bulk = await ctx.measureTcp(b, { congestion: cc, flows: FLOWS, durationSec, label: `${label} bulk` });
      if (!server) return { ...bulk, notes: [...bulk.notes, 'HTTP half skipped: the client side of this path is a jail on the target'] };
      const http = await ctx.measureHttp(server, { durationSec, label: `${label} http`, objects: 'segment', connections: 4 });
      return {
        ...bulk,
        durationMs: bulk.durationMs + http.durationMs,
        metrics: {
          ...bulk.metrics,
          throughput_gbps: http.metrics.throughput_gbps,
          latency_p99_ms: http.metrics.latency_p99_ms,
          verification_failures: http.metrics.verification_failures,
        },
        counters: { ...bulk.counters, ...Object.fromEntries(Object.entries(http.counters).map(([k, v]) => [`http.${k}`, v])) },
        ...(http.tailSamples?.latency_p99_ms !== undefined ? { tailSamples: { latency_p99_ms: http.tailSamples.latency_p99_ms } } : {}),
        verification: http.verification,
        notes: [...bulk.notes, ...http.notes],
      };
    };
    return variantSession(ctx, variant, measure);
  },
});
