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

/** Every value positive: relative changes are taken on the log-ratio scale. */
const allPositive = (xs: readonly number[]) => xs.length > 0 && xs.every((v) => v > 0 && Number.isFinite(v));

/** Pairwise differences y_j - x_i, sorted (of log values when logs is set). */
function sortedDifferences(x: readonly number[], y: readonly number[], logs: boolean): Float64Array {
  const lx = logs ? x.map(Math.log) : x;
  const ly = logs ? y.map(Math.log) : y;
  const d = new Float64Array(lx.length * ly.length);
  let k = 0;
  for (const a of lx) for (const b of ly) d[k++] = b - a;
  return d.sort();
}

/**
 * Relative shift of y against x (+0.05 = y 5% higher). For positive samples (every metric of a
 * kernel: throughput, latency, IOPS) it is the Hodges-Lehmann shift of the log values,
 * exponentiated: the median ratio, symmetric in up and down and never below -100%. Samples with
 * zero or negative values fall back to the HL shift over the median of x.
 */
export function relativeShift(x: readonly number[], y: readonly number[]): number {
  if (allPositive(x) && allPositive(y)) {
    const d = sortedDifferences(x, y, true);
    return Math.expm1(median(Array.from(d)));
  }
  const base = median(x);
  const shift = hodgesLehmann(x, y);
  if (shift === 0) return 0;
  if (base === 0) return Math.sign(shift);
  return shift / Math.abs(base);
}

/**
 * Distribution-free confidence interval of relativeShift(x, y): the Moses interval (the k-th
 * smallest and k-th largest of the pairwise differences, k from the Mann-Whitney null
 * distribution), on the log scale for positive samples and exponentiated, so the interval of a
 * latency or a throughput can never pass -100% (a linear interval over a skewed p99 could read
 * [-343%, +4386%]). Exact coverage under a multiplicative shift (a linear one for the fallback),
 * whatever the noise looks like; deterministic; and cheap enough to simulate thousands of gates.
 */
export function relativeShiftCI(x: readonly number[], y: readonly number[], confidence = 0.95): [number, number] {
  const logs = allPositive(x) && allPositive(y);
  const d = sortedDifferences(x, y, logs);
  const k = Math.min(shiftIntervalRank(x.length, y.length, confidence), Math.ceil(d.length / 2));
  const lo = d[k - 1];
  const hi = d[d.length - k];
  if (logs) return [Math.expm1(lo), Math.expm1(hi)];
  const base = Math.abs(median(x));
  if (base === 0) return [Math.sign(lo), Math.sign(hi)];
  return [lo / base, hi / base];
}
