/**
 * A percentile is an estimate from the samples beyond it: a p99 of 400 responses is the 4th or 5th
 * slowest of them. Such a metric is "not estimated" in a comparison (recorded, with the reason, as
 * `notEstimated`) and does not decide the run (`notGating`), except where that would let a
 * regression through: when this run alone is thin and looks worse beyond the threshold (fewer
 * responses can be the regression itself), when the variant has no other gating metric that can
 * move (a throughput at a fixed offered rate carries the offer by construction), or under
 * --require-mde. Kept, it is judged on its samples like any metric: the test on repetitions stays
 * valid, only its power is low.
 */

/**
 * Fewest samples beyond a percentile, in every repetition of both sides, for the comparison to judge
 * it: with 10 the order statistic's relative scatter is about a third of that with 1 (binomial
 * count of exceedances, sd ~ sqrt(k)), so a p99 needs 1000 responses per repetition, a p99.9 10 000.
 */
export const MIN_TAIL_SAMPLES = 10;

/** A thin percentile: why, and whether only this run's side (not the reference's) is thin. */
export interface ThinTail {
  rule: string;
  currentOnly: boolean;
}

/**
 * Why a percentile metric cannot be estimated from these repetitions, or undefined when it can (or
 * when neither side recorded its tail: runs and baselines from before it was recorded).
 */
export function thinTail(
  metric: string,
  current: readonly number[],
  reference: readonly number[],
  names = { current: 'this run', reference: 'the reference' },
): ThinTail | undefined {
  const low = (xs: readonly number[]) => (xs.length ? Math.min(...xs) : Infinity);
  const cur = low(current);
  const ref = low(reference);
  if (cur >= MIN_TAIL_SAMPLES && ref >= MIN_TAIL_SAMPLES) return undefined;
  const sides = [
    cur < MIN_TAIL_SAMPLES ? `${cur} in a repetition of ${names.current}` : '',
    ref < MIN_TAIL_SAMPLES ? `${ref} in one of ${names.reference}` : '',
  ].filter(Boolean);
  const fix =
    ref < MIN_TAIL_SAMPLES
      ? 'longer repetitions on both sides (--duration; a baseline promoted from such a run)'
      : 'a longer --duration';
  return {
    rule: `not estimated: ${metric} is a percentile with as few as ${sides.join(' and ')} samples beyond it; judging it needs at least ${MIN_TAIL_SAMPLES} in every repetition (${fix})`,
    currentOnly: ref >= MIN_TAIL_SAMPLES,
  };
}

/** One comparison row of a variant, as the demotion sees it. */
export interface TailRow {
  gating: boolean;
  thin?: ThinTail;
  /** The point estimate is worse than the reference by the threshold or more. */
  worseBeyondThreshold: boolean;
  /** A throughput carried at a fixed offered rate: it cannot move unless the kernel fails the offer. */
  pinnedByOffer: boolean;
}

/** The gating rows of one variant that stop gating because their percentile is thin (see the module comment). */
export function demoteThinTails<T extends TailRow>(variantRows: T[], requireMde: number | undefined): T[] {
  // --require-mde asks for a stated power on every gating metric: a thin percentile keeps gating.
  if (requireMde !== undefined) return [];
  // Fail closed: a variant needs another gating metric that can move, or it compared nothing.
  if (!variantRows.some((r) => r.gating && !r.thin && !r.pinnedByOffer)) return [];
  // Fewer responses on this side alone can be the regression: a worse-looking one keeps gating.
  return variantRows.filter((r) => r.gating && r.thin && !(r.thin.currentOnly && r.worseBeyondThreshold));
}

/** What the two pipelines keep per comparison row for the thin-percentile rule. */
export interface ThinRow {
  c: { gating: boolean; notEstimated?: string; notGating?: string };
  thin?: ThinTail;
  tail: Omit<TailRow, 'gating' | 'thin'>;
}

/** Marks one variant's rows: `notEstimated` on every thin one, and gating off with `notGating` on those demoteThinTails picks. */
export function markThinTails(rows: ThinRow[], requireMde: number | undefined): void {
  const demoted = demoteThinTails(
    rows.map((r) => ({ gating: r.c.gating, thin: r.thin, ...r.tail, r })),
    requireMde,
  );
  for (const r of rows) if (r.thin) r.c = { ...r.c, notEstimated: r.thin.rule };
  for (const { r } of demoted) r.c = { ...r.c, gating: false, notGating: r.thin!.rule };
}

/** A decided row's verdict and rule once thinness is known: a demoted one is inconclusive for its reason (unless its samples were unusable anyway); a kept one says it was judged though thin. */
export function thinVerdict<V extends string>(
  c: { notEstimated?: string; notGating?: string },
  verdict: V,
  rule: string,
  unusable?: string,
): { verdict: V | 'inconclusive'; rule: string } {
  // Samples that cannot speak at all (another offered load, a saturated client) say why first.
  if (unusable) return { verdict, rule };
  if (c.notGating) return { verdict: 'inconclusive', rule: c.notGating };
  if (c.notEstimated)
    return { verdict, rule: `${rule}; judged although ${c.notEstimated.replace(/^not estimated: /, '')}` };
  return { verdict, rule };
}
