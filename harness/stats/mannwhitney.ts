/** Result of a Mann-Whitney U test of x against y. */
export interface MannWhitneyResult {
  u: number;
  /** Two-sided p-value. */
  pValue: number;
  /** One-sided p-value for "y tends to be larger than x". */
  pGreater: number;
  /** One-sided p-value for "y tends to be smaller than x". */
  pLess: number;
  method: 'exact' | 'normal';
}

/** Midranks (1-based) of the values, ties sharing their mean rank, and the tie term sum(t^3 - t). */
export function midranks(values: readonly number[]): { ranks: number[]; tieTerm: number; tieGroups: number } {
  const idx = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(values.length);
  let tieTerm = 0;
  let tieGroups = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) r[idx[k][1]] = avg;
    const t = j - i + 1;
    if (t > 1) {
      tieTerm += t * t * t - t;
      tieGroups++;
    }
    i = j + 1;
  }
  return { ranks: r, tieTerm, tieGroups };
}

const countsCache = new Map<string, readonly number[]>();

/** Number of ways to reach each U value for sample sizes m, n (no ties): exact null distribution (memoized, read-only). */
function exactCounts(m: number, n: number): readonly number[] {
  const key = `${m},${n}`;
  let c = countsCache.get(key);
  if (!c) countsCache.set(key, (c = computeExactCounts(m, n)));
  return c;
}

function computeExactCounts(m: number, n: number): number[] {
  // f[i][j][u]: arrangements of i x's and j y's with U = u. Built iteratively over j.
  const max = m * n;
  let prev: number[][] = [];
  for (let i = 0; i <= m; i++) {
    const row = new Array<number>(max + 1).fill(0);
    row[0] = 1;
    prev.push(row);
  }
  for (let j = 1; j <= n; j++) {
    const cur: number[][] = [];
    for (let i = 0; i <= m; i++) {
      const row = new Array<number>(max + 1).fill(0);
      for (let u = 0; u <= max; u++) {
        // Last element is a y: U unchanged; last is an x: it beats all j y's.
        let c = prev[i][u];
        if (i > 0 && u - j >= 0) c += cur[i - 1][u - j];
        row[u] = c;
      }
      cur.push(row);
    }
    prev = cur;
  }
  return prev[m];
}

/**
 * Mann-Whitney U test of x against y, two- and one-sided. Exact null distribution for small samples
 * (conditional on the tie pattern when there are ties); otherwise the normal approximation with
 * tie and continuity corrections.
 */
export function mannWhitneyU(x: readonly number[], y: readonly number[]): MannWhitneyResult {
  const m = x.length;
  const n = y.length;
  if (m === 0 || n === 0) return { u: NaN, pValue: 1, pGreater: 1, pLess: 1, method: 'normal' };
  const { ranks: r, tieTerm } = midranks([...x, ...y]);
  const rx = r.slice(0, m).reduce((a, b) => a + b, 0);
  // ux counts pairs where x beats y: small ux means y tends to be larger.
  const ux = rx - (m * (m + 1)) / 2;
  const two = (a: number, b: number) => Math.min(1, 2 * Math.min(a, b));
  if (tieTerm === 0 && m * n <= 2500 && m + n <= 60) {
    const counts = exactCounts(m, n);
    const total = counts.reduce((a, b) => a + b, 0);
    const cdf = (k: number) => {
      let t = 0;
      for (let u = 0; u <= Math.floor(k); u++) t += counts[u];
      return t / total;
    };
    // The null distribution is symmetric: P(U >= ux) = P(U <= mn - ux).
    const pGreater = cdf(ux);
    const pLess = cdf(m * n - ux);
    return { u: ux, pValue: two(pGreater, pLess), pGreater, pLess, method: 'exact' };
  }
  const N = m + n;
  if (tieTerm > 0 && N <= EXACT_TIES_MAX_N) {
    // Exact conditional null given the tie pattern: the share of the C(N, m) equally likely
    // labellings whose x midrank sum is at most (at least) the observed one. At a fixed offered
    // rate, repetitions that carried it all measure the same throughput: those ties made the
    // normal approximation call complete separation of 6 vs 6 p=0.0016, not 1/924.
    const doubled = r.map((x) => Math.round(2 * x));
    const dist = exactRankSumCounts(doubled, m);
    const total = dist.reduce((a, b) => a + b, 0);
    const obs = Math.round(2 * rx);
    let le = 0;
    let ge = 0;
    for (let s = 0; s < dist.length; s++) {
      if (s <= obs) le += dist[s];
      if (s >= obs) ge += dist[s];
    }
    const pGreater = Math.min(1, le / total);
    const pLess = Math.min(1, ge / total);
    return { u: ux, pValue: two(pGreater, pLess), pGreater, pLess, method: 'exact' };
  }
  const mu = (m * n) / 2;
  const variance = ((m * n) / 12) * (N + 1 - tieTerm / (N * (N - 1)));
  if (variance <= 0) return { u: ux, pValue: 1, pGreater: 1, pLess: 1, method: 'normal' };
  const sd = Math.sqrt(variance);
  // Continuity-corrected one-sided tails; y larger means ux below its mean.
  const pGreater = normalCdf((ux - mu + 0.5) / sd);
  const pLess = normalCdf((mu - ux + 0.5) / sd);
  return { u: ux, pValue: two(pGreater, pLess), pGreater: Math.min(1, pGreater), pLess: Math.min(1, pLess), method: 'normal' };
}

/** Largest pooled sample given the exact test under ties (the DP is O(N * m * sum of ranks)). */
const EXACT_TIES_MAX_N = 40;

/**
 * Counts of m-subsets of the given (doubled, integer) ranks by their sum: the permutation
 * distribution of the rank-sum statistic conditional on the ties (index = doubled rank sum).
 */
function exactRankSumCounts(doubledRanks: readonly number[], m: number): number[] {
  const maxSum = [...doubledRanks].sort((a, b) => b - a).slice(0, m).reduce((a, b) => a + b, 0);
  // ways[i][s]: subsets of i of the ranks seen so far with doubled sum s.
  const ways: Float64Array[] = Array.from({ length: m + 1 }, () => new Float64Array(maxSum + 1));
  ways[0][0] = 1;
  for (const r of doubledRanks) {
    for (let i = m; i >= 1; i--) {
      const to = ways[i];
      const from = ways[i - 1];
      for (let s = maxSum; s >= r; s--) if (from[s - r]) to[s] += from[s - r];
    }
  }
  return Array.from(ways[m]);
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 via erf; error < 1.5e-7). */
export function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/**
 * How many of the m*n pairwise differences to cut from each end for a two-sided interval at this
 * confidence (Moses): the largest k with P(U < k) <= (1 - confidence) / 2 under the null. Exact
 * for small samples, normal approximation beyond; at least 1 (the extremes).
 */
export function shiftIntervalRank(m: number, n: number, confidence = 0.95): number {
  const tail = (1 - confidence) / 2;
  if (m * n <= 2500 && m + n <= 60) {
    const counts = exactCounts(m, n);
    const total = counts.reduce((a, b) => a + b, 0);
    let cum = 0;
    let k = 0;
    // P(U <= k - 1) <= tail: count how many lowest values of U fit in the tail.
    while (k < counts.length && (cum + counts[k]) / total <= tail) cum += counts[k++];
    return Math.max(1, k);
  }
  // Normal approximation: k = mn/2 - z sqrt(mn(m+n+1)/12), rounded down.
  const z = inverseNormalUpper(tail);
  return Math.max(1, Math.floor((m * n) / 2 - z * Math.sqrt((m * n * (m + n + 1)) / 12)));
}

/** z with P(Z > z) = p, by bisection on normalCdf over [-10, 10] (accurate to 1e-9; for intervals and power). */
export function inverseNormalUpper(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (1 - normalCdf(mid) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Whether mannWhitneyU uses the exact null distribution for these sample sizes (without ties). */
const exactSizes = (m: number, n: number) => m * n <= 2500 && m + n <= 60;

/**
 * The smallest one-sided p-value a Mann-Whitney test of m vs n repetitions can give (complete
 * separation, no ties): 1 / C(m+n, m) where the test is exact (1/924 for 6 vs 6, 1/12870 for 8 vs
 * 8), the continuity-corrected normal tail at U = 0 beyond. No multiple-testing level below it can
 * ever be reached, whatever the effect.
 */
export function minExactP(m: number, n: number): number {
  if (m <= 0 || n <= 0) return 1;
  if (exactSizes(m, n)) {
    let c = 1;
    for (let i = 1; i <= Math.min(m, n); i++) c = (c * (m + n - Math.min(m, n) + i)) / i;
    return 1 / c;
  }
  const sd = Math.sqrt((m * n * (m + n + 1)) / 12);
  return normalCdf((0.5 - (m * n) / 2) / sd);
}

/**
 * The one-sided rejection region of the Mann-Whitney test at level alpha, as a count: the test
 * rejects "no change" in favour of "y worse" exactly when at most j of the m*n pairs (x_i, y_j) are
 * not worse, j being the largest count with P(U <= j) <= alpha under the null (exact for small
 * samples, continuity-corrected normal beyond, as in mannWhitneyU). -1 when no outcome reaches
 * alpha (alpha below minExactP).
 */
export function criticalCount(m: number, n: number, alpha: number): number {
  if (m <= 0 || n <= 0 || !(alpha > 0)) return -1;
  if (exactSizes(m, n)) {
    const counts = exactCounts(m, n);
    const total = counts.reduce((a, b) => a + b, 0);
    let cum = 0;
    let j = -1;
    while (j + 1 < counts.length && (cum + counts[j + 1]) / total <= alpha) cum += counts[++j];
    return j;
  }
  // normalCdf((u - mn/2 + 0.5) / sd) <= alpha.
  const sd = Math.sqrt((m * n * (m + n + 1)) / 12);
  return Math.floor((m * n) / 2 - 0.5 - inverseNormalUpper(alpha) * sd);
}
