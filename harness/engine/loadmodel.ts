import type { RunOptions, SuiteManifest, VariantDef } from '../model/types.js';
import { variantProbes } from '../probes/registry.js';

/**
 * The load model where the load shares the server's machine (--load-model auto). Under the CPU
 * split the load client gets as many CPUs as the server or fewer, and receiving and verifying a
 * byte costs it about what sending it from the page cache costs nginx (userspace TLS: decrypting
 * about what encrypting costs). At full load such a client cannot keep the 20% headroom a
 * repetition needs, so the figure would be the client's. Those variants (page-cache HTTP variants
 * whose figures gate) run at a fixed offered rate instead, below the client's capacity, and gate
 * what the server does at that rate: CPU per Gb/s, the throughput it carried, latency and TTFB.
 * Cold-cache variants stay at full load, their point being the disk path at full load, unless
 * their own full-load warm-up already left the client no headroom (a "disk" faster than the client:
 * on the development VM a loop device on RAM-backed storage served cold-aio-threads at 15-18 Gb/s,
 * client-bound in every repetition): then they join their suite's rate. In a gate the reference
 * decides instead, variant by variant, so both sides ran alike: its rate, or full load where it
 * ran at full load. (A 1 s warm-up cannot clear a page-cache variant: its connection set-up and TLS
 * handshakes left the client under 80% where the repetitions that followed were at 83-88%. A
 * client-bound warm-up may also be a start-up artefact, which costs a cold set only its operating
 * point: it then runs at the rate, validly, instead of at full load.)
 */

/** Share of the suite's lowest closed-model warm-up throughput offered to its fixed-rate variants. */
export const SHARED_OFFER_SHARE = 0.5;

/**
 * The client demand a fixed rate is planned for, as a share of the CPU the client may use: the
 * headroom rule calls 80% client-bound, and a repetition's demand scatters about 10 points
 * around its median (pbuf/hot-sendfile at 11.5 Gb/s: 61-83%, median 74%, 2026-12-08).
 */
export const PLANNED_CLIENT_DEMAND = 0.6;

/**
 * The open model's client CPU per byte over the closed model's at the warm-up (the open model
 * keeps more connections idle and wakes per due request): pbuf/hot-sendfile's client took a
 * median 74% of its CPU carrying 11.5 Gb/s open, after a closed warm-up that took all of it for
 * 23.0 Gb/s, so 0.064 against 0.044 of a CPU per Gb/s, 1.5x (bench/open-capacity.ts measured
 * 1.6-2x for the client's kernel time alone at equal rates).
 */
export const OPEN_CLIENT_COST = 1.5;

/**
 * The highest rate one candidate's client can carry in the open model at PLANNED_CLIENT_DEMAND,
 * from its closed warm-up: throughput and the client's demand (0..1) there. Undefined when the
 * warm-up did not record the demand.
 */
export function clientCapGbps(warmGbps: number | undefined, warmDemand: number | undefined): number | undefined {
  if (!warmGbps || warmGbps <= 0 || warmDemand === undefined || !(warmDemand > 0)) return undefined;
  // A warm-up with the client past its CPU (demand over 1 counts waiting) still carried warmGbps on one CPU's worth.
  return (PLANNED_CLIENT_DEMAND * warmGbps) / (OPEN_CLIENT_COST * Math.min(1, warmDemand));
}

/** How a variant may come to run at its suite's fixed rate: always, or only after a client-bound warm-up. */
export type SharedOfferKind = 'always' | 'if-client-bound';

/**
 * Whether this variant may run at a fixed offered rate in this run (pure): 'always' (page-cache
 * candidates), 'if-client-bound' (cold sets: only when their full-load warm-up left the client no
 * headroom), or false. The plan names both kinds before any load.
 */
export function runsAtSharedOffer(
  m: Pick<SuiteManifest, 'probes' | 'metrics'>,
  v: VariantDef,
  o: Pick<RunOptions, 'loadModel' | 'split' | 'rate' | 'fixedThroughput'>,
  hasClients: boolean,
): SharedOfferKind | false {
  if ((o.loadModel ?? 'auto') !== 'auto' || !o.split || hasClients) return false;
  // The user chose a model for every variant (--rate, --fixed-throughput): that one.
  if (o.rate !== undefined || o.fixedThroughput !== undefined) return false;
  // The browser client loads pages; its figures are not a rate.
  if (v.client === 'browser') return false;
  // Only where an HTTP figure gates: tcp-stack's HTTP load crosses a 200 Mbit/s bottleneck and
  // gates on the TCP probe's figures, so its client never sets the pace.
  const http = variantProbes(m, v).find((p) => p.id === 'http');
  if (!http || !m.metrics.some((d) => d.gating && http.metrics.some((pm) => pm.id === d.id))) return false;
  return v.cache === 'cold' ? 'if-client-bound' : 'always';
}

/**
 * How the reference ran a variant: at this rate (Gb/s), at full load (null), or unknown
 * (undefined: no reference, or it has no such variant). What a gate follows.
 */
export type ReferenceLoad = number | null | undefined;

/** One candidate after its warm-up: its throughput and how the reference ran it. */
export interface WarmedCandidate {
  id: string;
  gbps?: number;
  /** The load client's demand during the warm-up, 0..1 (absent: not recorded). */
  clientDemand?: number;
  reference: ReferenceLoad;
}

/** Which candidates of a suite run at a fixed rate, at what rate and why (pure). */
export interface SharedOfferChoice {
  /** Variant ids that run at `gbps`. */
  fixed: string[];
  /** Variant ids that stay at full load. */
  closed: string[];
  gbps?: number;
  /** Where the rate came from, in words. */
  from?: string;
}

/**
 * Decides a suite's candidates: the reference's choice where it has one (its rate, or full load),
 * else a fixed rate at SHARED_OFFER_SHARE of the lowest of their warm-ups, lowered to the lowest
 * clientCapGbps of the fixed candidates where that is less. A candidate without a
 * warm-up throughput and no reference rate stays at full load (the headroom rule then judges it).
 */
export function chooseSharedOffer(cands: readonly WarmedCandidate[]): SharedOfferChoice {
  const refRate = cands.map((c) => c.reference).find((r): r is number => typeof r === 'number' && r > 0);
  const fixed: string[] = [];
  const closed: string[] = [];
  const warm: number[] = [];
  for (const c of cands) {
    // null: the reference ran it at full load; a rate or no reference: at a rate, if there is one to take.
    if (c.reference !== null && (refRate !== undefined || (c.gbps !== undefined && c.gbps > 0))) {
      fixed.push(c.id);
      if (c.gbps !== undefined && c.gbps > 0) warm.push(c.gbps);
    } else closed.push(c.id);
  }
  if (!fixed.length) return { fixed, closed };
  if (refRate !== undefined) return { fixed, closed, gbps: refRate, from: "the reference's rate" };
  const low = Math.min(...warm);
  const share = `${SHARED_OFFER_SHARE * 100}% of the lowest of their warm-ups (${warm.map((x) => x.toFixed(3)).join(', ')} Gb/s)`;
  // The rate must also leave the client its headroom: the lowest cap of the fixed candidates.
  const caps = cands.flatMap((c) => {
    const cap = fixed.includes(c.id) ? clientCapGbps(c.gbps, c.clientDemand) : undefined;
    return cap === undefined ? [] : [{ id: c.id, cap, c }];
  });
  const tight = caps.length ? caps.reduce((a, b) => (b.cap < a.cap ? b : a)) : undefined;
  if (!tight || tight.cap >= SHARED_OFFER_SHARE * low) return { fixed, closed, gbps: SHARED_OFFER_SHARE * low, from: share };
  return {
    fixed,
    closed,
    gbps: tight.cap,
    from: `the rate ${tight.id}'s load client can carry at ${PLANNED_CLIENT_DEMAND * 100}% of its CPU in the open model (its warm-up: ${tight.c.gbps!.toFixed(3)} Gb/s at ${(tight.c.clientDemand! * 100).toFixed(0)}% demand; the open model costs the client ${OPEN_CLIENT_COST}x per byte), below ${share}`,
  };
}

/** The plan's line, said before any load: the rule, and the variants it may move to a fixed rate. */
export function sharedOfferPlan(candidates: string[], ifClientBound: string[] = []): string | undefined {
  if (!candidates.length && !ifClientBound.length) return undefined;
  const cold = ifClientBound.length
    ? `${candidates.length ? '; ' : ''}the cold-cache ${ifClientBound.join(', ')} stay at full load (the disk path) unless their full-load warm-up leaves the client no headroom, then they join their suite's rate`
    : '';
  return (
    `load model: the load shares this machine with the server (CPU split), and a client on as few CPUs as the server cannot keep 20% headroom at full load against a page-cache variant; ` +
    (candidates.length ? `so ${candidates.join(', ')} run at a fixed offered rate, ${SHARED_OFFER_SHARE * 100}% of their suite's lowest warm-up or less where a warm-up shows the client could not carry that at ${PLANNED_CLIENT_DEMAND * 100}% of its CPU, and gate throughput carried, CPU per Gb/s and latency there` : '') +
    `${cold}; against a baseline, each runs as the baseline ran it (--load-model closed: every variant at full load)`
  );
}
