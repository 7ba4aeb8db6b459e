import { shiftIntervalRank } from './mannwhitney.js';
import { median } from './summary.js';

/** Hodges-Lehmann estimate of the shift y - x: the median of all pairwise differences. */
export function hodgesLehmann(x: readonly number[], y: readonly number[]): number {
  const d: number[] = [];
  for (const a of x) for (const b of y) d.push(b - a);
  return median(d);
}

/** Small deterministic PRNG (mulberry32): reproducible object sets, load schedules and permutation tests. */
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
 * Distribution-free confidence interval of relativeShift(x, y): the Moses interval of the shift
 * (the k-th smallest and k-th largest of the pairwise differences y - x, k from the Mann-Whitney
 * null distribution) over the median of x. Exact coverage under a location shift, whatever the
 * noise looks like; deterministic; and cheap enough to simulate thousands of gates.
 */
export function relativeShiftCI(x: readonly number[], y: readonly number[], confidence = 0.95): [number, number] {
  const d: number[] = [];
  for (const a of x) for (const b of y) d.push(b - a);
  d.sort((a, b) => a - b);
  const k = Math.min(shiftIntervalRank(x.length, y.length, confidence), Math.ceil(d.length / 2));
  const base = Math.abs(median(x));
  const lo = d[k - 1];
  const hi = d[d.length - k];
  if (base === 0) return [Math.sign(lo), Math.sign(hi)];
  return [lo / base, hi / base];
}
