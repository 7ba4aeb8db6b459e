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
}

/** Cumulative alpha spent by the time n of nMax repetitions are in. */
export function alphaSpent(plan: SequentialPlan, n: number): number {
  const t = Math.min(1, Math.max(0, n / plan.nMax));
  return plan.alpha * t ** plan.rho;
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
