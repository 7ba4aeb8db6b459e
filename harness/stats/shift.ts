import { median } from './summary.js';

/** Hodges-Lehmann estimate of the shift y - x: the median of all pairwise differences. */
export function hodgesLehmann(x: readonly number[], y: readonly number[]): number {
  const d: number[] = [];
  for (const a of x) for (const b of y) d.push(b - a);
  return median(d);
}

/** Small deterministic PRNG (mulberry32) so bootstrap intervals are reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Relative shift of y against x: Hodges-Lehmann shift over the median of x. */
export function relativeShift(x: readonly number[], y: readonly number[]): number {
  const base = median(x);
  const shift = hodgesLehmann(x, y);
  if (shift === 0) return 0;
  if (base === 0) return Math.sign(shift);
  return shift / Math.abs(base);
}

/**
 * Percentile bootstrap confidence interval of relativeShift(x, y), resampling each group
 * independently. Deterministic for a given seed.
 */
export function bootstrapRelativeShiftCI(
  x: readonly number[],
  y: readonly number[],
  opts: { confidence?: number; resamples?: number; seed?: number } = {},
): [number, number] {
  const confidence = opts.confidence ?? 0.95;
  const B = opts.resamples ?? 2000;
  const rnd = mulberry32(opts.seed ?? 0x5eed);
  const draw = (xs: readonly number[]) => xs.map(() => xs[Math.floor(rnd() * xs.length)]);
  const stats: number[] = [];
  for (let i = 0; i < B; i++) stats.push(relativeShift(draw(x), draw(y)));
  stats.sort((a, b) => a - b);
  const lo = stats[Math.floor(((1 - confidence) / 2) * (B - 1))];
  const hi = stats[Math.ceil((1 - (1 - confidence) / 2) * (B - 1))];
  return [lo, hi];
}
