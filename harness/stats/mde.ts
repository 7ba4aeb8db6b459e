/**
 * Minimum detectable effect (MDE): the smallest regression a comparison would have caught with
 * 95% probability, given the noise, the repetitions actually taken and the per-comparison alpha.
 *
 * "Caught" means what the gate's rule 1 needs (stats/compare.ts): the one-sided Mann-Whitney test
 * rejects at alpha AND the Hodges-Lehmann estimate is worse by at least the threshold. Under a
 * multiplicative shift delta (a shift of log values), with null pairwise differences e of the log
 * values, the test rejects exactly when the (j+1)-th smallest difference exceeds -delta (j from
 * criticalCount) and the estimate reaches the threshold when median(e) >= log-threshold - delta.
 * So the MDE is the 95% quantile of max(-e_(j+1), log-threshold - median(e)): no approximation of
 * the test's power is involved, which matters at the extreme tails multiplicity pushes alpha to
 * (at 8 vs 8 and alpha 1e-4 only complete separation rejects, where normal power formulas say
 * "impossible").
 *
 * The null differences come from normal noise on the log scale with the measured spread, drawn
 * once per (sample sizes, critical count) with a fixed seed and cached: the function is
 * deterministic and cheap after the first call. Beyond the exact test's sizes it uses the normal
 * theory of the HL estimator (asymptotic variance pi/3 sigma^2 (1/m + 1/n)).
 */
import type { Direction } from '../model/types.js';
import { criticalCount, inverseNormalUpper } from './mannwhitney.js';
import { mulberry32 } from './shift.js';
import { median } from './summary.js';

/** What the MDE of one comparison depends on. */
export interface MdeInput {
  /** Spread of one repetition on the log scale (about the relative CV; see pooledLogSpread). */
  sigma: number;
  nBaseline: number;
  nCurrent: number;
  /** One-sided per-comparison level: this look's alpha over the family (Holm's first step). */
  alpha: number;
  /** Practical threshold (relative): a regression must also be estimated at least this much worse. */
  threshold: number;
  direction: Direction;
  /** Detection probability (default 0.95). */
  power?: number;
}

/** Null draws per cache entry: the 95% quantile is then within about +-1% in probability. */
const DRAWS = 2000;
const cache = new Map<string, { a: Float64Array; h: Float64Array }>();

/** Null draws of (-e_(j+1), -median(e)) for m vs n standard normal repetitions. */
function nullDraws(m: number, n: number, j: number): { a: Float64Array; h: Float64Array } {
  const key = `${m},${n},${j}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const rnd = mulberry32(0x6d3e + m * 1009 + n * 31 + j);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const a = new Float64Array(DRAWS);
  const h = new Float64Array(DRAWS);
  const d = new Float64Array(m * n);
  const x = new Float64Array(m);
  for (let r = 0; r < DRAWS; r++) {
    for (let i = 0; i < m; i++) x[i] = normal();
    let k = 0;
    for (let q = 0; q < n; q++) {
      const y = normal();
      for (let i = 0; i < m; i++) d[k++] = y - x[i];
    }
    d.sort();
    a[r] = -d[j];
    const mid = (d.length - 1) / 2;
    h[r] = -(d[Math.floor(mid)] + d[Math.ceil(mid)]) / 2;
  }
  const out = { a, h };
  cache.set(key, out);
  return out;
}

/** The threshold as a shift of log values in the bad direction. */
function logThreshold(threshold: number, direction: Direction): number {
  return direction === 'lower' ? Math.log1p(threshold) : -Math.log1p(-Math.min(threshold, 1 - 1e-9));
}

/** A shift of log values in the bad direction as a relative change ("worse by"). */
function relativeWorse(delta: number, direction: Direction): number {
  return direction === 'lower' ? Math.expm1(delta) : -Math.expm1(-delta);
}

/**
 * The smallest regression (relative, "worse by": 0.031 = 3.1%) this comparison would have caught
 * with probability `power`; null when no effect could be significant at this alpha with these
 * repetitions (alpha below the smallest p the test can give).
 */
export function minimumDetectableEffect(i: MdeInput): number | null {
  const { nBaseline: m, nCurrent: n, direction } = i;
  const power = i.power ?? 0.95;
  if (m < 2 || n < 2 || !(i.sigma >= 0) || !Number.isFinite(i.sigma) || !(i.alpha > 0)) return null;
  const j = criticalCount(m, n, i.alpha);
  if (j < 0) return null;
  const th = logThreshold(Math.max(0, i.threshold), direction);
  if (i.sigma === 0) return relativeWorse(th, direction);
  const t = th / i.sigma;
  let q: number;
  if (m * n > 2500 || m + n > 60) {
    const se = Math.sqrt((Math.PI / 3) * (1 / m + 1 / n));
    q = Math.max(inverseNormalUpper(i.alpha) * se, t) + inverseNormalUpper(1 - power) * se;
  } else {
    const { a, h } = nullDraws(m, n, j);
    const w = new Float64Array(a.length);
    for (let r = 0; r < a.length; r++) w[r] = Math.max(a[r], t + h[r]);
    w.sort();
    q = w[Math.min(w.length - 1, Math.ceil(power * w.length) - 1)];
  }
  return relativeWorse(i.sigma * q, direction);
}

/**
 * Spread of one repetition on the log scale from the samples themselves: the pooled median
 * absolute deviation of log values around each group's median, x 1.4826 (a normal's sigma), with
 * the small-sample correction 1 + 1.5 / (mean group size) that the fitted medians call for (it
 * makes the estimate unbiased within 2% for normal noise from 4 to 24 repetitions per group).
 * Robust: one outlying repetition does not inflate it, as it does not sway a rank test either.
 * NaN when a value is not positive or fewer than 2 values per group.
 */
export function pooledLogSpread(...groups: (readonly number[])[]): number {
  const res: number[] = [];
  for (const g of groups) {
    if (g.length < 2 || g.some((v) => !(v > 0) || !Number.isFinite(v))) return NaN;
    const logs = g.map(Math.log);
    const mid = median(logs);
    for (const v of logs) res.push(Math.abs(v - mid));
  }
  if (!groups.length) return NaN;
  return 1.4826 * median(res) * (1 + (1.5 * groups.length) / res.length);
}

/**
 * Spread on the log scale of calibrated residuals (relative deviations from each session's median,
 * `runs` repetitions per session), with the same small-sample correction as pooledLogSpread.
 */
export function residualLogSpread(residuals: readonly number[], runs: number): number {
  const r = residuals.filter((x) => x > -1 && Number.isFinite(x));
  if (r.length < 2) return NaN;
  return 1.4826 * median(r.map((x) => Math.abs(Math.log1p(x)))) * (1 + 1.5 / Math.max(2, runs));
}
