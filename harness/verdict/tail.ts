/**
 * A percentile is an estimate from the samples beyond it: a p99 of 400 responses is the 4th or 5th
 * slowest of them, and its repetition-to-repetition scatter is then as large as the effects a gate
 * looks for. Such a metric is "not estimated" in a comparison: it is reported with the reason and
 * never decides the run, except where it is the variant's only gating metric or the user asked for
 * a stated power (--require-mde), where it stays gating and inconclusive (fail closed).
 */

/**
 * Fewest samples beyond a percentile, in every repetition of both sides, for the comparison to judge
 * it: with 10 the order statistic's relative scatter is about a third of that with 1 (binomial
 * count of exceedances, sd ~ sqrt(k)), so a p99 needs 1000 responses per repetition, a p99.9 10 000.
 */
export const MIN_TAIL_SAMPLES = 10;

/**
 * Why a percentile metric cannot be judged from these repetitions, or undefined when it can (or when
 * neither side recorded its tail: runs and baselines from before it was recorded are judged as before).
 */
export function thinTailRule(
  metric: string,
  current: readonly number[],
  reference: readonly number[],
  referenceName: string,
): string | undefined {
  const low = (xs: readonly number[]) => (xs.length ? Math.min(...xs) : Infinity);
  const cur = low(current);
  const ref = low(reference);
  if (cur >= MIN_TAIL_SAMPLES && ref >= MIN_TAIL_SAMPLES) return undefined;
  const sides = [
    cur < MIN_TAIL_SAMPLES ? `${cur} in a repetition of this run` : '',
    ref < MIN_TAIL_SAMPLES ? `${ref} in one of ${referenceName}` : '',
  ].filter(Boolean);
  return `not estimated: ${metric} is a percentile with as few as ${sides.join(' and ')} samples beyond it; judging it needs at least ${MIN_TAIL_SAMPLES} in every repetition (a longer --duration, or a full run instead of --quick)`;
}

/** A comparison's gating fate once thin tails are known: which of a variant's gating metrics stop gating. */
export function demoteThinTails<T extends { gating: boolean; thin?: string }>(
  variantRows: T[],
  requireMde: number | undefined,
): T[] {
  // --require-mde asks for a stated power on every gating metric: a percentile without one stays open.
  if (requireMde !== undefined) return [];
  // Fail closed: a variant whose every gating metric is thin compared nothing; it keeps them gating.
  if (!variantRows.some((r) => r.gating && !r.thin)) return [];
  return variantRows.filter((r) => r.gating && r.thin);
}
