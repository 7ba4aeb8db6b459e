import type { Direction, MetricVerdict } from '../core/types.js';
import { mannWhitneyU } from './mannwhitney.js';
import { bootstrapRelativeShiftCI, relativeShift } from './shift.js';
import { median } from './summary.js';

/** Inputs to a single-metric decision after multiple-testing adjustment. */
export interface DecisionInput {
  direction: Direction;
  noiseFloor: number;
  relChange: number;
  pAdjusted: number;
  alpha: number;
  identical: boolean;
}

/** The verdict and the rule that produced it. */
export interface Decision {
  verdict: MetricVerdict;
  rule: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Decides one metric. A regression needs both statistical significance (after correction
 * for many metrics) and an effect beyond the metric's noise floor in the bad direction.
 */
export function decide(d: DecisionInput): Decision {
  if (d.identical) return { verdict: 'unchanged', rule: 'identical samples' };
  const worse = d.direction === 'higher' ? -d.relChange : d.relChange;
  const significant = d.pAdjusted < d.alpha;
  const beyond = Math.abs(d.relChange) >= d.noiseFloor;
  const p = `p_adj=${d.pAdjusted.toPrecision(2)}`;
  if (significant && beyond) {
    return worse > 0
      ? { verdict: 'regressed', rule: `significant (${p} < ${d.alpha}) and ${pct(worse)} worse, beyond the ${pct(d.noiseFloor)} noise floor` }
      : { verdict: 'improved', rule: `significant (${p} < ${d.alpha}) and ${pct(-worse)} better, beyond the ${pct(d.noiseFloor)} noise floor` };
  }
  if (significant) return { verdict: 'unchanged', rule: `significant (${p}) but within the ${pct(d.noiseFloor)} noise floor` };
  if (worse >= d.noiseFloor) {
    return { verdict: 'inconclusive', rule: `${pct(worse)} worse by estimate, beyond the noise floor, but not significant (${p}): add repetitions` };
  }
  return { verdict: 'unchanged', rule: `no significant change (${p})` };
}

/** Test statistics of one metric before multiple-testing adjustment. */
export interface MetricStats {
  baselineMedian: number;
  currentMedian: number;
  relChange: number;
  ciLow: number;
  ciHigh: number;
  pValue: number;
  identical: boolean;
}

/** Computes the effect, its bootstrap interval and the Mann-Whitney p-value for one metric. */
export function metricStats(baseline: readonly number[], current: readonly number[], seed = 1): MetricStats {
  const all = [...baseline, ...current];
  const identical = all.length > 0 && all.every((v) => v === all[0]);
  const [ciLow, ciHigh] = identical ? [0, 0] : bootstrapRelativeShiftCI(baseline, current, { seed });
  return {
    baselineMedian: median(baseline),
    currentMedian: median(current),
    relChange: identical ? 0 : relativeShift(baseline, current),
    ciLow,
    ciHigh,
    pValue: identical ? 1 : mannWhitneyU(baseline, current).pValue,
    identical,
  };
}
