/**
 * Change points and drift over a series of gate runs (one value per run, oldest first).
 *
 * Change points: E-divisive means (Matteson & James 2014, as in Apache Otava/Hunter) with
 * alpha = 1. The split that maximises the energy distance between the two sides is kept when a
 * permutation test says it beats what shuffling the same values produces (p below `pValue`),
 * then each side is searched again (binary segmentation). Distribution-free, so skewed noise with
 * outliers does not raise false changes. Drift: Theil-Sen slope with a Mann-Kendall test, for a
 * slow slide of, say, 1% per merge that never shows as a step.
 */
import { normalCdf } from './mannwhitney.js';
import { mulberry32 } from './shift.js';
import { median } from './summary.js';

/** A change point: the series differs from index `index` on (0-based, first value of the new level). */
export interface ChangePoint {
  index: number;
  /** Median before and after (within the neighbouring segments). */
  before: number;
  after: number;
  /** after / before - 1. */
  relChange: number;
  /** Permutation p-value of the split. */
  pValue: number;
}

/** Options of the change-point search. */
export interface ChangePointOptions {
  /** Significance of each split (default 0.01). */
  pValue?: number;
  /** Permutations per test (default 199). */
  permutations?: number;
  /** Fewest values on either side of a split (default 4). */
  minSize?: number;
  /** Smallest |relative change| of medians worth reporting (default 0). */
  minEffect?: number;
  seed?: number;
}

/** Best split of xs by the energy statistic Q (index of the first value after the split). */
function bestSplit(xs: readonly number[], minSize: number): { index: number; q: number } {
  const n = xs.length;
  // 2-D prefix sums of |xi - xj| make every candidate split O(1).
  const S: Float64Array[] = Array.from({ length: n + 1 }, () => new Float64Array(n + 1));
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) S[i + 1][j + 1] = S[i][j + 1] + S[i + 1][j] - S[i][j] + Math.abs(xs[i] - xs[j]);
  const block = (a: number, b: number, c: number, d: number) => S[b][d] - S[a][d] - S[b][c] + S[a][c];
  let best = { index: -1, q: -Infinity };
  for (let t = minSize; t <= n - minSize; t++) {
    const m = t;
    const k = n - t;
    const cross = block(0, t, t, n);
    const within1 = block(0, t, 0, t);
    const within2 = block(t, n, t, n);
    const e = (2 * cross) / (m * k) - within1 / (m * m) - within2 / (k * k);
    const q = ((m * k) / n) * e;
    if (q > best.q) best = { index: t, q };
  }
  return best;
}

/** Finds change points in a series; pure and deterministic for a given seed. */
export function changePoints(series: readonly number[], opts: ChangePointOptions = {}): ChangePoint[] {
  const alpha = opts.pValue ?? 0.01;
  const perms = opts.permutations ?? 199;
  const minSize = opts.minSize ?? 4;
  const rnd = mulberry32(opts.seed ?? 7);
  const cuts: { index: number; pValue: number }[] = [];
  const search = (lo: number, hi: number) => {
    const seg = series.slice(lo, hi);
    if (seg.length < 2 * minSize) return;
    const best = bestSplit(seg, minSize);
    if (best.index < 0) return;
    // Permutation test: how often does a shuffled segment split at least as well?
    let atLeast = 0;
    const shuffled = [...seg];
    for (let p = 0; p < perms; p++) {
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      if (bestSplit(shuffled, minSize).q >= best.q) atLeast++;
    }
    const pValue = (atLeast + 1) / (perms + 1);
    if (pValue > alpha) return;
    cuts.push({ index: lo + best.index, pValue });
    search(lo, lo + best.index);
    search(lo + best.index, hi);
  };
  search(0, series.length);
  cuts.sort((a, b) => a.index - b.index);
  const bounds = [0, ...cuts.map((c) => c.index), series.length];
  const out: ChangePoint[] = [];
  cuts.forEach((c, i) => {
    const before = median(series.slice(bounds[i], bounds[i + 1]));
    const after = median(series.slice(bounds[i + 1], bounds[i + 2]));
    const relChange = before === 0 ? 0 : after / before - 1;
    if (Math.abs(relChange) >= (opts.minEffect ?? 0)) out.push({ index: c.index, before, after, relChange, pValue: c.pValue });
  });
  return out;
}

/** A monotonic trend: Theil-Sen slope per run (relative to the series median) and Mann-Kendall p. */
export interface Trend {
  /** Median of pairwise slopes, per run, over the median of the series (-0.01 = 1% lower each run). */
  relSlopePerRun: number;
  /** Two-sided Mann-Kendall p-value (normal approximation with tie correction). */
  pValue: number;
}

/** Theil-Sen slope and Mann-Kendall test of a series (oldest first). */
export function trend(series: readonly number[]): Trend {
  const n = series.length;
  if (n < 3) return { relSlopePerRun: 0, pValue: 1 };
  const slopes: number[] = [];
  let s = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      slopes.push((series[j] - series[i]) / (j - i));
      s += Math.sign(series[j] - series[i]);
    }
  const counts = new Map<number, number>();
  for (const x of series) counts.set(x, (counts.get(x) ?? 0) + 1);
  let ties = 0;
  for (const t of counts.values()) ties += t * (t - 1) * (2 * t + 5);
  const variance = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  const z = variance > 0 ? (s - Math.sign(s)) / Math.sqrt(variance) : 0;
  const m = median(series);
  return { relSlopePerRun: m === 0 ? 0 : median(slopes) / Math.abs(m), pValue: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}
