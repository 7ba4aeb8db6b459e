/**
 * Wilcoxon signed-rank test for paired data, with the Hodges-Lehmann estimate of the
 * pseudo-median (the median of the Walsh averages) and its distribution-free interval.
 *
 * Conventions (Hollander, Wolfe & Chicken, Nonparametric Statistical Methods, 3rd ed., 2014, 3.1-3.3):
 *  - zeros: Wilcoxon's (1945) convention: differences equal to zero are dropped and n is the
 *    number of non-zero differences (as R's wilcox.test and SciPy's zero_method="wilcox");
 *  - ties: tied |differences| share their average rank (midranks). The exact p-value is then the
 *    conditional permutation distribution of W+ given those midranks (every one of the 2^n sign
 *    patterns equally likely under H0), enumerated by dynamic programming over doubled ranks, so
 *    it stays exact with ties (R falls back to the normal approximation there);
 *  - above EXACT_MAX_N non-zero differences: the normal approximation with the tie correction
 *    of the variance, sum(t^3 - t) / 48, and a continuity correction of 1/2;
 *  - the interval inverts the test: the k-th smallest and k-th largest of the n(n+1)/2 Walsh
 *    averages (d_i + d_j) / 2, i <= j, of ALL n differences (zeros included: for a shifted
 *    centre the shifted differences are non-zero), k from the no-ties null distribution of W+
 *    (Hollander-Wolfe 3.2, eq. 3.21). Exact coverage for continuous symmetric differences.
 * Pure functions; p-values are one-sided in the direction asked for.
 */
import { inverseNormalUpper, midranks, normalCdf } from './mannwhitney.js';

/** Largest count of non-zero differences that gets the exact null distribution (2^50 < 2^53: counts stay exact). */
export const EXACT_MAX_N = 50;

/** Result of a Wilcoxon signed-rank test of differences d against a centre of 0. */
export interface SignedRankResult {
  /** Non-zero differences (the test's n). */
  n: number;
  /** Differences equal to zero, dropped (Wilcoxon's convention). */
  zeros: number;
  /** Sum of the (mid)ranks of |d| over the positive differences. */
  wPlus: number;
  /** One-sided p for "d tends to be positive": P(W+ >= observed). */
  pGreater: number;
  /** One-sided p for "d tends to be negative": P(W+ <= observed). */
  pLess: number;
  /** Two-sided p: 2 x the smaller one-sided p, at most 1. */
  pValue: number;
  /** Tied groups among the |d| (0 without ties). */
  ties: number;
  method: 'exact' | 'normal';
}

/** Midranks of the values (shared with Mann-Whitney: one ranking for both rank tests). */
export { midranks };

/**
 * Null distribution of 2*W+ for the given doubled (integer) ranks: counts[s] is the number of the
 * 2^n sign patterns whose positive ranks sum to s/2. Subset-sum DP, O(n * sum).
 */
export function signedRankCounts(doubledRanks: readonly number[]): number[] {
  const total = doubledRanks.reduce((a, b) => a + b, 0);
  const counts = new Array<number>(total + 1).fill(0);
  counts[0] = 1;
  let reach = 0;
  for (const r of doubledRanks) {
    for (let s = reach; s >= 0; s--) if (counts[s]) counts[s + r] += counts[s];
    reach += r;
  }
  return counts;
}

const nullCache = new Map<number, { counts: number[]; cum: number[] }>();

/** The no-ties null of n differences, memoised: counts of W+ and their running sums. */
function noTiesNull(n: number): { counts: number[]; cum: number[] } {
  let e = nullCache.get(n);
  if (!e) {
    const counts = signedRankCounts(Array.from({ length: n }, (_, i) => 2 * (i + 1))).filter((_, s) => s % 2 === 0);
    const cum: number[] = [];
    counts.reduce((a, c, i) => (cum[i] = a + c), 0);
    e = { counts, cum };
    nullCache.set(n, e);
  }
  return e;
}

/** Null distribution of W+ without ties (ranks 1..n): counts[w], w = 0..n(n+1)/2 (sum 2^n). */
export function signedRankNullCounts(n: number): number[] {
  return [...noTiesNull(n).counts];
}

/**
 * Wilcoxon signed-rank test of the differences against a centre of 0 (see the conventions above).
 * Non-finite differences other than +-Infinity are refused by the caller; +-Infinity rank largest.
 */
export function signedRankTest(d: readonly number[]): SignedRankResult {
  const nz = d.filter((x) => x !== 0);
  const zeros = d.length - nz.length;
  const n = nz.length;
  if (n === 0) return { n, zeros, wPlus: 0, pGreater: 1, pLess: 1, pValue: 1, ties: 0, method: 'exact' };
  const { ranks, tieTerm, tieGroups } = midranks(nz.map(Math.abs));
  const doubled = ranks.map((r) => Math.round(2 * r));
  const w2 = nz.reduce((a, x, i) => a + (x > 0 ? doubled[i] : 0), 0);
  const two = (a: number, b: number) => Math.min(1, 2 * Math.min(a, b));
  if (n <= EXACT_MAX_N) {
    const all = 2 ** n;
    let le = 0;
    let ge = 0;
    if (tieGroups === 0) {
      // No ties: W+ is an integer and the memoised null applies.
      const { cum } = noTiesNull(n);
      const w = w2 / 2;
      le = cum[w];
      ge = all - (w > 0 ? cum[w - 1] : 0);
    } else {
      const counts = signedRankCounts(doubled);
      for (let s = 0; s < counts.length; s++) {
        if (s <= w2) le += counts[s];
        if (s >= w2) ge += counts[s];
      }
    }
    const pGreater = Math.min(1, ge / all);
    const pLess = Math.min(1, le / all);
    return { n, zeros, wPlus: w2 / 2, pGreater, pLess, pValue: two(pGreater, pLess), ties: tieGroups, method: 'exact' };
  }
  const mu = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
  const w = w2 / 2;
  if (variance <= 0) return { n, zeros, wPlus: w, pGreater: 1, pLess: 1, pValue: 1, ties: tieGroups, method: 'normal' };
  const sd = Math.sqrt(variance);
  const pGreater = Math.min(1, 1 - normalCdf((w - mu - 0.5) / sd));
  const pLess = Math.min(1, normalCdf((w - mu + 0.5) / sd));
  return { n, zeros, wPlus: w, pGreater, pLess, pValue: two(pGreater, pLess), ties: tieGroups, method: 'normal' };
}

/** The n(n+1)/2 Walsh averages (d_i + d_j) / 2, i <= j, sorted ascending (+Inf and -Inf average to 0). */
export function walshAverages(d: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < d.length; i++)
    for (let j = i; j < d.length; j++) {
      const a = (d[i] + d[j]) / 2;
      out.push(Number.isNaN(a) ? 0 : a);
    }
  return out.sort((a, b) => a - b);
}

/** Hodges-Lehmann estimate of the pseudo-median of d: the median of its Walsh averages (NaN for none). */
export function pseudoMedian(d: readonly number[]): number {
  const w = walshAverages(d);
  if (!w.length) return NaN;
  const h = (w.length - 1) / 2;
  return (w[Math.floor(h)] + w[Math.ceil(h)]) / 2;
}

/**
 * How many Walsh averages to cut from each end for a two-sided interval at this confidence: the
 * largest k with P(W+ <= k - 1) <= (1 - confidence) / 2 under the no-ties null for n differences
 * (exact up to EXACT_MAX_N, normal approximation with continuity correction beyond). 0 means
 * that even the extremes do not reach the confidence (n < 6 at 95%).
 */
export function signedRankIntervalRank(n: number, confidence = 0.95): number {
  const tail = (1 - confidence) / 2;
  if (n <= 0) return 0;
  if (n <= EXACT_MAX_N) {
    const { cum } = noTiesNull(n);
    const all = 2 ** n;
    let k = 0;
    while (k < cum.length && cum[k] / all <= tail) k++;
    return k;
  }
  const mu = (n * (n + 1)) / 4;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24);
  return Math.max(0, Math.floor(mu - inverseNormalUpper(tail) * sd + 0.5));
}

/** The interval of the pseudo-median and the confidence it actually has (lower than asked when n is too small). */
export interface PseudoMedianInterval {
  low: number;
  high: number;
  /** Walsh averages cut from each end, minus one: the bounds are the k-th smallest and largest. */
  k: number;
  /** Coverage of [low, high] under the no-ties null: 1 - 2 P(W+ <= k - 1). */
  confidence: number;
}

/**
 * Distribution-free interval of the pseudo-median: the k-th smallest and k-th largest Walsh
 * averages (k from signedRankIntervalRank). When n is too small for the confidence asked, the
 * extremes (k = 1, the smallest and largest difference) with their lower confidence.
 */
export function pseudoMedianCI(d: readonly number[], confidence = 0.95): PseudoMedianInterval {
  const n = d.length;
  if (n === 0) return { low: NaN, high: NaN, k: 0, confidence: 0 };
  const w = walshAverages(d);
  const k = Math.min(Math.max(1, signedRankIntervalRank(n, confidence)), Math.ceil(w.length / 2));
  return { low: w[k - 1], high: w[w.length - k], k, confidence: 1 - 2 * nullCdf(n, k - 1) };
}

/** P(W+ <= w) under the no-ties null for n differences. */
export function nullCdf(n: number, w: number): number {
  if (w < 0) return 0;
  if (n <= EXACT_MAX_N) {
    const { cum } = noTiesNull(n);
    return cum[Math.min(Math.floor(w), cum.length - 1)] / 2 ** n;
  }
  const mu = (n * (n + 1)) / 4;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24);
  return normalCdf((w + 0.5 - mu) / sd);
}

/** Smallest exact one-sided p n non-zero differences can give (all of one sign): 2^-n (normal approximation beyond EXACT_MAX_N). */
export function signedRankMinP(n: number): number {
  if (n <= 0) return 1;
  if (n <= EXACT_MAX_N) return 2 ** -n;
  const mu = (n * (n + 1)) / 4;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24);
  return normalCdf((0.5 - mu) / sd);
}

/**
 * The one-sided rejection region at level alpha as a count: the test of "d tends to be positive"
 * rejects when W+ >= c, c the smallest value with P0(W+ >= c) <= alpha (no ties). null when even
 * W+ = n(n+1)/2 is not significant (alpha below 2^-n).
 */
export function signedRankCritical(n: number, alpha: number): number | null {
  const M = (n * (n + 1)) / 2;
  if (n <= 0 || !(alpha > 0)) return null;
  // P0(W+ >= c) = P0(W+ <= M - c) by symmetry.
  if (n <= EXACT_MAX_N) {
    const { cum } = noTiesNull(n);
    const all = 2 ** n;
    let c = M + 1;
    while (c - 1 >= 0 && cum[M - (c - 1)] / all <= alpha) c--;
    return c <= M ? c : null;
  }
  const mu = M / 2;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24);
  const c = Math.ceil(mu + 0.5 + inverseNormalUpper(alpha) * sd);
  return c <= M ? c : null;
}

/** What the MDE of one paired comparison depends on. */
export interface SignedRankMdeInput {
  /** Spread of one within-pair log ratio (normal sigma on the log scale). */
  sigma: number;
  /** Pairs. */
  n: number;
  /** One-sided per-comparison level (this look's alpha over the family). */
  alpha: number;
  /** Practical threshold (relative): the estimate must also be worse by at least this. */
  threshold: number;
  direction: 'higher' | 'lower';
  /** Detection probability (default 0.95). */
  power?: number;
}

const MDE_DRAWS = 2000;
/** Most pairs the MDE draws for (2000 sorts of n(n+1)/2 Walsh averages, once per n and c). */
const MDE_DRAW_MAX_N = 200;
const mdeCache = new Map<string, { a: Float64Array; h: Float64Array }>();

/**
 * Smallest regression (relative, "worse by") a paired comparison would have caught with
 * probability `power`: the signed-rank test rejects AND the Hodges-Lehmann estimate is worse by
 * the threshold. With log ratios d = delta + e (delta the regression on the log scale, e the
 * pair noise), W+ of d counts the Walsh averages of e above -delta (Tukey's identity), so the
 * test rejects exactly when delta > -(c-th largest Walsh average of e), and the estimate reaches
 * the threshold when delta >= log-threshold - median(Walsh(e)). The MDE is the `power` quantile
 * of the larger of the two, over normal draws of e (2000 per n and c, fixed seed, cached):
 * no power formula (at 60 pairs and alpha 0.001 the normal theory of the HL estimator gave 93%
 * instead of 95%). Beyond MDE_DRAW_MAX_N pairs: that normal theory (variance pi sigma^2 / (3n)).
 * null when no regression could be significant.
 */
export function signedRankMde(i: SignedRankMdeInput): number | null {
  const { n } = i;
  const power = i.power ?? 0.95;
  if (n < 2 || !(i.sigma >= 0) || !Number.isFinite(i.sigma)) return null;
  const c = signedRankCritical(n, i.alpha);
  if (c === null) return null;
  const th =
    i.direction === 'lower'
      ? Math.log1p(Math.max(0, i.threshold))
      : -Math.log1p(-Math.min(Math.max(0, i.threshold), 1 - 1e-9));
  const worse = (delta: number) => (i.direction === 'lower' ? Math.expm1(delta) : -Math.expm1(-delta));
  if (i.sigma === 0) return worse(th);
  const t = th / i.sigma;
  let q: number;
  if (n > MDE_DRAW_MAX_N) {
    const se = Math.sqrt(Math.PI / (3 * n));
    q = Math.max(inverseNormalUpper(i.alpha) * se, t) + inverseNormalUpper(1 - power) * se;
  } else {
    const key = `${n},${c}`;
    let draws = mdeCache.get(key);
    if (!draws) {
      // Same seed scheme as stats/mde.ts: deterministic per (n, c).
      let s = (0x51d7 + n * 1009 + c * 31) >>> 0;
      const rnd = () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let x = s;
        x = Math.imul(x ^ (x >>> 15), x | 1);
        x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
        return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
      };
      const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
      const a = new Float64Array(MDE_DRAWS);
      const h = new Float64Array(MDE_DRAWS);
      const M = (n * (n + 1)) / 2;
      for (let r = 0; r < MDE_DRAWS; r++) {
        const w = walshAverages(Array.from({ length: n }, normal));
        // Reject when the c-th largest Walsh average of e exceeds -delta.
        a[r] = -w[M - c];
        const mid = (M - 1) / 2;
        h[r] = -(w[Math.floor(mid)] + w[Math.ceil(mid)]) / 2;
      }
      draws = { a, h };
      mdeCache.set(key, draws);
    }
    const v = new Float64Array(MDE_DRAWS);
    for (let r = 0; r < MDE_DRAWS; r++) v[r] = Math.max(draws.a[r], t + draws.h[r]);
    v.sort();
    q = v[Math.min(v.length - 1, Math.ceil(power * v.length) - 1)];
  }
  return worse(i.sigma * q);
}

/**
 * Robust spread of within-pair log ratios: 1.4826 x the median absolute deviation around their
 * median, with the small-sample factor 1 + 1.5 / n (as stats/mde.ts pooledLogSpread). NaN for
 * fewer than 2 finite ratios.
 */
export function pairSpread(d: readonly number[]): number {
  const f = d.filter(Number.isFinite);
  if (f.length < 2) return NaN;
  const s = [...f].sort((a, b) => a - b);
  const med = (xs: number[]) => (xs[Math.floor((xs.length - 1) / 2)] + xs[Math.ceil((xs.length - 1) / 2)]) / 2;
  const m = med(s);
  return 1.4826 * med(s.map((x) => Math.abs(x - m)).sort((a, b) => a - b)) * (1 + 1.5 / f.length);
}
