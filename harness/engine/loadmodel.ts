import type { RunOptions, SuiteManifest, VariantDef } from '../model/types.js';
import { variantProbes } from '../probes/registry.js';

/**
 * The load model where the load shares the server's machine (--load-model auto). Under the CPU
 * split the load client gets as many CPUs as the server or fewer, and receiving and verifying a
 * byte costs it about what sending it from the page cache costs nginx (userspace TLS: decrypting
 * about what encrypting costs). At full load such a client cannot keep the 20% headroom a
 * repetition needs, so the figure would be the client's. Those variants run at a fixed offered
 * rate instead, below the client's capacity, and gate what the server does at that rate: CPU per
 * Gb/s, the throughput it carried and the latency. Cold-cache variants are disk-bound (their
 * client keeps its headroom) and stay closed; so does the browser client (a page load, not a rate).
 */

/** Share of the suite's lowest closed-model warm-up throughput offered to its fixed-rate variants. */
export const SHARED_OFFER_SHARE = 0.6;

/** Whether this variant runs at a fixed offered rate in this run (pure). */
export function runsAtSharedOffer(
  m: Pick<SuiteManifest, 'probes' | 'metrics'>,
  v: VariantDef,
  o: Pick<RunOptions, 'loadModel' | 'split' | 'rate' | 'fixedThroughput'>,
  hasClients: boolean,
): boolean {
  if ((o.loadModel ?? 'auto') !== 'auto' || !o.split || hasClients) return false;
  // The user chose a model for every variant (--rate, --fixed-throughput): that one.
  if (o.rate !== undefined || o.fixedThroughput !== undefined) return false;
  if (v.cache === 'cold' || v.client === 'browser') return false;
  // Only where an HTTP figure gates: tcp-stack's HTTP load crosses a 200 Mbit/s bottleneck and
  // gates on the TCP probe's figures, so its client never sets the pace.
  const http = variantProbes(m, v).find((p) => p.id === 'http');
  return !!http && m.metrics.some((d) => d.gating && http.metrics.some((pm) => pm.id === d.id));
}

/** The offer of a suite's fixed-rate variants: the reference's when it has one (so both sides carry one load), else a share of the lowest warm-up. */
export function sharedOffer(
  referenceGbps: number | undefined,
  warmupGbps: readonly number[],
): { gbps: number; from: string } | null {
  if (referenceGbps !== undefined && referenceGbps > 0) return { gbps: referenceGbps, from: "the reference's offer" };
  const ok = warmupGbps.filter((x) => Number.isFinite(x) && x > 0);
  if (!ok.length) return null;
  const low = Math.min(...ok);
  return {
    gbps: SHARED_OFFER_SHARE * low,
    from: `${SHARED_OFFER_SHARE * 100}% of the lowest warm-up (${ok.map((x) => x.toFixed(3)).join(', ')} Gb/s)`,
  };
}

/** The plan's line, said before any load: which variants run at a fixed rate and why, which stay closed. */
export function sharedOfferPlan(fixed: string[], closed: string[]): string | undefined {
  if (!fixed.length) return undefined;
  return (
    `load model: the load shares this machine with the server (CPU split), and a client on as few CPUs as the server cannot keep 20% headroom at full load, ` +
    `so ${fixed.join(', ')} run at a fixed offered rate (${SHARED_OFFER_SHARE * 100}% of each suite's lowest warm-up, or the baseline's offer) and gate CPU per Gb/s, throughput carried and latency there` +
    `${closed.length ? `; ${closed.join(', ')} run at full load` : ''} (--load-model closed: every variant at full load)`
  );
}
