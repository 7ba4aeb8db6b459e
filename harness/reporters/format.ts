import { metricSamples } from '../model/samples.js';
import type { MetricComparison, MetricVerdict, RunRecord } from '../model/types.js';
import { median } from '../stats/summary.js';

/** A number with a sensible number of significant digits for reports. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Signed percentage, e.g. "-31.2%". */
export function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

/** The change with its interval: "-31.2% [-35.0%, -27.1%]"; a relative change from a zero baseline has no meaning. */
export function changeWithCi(c: MetricComparison): string {
  if (c.baselineMedian === 0) return `n/a (baseline median is 0; now ${fmt(c.currentMedian)})`;
  return `${pct(c.relChange)} [${pct(c.ciLow)}, ${pct(c.ciHigh)}]`;
}

/** What a gating comparison could have seen: "could have detected >= 3.1%" ('' when the run did not state it). */
export function mdeText(c: MetricComparison): string {
  if (c.mde === undefined) return '';
  return c.mde === null ? 'could not have detected any regression' : `could have detected >= ${(c.mde * 100).toFixed(1)}%`;
}

/** The verdict with what it could have seen: "unchanged; could have detected >= 3.1%". */
export function verdictWithMde(c: MetricComparison, verdict: string = c.verdict): string {
  const m = mdeText(c);
  return m ? `${verdict}; ${m}` : verdict;
}

/** One-line statement of a metric verdict, used as Allure status message and JUnit failure text. */
export function verdictLine(c: MetricComparison): string {
  // The verdict leads (Allure groups and CI annotations match on "regressed: <title>"); what the
  // comparison could have detected closes the line.
  const m = mdeText(c);
  return `${c.verdict}${c.gating ? '' : ' (informational)'}: ${c.title} ${fmt(c.baselineMedian)} -> ${fmt(c.currentMedian)} ${c.unit}, change ${changeWithCi(c)} (95% CI), ${c.rule}${m ? `; ${m}` : ''}`;
}

/** Marker used in terminals and Markdown. */
export const VERDICT_MARK: Record<MetricVerdict, string> = {
  improved: 'improved',
  unchanged: 'unchanged',
  regressed: 'REGRESSED',
  inconclusive: 'inconclusive',
};

/** Skipped or failed variants of a run with their reasons, for every report. */
export function notRun(run: RunRecord): { suite: string; variant?: string; status: string; reason: string }[] {
  const out: { suite: string; variant?: string; status: string; reason: string }[] = [];
  for (const s of run.suites) {
    if (s.status === 'skipped' && s.variants.length === 0) out.push({ suite: s.id, status: 'skipped', reason: s.reason ?? '' });
    for (const v of s.variants) if (v.status !== 'ran') out.push({ suite: s.id, variant: v.id, status: v.status, reason: v.reason ?? '' });
  }
  return out;
}

/** Median of the repetitions' value for a metric of a variant (for runs without comparison). */
export function variantMedian(run: RunRecord, suite: string, variant: string, metric: string): number | undefined {
  const v = run.suites.find((s) => s.id === suite)?.variants.find((x) => x.id === variant);
  const xs = metricSamples(v, metric);
  return xs.length ? median(xs) : undefined;
}

/** Medians of a suite's gating metrics for one variant, "name value unit" joined by " · " (tables without a baseline). */
export function keyMetrics(run: RunRecord, suite: string, variant: string): string {
  const s = run.suites.find((x) => x.id === suite);
  return (s?.metrics ?? [])
    .filter((m) => m.gating)
    .map((m) => {
      const x = variantMedian(run, suite, variant, m.id);
      return x === undefined ? null : `${m.id} ${fmt(x)} ${m.unit}`;
    })
    .filter(Boolean)
    .join(' · ');
}

/** Threshold with the measured noise beside it: "1.0% (noise 1.2%, drift 0.4%)" or "5.0% (suite floor)". */
export function thresholdCell(c: MetricComparison): string {
  const t = `${(c.noiseFloor * 100).toFixed(1)}%`;
  return c.noise ? `${t} (noise ${(c.noise.cv * 100).toFixed(1)}%, drift ${(c.noise.drift * 100).toFixed(1)}%)` : `${t} (suite floor)`;
}

/** Repetitions behind a verdict: "8 vs 16 (3 looks)". */
export function repsCell(c: MetricComparison): string {
  return `${c.nBaseline} vs ${c.nCurrent}${(c.looks ?? 1) > 1 ? ` (${c.looks} looks)` : ''}`;
}
