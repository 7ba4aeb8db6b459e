/**
 * Fixed-throughput comparisons (--fixed-throughput): machine CPU % is only comparable between
 * two sides that were offered the same load and carried it. Under "N%" each run takes its offer
 * from its own warm-up, so a slower kernel is offered less and looks cheaper; a side that could
 * not carry its offer measured CPU at a lighter load. Both make the metric unusable, never a pass.
 *
 * Pure: numbers in, reasons out.
 */

/** Metrics that describe the offered load under --fixed-throughput (CPU at that rate). */
export const AT_OFFERED_LOAD: ReadonlySet<string> = new Set(['machine_cpu_pct']);

/** Offers further apart than this (relative to the reference's) are different loads. */
export const OFFERED_TOLERANCE = 0.02;

/** A repetition that carried less than this share of its offer did not measure that load. */
export const CARRIED_SHARE = 0.98;

const gbps = (x: number) => `${x.toFixed(3)} Gb/s`;

/** Whether a repetition's throughput fell short of the offered load (false when nothing was offered). */
export function offerNotCarried(throughputGbps: number | undefined, offered: number | undefined): boolean {
  return offered !== undefined && offered > 0 && throughputGbps !== undefined && throughputGbps < CARRIED_SHARE * offered;
}

/**
 * Whether this side's offer differs from the reference's by more than OFFERED_TOLERANCE. A
 * reference offer of null means known to have none (closed model: full load), which differs from
 * any offer; undefined means not recorded, which is not checked.
 */
export function offeredDiffers(current: number | undefined, reference: number | null | undefined): boolean {
  if (reference === null) return current !== undefined;
  if (reference === undefined || !(reference > 0)) return false;
  return current === undefined || Math.abs(current - reference) > OFFERED_TOLERANCE * reference;
}

/** The reference's offer for the rule: its recorded one, else null when its options show no --fixed-throughput (full load), else unknown. */
export function referenceOffer(recorded: number | undefined, options: { fixedThroughput?: unknown } | undefined): number | null | undefined {
  if (recorded !== undefined) return recorded;
  return options && options.fixedThroughput === undefined ? null : undefined;
}

/** The comparability line for a suite whose offers differ (for Comparison.fingerprintDifferences), or undefined. */
export function offeredDifference(suite: string, current: number | undefined, reference: number | undefined): string | undefined {
  // A reference without an offer is already named by the options' difference (fixed throughput: none -> ...).
  if (!offeredDiffers(current, reference)) return undefined;
  return `${suite}: offered load (--fixed-throughput) ${gbps(reference!)} -> ${current === undefined ? 'none' : gbps(current)}`;
}

/** One side of a comparison as the offered-load rule sees it. */
export interface OfferedSide {
  /** How the reason names this side ("this run", "the reference baseline", "A", "B"). */
  name: string;
  /** The suite's offered load, Gb/s (absent: unknown or none; null: known none, the closed model's full load). */
  offeredGbps?: number | null;
  /** throughput_gbps of each repetition (what was carried). */
  throughputGbps: readonly (number | undefined)[];
}

/**
 * Why a metric measured at the offered load cannot be compared, or undefined when it can: the two
 * offers differ by more than 2% (both rates named), or repetitions of either side did not carry
 * their offer (throughput below 98% of it). Other metrics are never affected.
 */
export function offeredLoadRule(metric: string, current: OfferedSide, reference: OfferedSide): string | undefined {
  if (!AT_OFFERED_LOAD.has(metric)) return undefined;
  const cur = current.offeredGbps ?? undefined;
  if (offeredDiffers(cur, reference.offeredGbps)) {
    const load = (x: number | null | undefined) => (typeof x === 'number' ? gbps(x) : 'no fixed load (closed model: full load)');
    const fix = typeof reference.offeredGbps === 'number' ? `give both sides the same rate in Gb/s: --fixed-throughput ${reference.offeredGbps.toFixed(3)}` : 'compare with a reference measured under --fixed-throughput';
    return (
      `offered load differs: ${current.name} was offered ${load(cur)}, ${reference.name} ${load(reference.offeredGbps)}` +
      `${typeof reference.offeredGbps === 'number' ? ` (more than ${OFFERED_TOLERANCE * 100}% apart)` : ''}, so ${metric} compares CPU at two different loads; no verdict on this metric (${fix})`
    );
  }
  const short = [current, reference]
    .map((s) => ({ s, n: s.throughputGbps.filter((t) => offerNotCarried(t, s.offeredGbps ?? undefined)).length }))
    .filter((x) => x.n > 0);
  if (!short.length) return undefined;
  const which = short.map(({ s, n }) => `${n} of ${s.throughputGbps.length} repetitions of ${s.name} carried less than ${CARRIED_SHARE * 100}% of the ${gbps(s.offeredGbps!)} offered`).join(' and ');
  return `offered load not carried: ${which}, so ${metric} describes a lighter load than the one compared; no verdict on this metric (offer less: a lower --fixed-throughput)`;
}

/** One side of a comparison of a variant that may have run at a shared-machine offer (--load-model auto). */
export interface VariantOfferSide {
  /** How the reason names this side. */
  name: string;
  /** The rate this side's variant was offered, Gb/s (absent: it ran the closed model). */
  offeredGbps?: number;
}

/**
 * Why no metric of a variant can be compared, or undefined when it can: one side ran it at a fixed
 * offered rate (the load shared the machine, --load-model auto) and the other ran it closed, or at
 * a rate more than 2% apart. Throughput, CPU per Gb/s and latency all depend on the load, so every
 * metric of the variant is affected, not only machine CPU %.
 */
export function variantOfferRule(current: VariantOfferSide, reference: VariantOfferSide): string | undefined {
  const a = current.offeredGbps;
  const b = reference.offeredGbps;
  if (a === undefined && b === undefined) return undefined;
  if (a !== undefined && b !== undefined && Math.abs(a - b) <= OFFERED_TOLERANCE * b) return undefined;
  const load = (x: number | undefined) => (x === undefined ? 'the closed model (full load)' : `a fixed ${gbps(x)}`);
  return (
    `offered load differs: ${current.name} ran this variant at ${load(a)}, ${reference.name} at ${load(b)}, so its metrics describe two different loads; ` +
    `no verdict on this metric (compare runs measured the same way: the same --load-model and CPU split, or promote a baseline measured so)`
  );
}
