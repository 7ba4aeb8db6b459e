/**
 * Error control across repeated looks at growing samples (adaptive repetitions).
 *
 * Each look k spends alpha(t_k) - alpha(t_{k-1}) of the total alpha, where t is the fraction of
 * the repetition budget used and alpha(t) = alpha * t^rho (the Kim-DeMets power family; rho = 1
 * spends evenly like Pocock, rho = 3 saves most for the end like O'Brien-Fleming). A union bound
 * over the looks keeps the chance of any false alarm at or below alpha whatever the correlation
 * between looks, so looking early and stopping when the answer is clear adds no peeking bias.
 */

/** Default spending exponent (chosen with bench/verdict-quality.ts). */
export const DEFAULT_RHO = 2;

/** The repetition budget of one comparison and how alpha is spent over its looks. */
export interface SequentialPlan {
  /** Total (family-wise, over all looks) significance level. */
  alpha: number;
  /** Repetitions of the first look (the run's --runs). */
  nStart: number;
  /** Repetitions added before each further look. */
  batch: number;
  /** Most repetitions a variant may reach. */
  nMax: number;
  /** Exponent of the spending function alpha * t^rho. */
  rho: number;
  /**
   * Least alpha the first look (nStart) spends, fixed before any data (see firstLookFloor): the
   * spending function becomes max(alpha t^rho, floor + (alpha - floor) s^rho), s the fraction of
   * the added repetitions, which is still non-decreasing and reaches alpha at nMax.
   */
  firstLook?: number;
}

/** Cumulative alpha spent by the time n of nMax repetitions are in. */
export function alphaSpent(plan: SequentialPlan, n: number): number {
  const t = Math.min(1, Math.max(0, n / plan.nMax));
  const power = plan.alpha * t ** plan.rho;
  const floor = Math.min(plan.firstLook ?? 0, plan.alpha);
  if (floor <= 0 || n < plan.nStart || plan.nMax <= plan.nStart) return power;
  const s = Math.min(1, (n - plan.nStart) / (plan.nMax - plan.nStart));
  return Math.max(power, floor + (plan.alpha - floor) * s ** plan.rho);
}

/** Largest share of the run's alpha a first-look floor may take (the rest is kept for later looks). */
export const FIRST_LOOK_CAP = 0.5;

/**
 * The alpha a first look needs so that its strongest possible evidence can be significant over a
 * family of `family` comparisons: family x the smallest exact p of nRef vs nStart repetitions
 * (complete separation: 1/12870 for 8 vs 8), so Holm's (and Bonferroni's) first step can reach it.
 * Capped at FIRST_LOOK_CAP x alpha. Depends only on counts known before the data, so spending it
 * keeps the false-alarm budget. With 41 gating comparisons at 8 vs 8 it is 0.0032 (a power
 * spending function alone gives the first of three looks 0.01/9 = 0.0011, and 0.0011/41 is below
 * 1/12870: no first look could ever find a regression).
 */
export function firstLookFloor(alpha: number, family: number, pMin: number): number {
  if (family <= 0 || !(pMin > 0)) return 0;
  // A hair above family x pMin so floating-point rounding in Holm cannot miss it.
  return Math.min(FIRST_LOOK_CAP * alpha, family * pMin * (1 + 1e-9));
}

/** Repetition counts at which the plan looks: nStart, nStart + batch, ..., nMax. */
export function lookSchedule(plan: SequentialPlan): number[] {
  const out: number[] = [];
  for (let n = plan.nStart; n < plan.nMax; n += Math.max(1, plan.batch)) out.push(n);
  out.push(plan.nMax);
  return out.filter((n, i, a) => a.indexOf(n) === i);
}

/**
 * The significance level of one look: the alpha newly spent between the previous look's sample
 * size and this one's. The last look (budget reached, in count or in wall time) gets whatever is
 * left, since no look follows it: the levels of the looks taken add up to at most alpha.
 */
export function lookAlpha(plan: SequentialPlan, nPrev: number, n: number, last = n >= plan.nMax): number {
  const end = last ? plan.alpha : alphaSpent(plan, n);
  return Math.max(0, end - alphaSpent(plan, nPrev));
}

/** A plan with one look (no adaptive repetitions): all alpha at n. */
export function singleLook(alpha: number, n: number): SequentialPlan {
  return { alpha, nStart: n, batch: 1, nMax: n, rho: 1 };
}
