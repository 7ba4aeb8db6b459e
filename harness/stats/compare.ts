import type { Direction, MetricVerdict } from '../model/types.js';
import { mannWhitneyU } from './mannwhitney.js';
import { relativeShift, relativeShiftCI } from './shift.js';
import { median } from './summary.js';

/** Inputs to a single-metric decision at one look, after multiple-testing adjustment. */
export interface DecisionInput {
  direction: Direction;
  /** Practical threshold: the smallest relative change worth a verdict (see thresholdFor). */
  threshold: number;
  relChange: number;
  /** 95% interval of relChange (distribution-free, see relativeShiftCI). */
  ciLow: number;
  ciHigh: number;
  /** Adjusted one-sided p-values for "worse" and "better". */
  pWorse: number;
  pBetter: number;
  /** Unadjusted one-sided p for "worse" (whether the data point the other way); default: pWorse. */
  pWorseRaw?: number;
  /** Significance level of this look (see sequential.ts). */
  alpha: number;
  /** The run's whole alpha (all looks), for the "suggestive" band; default: alpha. */
  runAlpha?: number;
  identical: boolean;
  /** Every current sample is worse than every reference sample (the strongest evidence n vs m allows). */
  separatedWorse?: boolean;
  /** No more repetitions will come: undecided becomes inconclusive or unchanged. */
  final: boolean;
  /** Smallest regression this comparison would have caught (see stats/mde.ts); null: none at this alpha. */
  mde?: number | null;
  /** The largest MDE the gate accepts (--require-mde): an "unchanged" that could not see it is inconclusive. */
  requireMde?: number;
  /** Why the samples cannot speak for this metric (client-bound throughput): inconclusive whatever they say. */
  unusable?: string;
  /** The least change a "regressed" needs when drift between sessions is not calibrated (CPU figures); smaller significant ones are inconclusive. */
  regressionFloor?: number;
}

/** The verdict, the rule that produced it, and whether more repetitions could change it. */
export interface Decision {
  verdict: MetricVerdict;
  rule: string;
  /** True when the answer is clear; false means "add repetitions" (only before the final look). */
  settled: boolean;
  /** Inconclusive because the change, though significant, is within the uncalibrated session drift (regressionFloor). */
  withinDrift?: true;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const pFmt = (p: number) => (p < 1e-4 ? p.toExponential(1) : String(Number(p.toPrecision(2))));

/** Evidence between alpha and this multiple of it is "suggestive": inconclusive, not a pass. */
export const SUGGESTIVE_FACTOR = 5;

/**
 * Decides one metric, in this order:
 *  0. inconclusive when the samples cannot speak for the metric (client-bound throughput);
 *  1. regressed: worse with significance (one-sided, adjusted p at most this look's alpha) and
 *     by at least the threshold;
 *  2. improved: the same in the good direction;
 *  3. unchanged (equivalent): the whole interval lies within the threshold on the bad side;
 *  4. harm not yet significant: the estimate AND the whole 95% interval lie beyond the threshold
 *     on the bad side, but multiplicity keeps it from significance: undecided before the final
 *     look (add repetitions), inconclusive at it. Never a green row;
 *  5. before the final look: unchanged (futile) when the data point the other way (unadjusted
 *     p >= 0.5), else undecided: add repetitions;
 *  6. at the final look: inconclusive when the estimate is worse by the threshold or more and the
 *     evidence is suggestive (adjusted p at most 5 x the run's alpha) or every repetition is
 *     worse, else unchanged (no sign of harm beyond the threshold).
 * With requireMde, an "unchanged" whose MDE exceeds it asks for repetitions, and at the final
 * look is inconclusive: the comparison could not have seen the required change.
 * Stopping early as equivalent or futile can only lower the false-alarm rate.
 */
export function decide(d: DecisionInput): Decision {
  const out = decideEvidence(d);
  if (out.verdict !== 'unchanged' || d.requireMde === undefined || d.mde === undefined) return out;
  if (d.mde !== null && d.mde <= d.requireMde) return out;
  const could = d.mde === null ? 'could not have detected any regression at this alpha with these repetitions' : `could only have detected ${pct(d.mde)} or more`;
  if (!d.final) return { verdict: 'inconclusive', rule: `undecided: ${out.rule}, but ${could} (required: ${pct(d.requireMde)}): add repetitions`, settled: false };
  return { verdict: 'inconclusive', rule: `${could}, more than the required ${pct(d.requireMde)} (--require-mde); the evidence: ${out.rule}`, settled: true };
}

/** A relative change as "how much worse" for a metric's direction (+0.1: 10% worse). */
export function worseBy(direction: Direction, relChange: number): number {
  return direction === 'higher' ? -relChange : relChange;
}

function decideEvidence(d: DecisionInput): Decision {
  if (d.unusable) return { verdict: 'inconclusive', rule: d.unusable, settled: true };
  if (d.identical) return { verdict: 'unchanged', rule: 'identical samples', settled: true };
  const sign = d.direction === 'higher' ? -1 : 1;
  const worse = worseBy(d.direction, d.relChange);
  // The interval of "worse" (sign flips the bounds for higher-is-better metrics).
  const worseHigh = sign > 0 ? d.ciHigh : -d.ciLow;
  const worseLow = sign > 0 ? d.ciLow : -d.ciHigh;
  const a = `alpha ${pFmt(d.alpha)}`;
  if (d.pWorse <= d.alpha && worse >= d.threshold) {
    if (d.regressionFloor !== undefined && worse < d.regressionFloor) {
      return {
        verdict: 'inconclusive',
        rule: `${pct(worse)} worse, significant (p_adj=${pFmt(d.pWorse)} <= ${a}) and beyond the ${pct(d.threshold)} threshold, but within the ${pct(d.regressionFloor)} an uncalibrated CPU figure can drift between sessions: run headgate calibrate on this machine to tell a regression this size from drift`,
        settled: true,
        withinDrift: true,
      };
    }
    return { verdict: 'regressed', rule: `${pct(worse)} worse, significant (p_adj=${pFmt(d.pWorse)} <= ${a}) and beyond the ${pct(d.threshold)} threshold`, settled: true };
  }
  if (d.pBetter <= d.alpha && -worse >= d.threshold) {
    return { verdict: 'improved', rule: `${pct(-worse)} better, significant (p_adj=${pFmt(d.pBetter)} <= ${a}) and beyond the ${pct(d.threshold)} threshold`, settled: true };
  }
  if (worseHigh < d.threshold) {
    return { verdict: 'unchanged', rule: `equivalent: at worst ${pct(worseHigh)} worse (95% interval bound), inside the ${pct(d.threshold)} threshold`, settled: true };
  }
  if (worse >= d.threshold && worseLow >= d.threshold) {
    const what = `${pct(worse)} worse, the whole 95% interval (${pct(worseLow)} to ${pct(worseHigh)} worse) beyond the ${pct(d.threshold)} threshold, but not significant after multiplicity (p_adj=${pFmt(d.pWorse)} > ${a})`;
    if (!d.final) return { verdict: 'inconclusive', rule: `undecided: ${what}: add repetitions`, settled: false };
    return { verdict: 'inconclusive', rule: `${what} within the repetition budget`, settled: true };
  }
  if (!d.final) {
    const raw = d.pWorseRaw ?? d.pWorse;
    if (raw >= 0.5) return { verdict: 'unchanged', rule: `no sign of a regression (p=${pFmt(raw)}, the data point the other way): more repetitions would not help`, settled: true };
    return { verdict: 'inconclusive', rule: `undecided: ${pct(worse)} worse by estimate, p_adj=${pFmt(d.pWorse)} vs ${a}: add repetitions`, settled: false };
  }
  const suggestive = Math.min(1, SUGGESTIVE_FACTOR * (d.runAlpha ?? d.alpha));
  if (worse >= d.threshold && d.separatedWorse) {
    return { verdict: 'inconclusive', rule: `${pct(worse)} worse, every repetition worse than every reference one, but too few repetitions for significance (p_adj=${pFmt(d.pWorse)} > ${a}): add repetitions`, settled: true };
  }
  if (worse >= d.threshold && d.pWorse <= suggestive) {
    return { verdict: 'inconclusive', rule: `${pct(worse)} worse by estimate, beyond the ${pct(d.threshold)} threshold, with suggestive but not significant evidence (p_adj=${pFmt(d.pWorse)}, above ${a}) within the repetition budget`, settled: true };
  }
  return { verdict: 'unchanged', rule: `no significant change beyond the ${pct(d.threshold)} threshold (${pct(worse)} worse by estimate, p_adj=${pFmt(d.pWorse)})`, settled: true };
}

/** Test statistics of one metric before multiple-testing adjustment. */
export interface MetricStats {
  baselineMedian: number;
  currentMedian: number;
  relChange: number;
  ciLow: number;
  ciHigh: number;
  /** Two-sided Mann-Whitney p (for display). */
  pValue: number;
  /** One-sided p-values for a change in the bad and in the good direction. */
  pWorse: number;
  pBetter: number;
  identical: boolean;
  /** Every current sample worse than every baseline sample. */
  separatedWorse: boolean;
}

/** Computes the effect, its distribution-free interval and the Mann-Whitney p-values for one metric. */
export function metricStats(baseline: readonly number[], current: readonly number[], direction: Direction): MetricStats {
  const all = [...baseline, ...current];
  const identical = all.length > 0 && all.every((v) => v === all[0]);
  const [ciLow, ciHigh] = identical ? [0, 0] : relativeShiftCI(baseline, current);
  return {
    baselineMedian: median(baseline),
    currentMedian: median(current),
    relChange: identical ? 0 : relativeShift(baseline, current),
    ciLow,
    ciHigh,
    ...pValues(identical, baseline, current, direction),
    identical,
    separatedWorse: !identical && (direction === 'higher' ? Math.max(...current) < Math.min(...baseline) : Math.min(...current) > Math.max(...baseline)),
  };
}

function pValues(identical: boolean, baseline: readonly number[], current: readonly number[], direction: Direction) {
  if (identical) return { pValue: 1, pWorse: 1, pBetter: 1 };
  const r = mannWhitneyU(baseline, current);
  return direction === 'higher' ? { pValue: r.pValue, pWorse: r.pLess, pBetter: r.pGreater } : { pValue: r.pValue, pWorse: r.pGreater, pBetter: r.pLess };
}
