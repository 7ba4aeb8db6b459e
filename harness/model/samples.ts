import type { VariantResult } from './types.js';

/**
 * A metric's samples in one variant, one per repetition that measured it. Only finite numbers
 * count: a repetition that could not measure the metric (null in run.json, NaN, Infinity) is no
 * evidence either way, and every consumer (comparison, noise, baselines, history, reports) must
 * agree on that.
 */
export function metricSamples(v: Pick<VariantResult, 'repetitions'> | undefined, metric: string): number[] {
  return (v?.repetitions ?? []).map((r) => r.metrics[metric]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
}

/**
 * How many samples lay beyond a percentile metric's percentile, one count per repetition that
 * measured the metric and recorded it (Repetition.tailSamples); empty for other metrics and older runs.
 */
export function tailSampleCounts(v: Pick<VariantResult, 'repetitions'> | undefined, metric: string): number[] {
  return (v?.repetitions ?? []).flatMap((r) => {
    const x = r.metrics[metric];
    const t = r.tailSamples?.[metric];
    return typeof x === 'number' && Number.isFinite(x) && typeof t === 'number' ? [t] : [];
  });
}
