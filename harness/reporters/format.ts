import { metricSamples } from '../model/samples.js';
import type { MetricComparison, MetricVerdict, RunRecord } from '../model/types.js';
import { median } from '../stats/summary.js';
import { robustCv } from '../verdict/noise.js';

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
  // Samples with zeros or negatives have no log-ratio interval: the linear one divided by a median
  // near 0 would read like [-26492.8%, +9644.8%], so it is shown in the metric's own unit. (A
  // paired comparison drops such pairs and its interval is a log ratio: it stays relative.)
  if (!('paired' in c) && [...c.baselineSamples, ...c.currentSamples].some((x) => x <= 0)) {
    const b = Math.abs(c.baselineMedian);
    const abs = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x * b)}`;
    return `${abs(c.relChange)} [${abs(c.ciLow)}, ${abs(c.ciHigh)}] ${c.unit} (absolute: the samples include 0)`;
  }
  return `${pct(c.relChange)} [${pct(c.ciLow)}, ${pct(c.ciHigh)}]`;
}

/** What a gating comparison could have seen: "could have detected >= 3.1%" ('' when the run did not state it). */
export function mdeText(c: MetricComparison): string {
  if (c.mde === undefined) return '';
  return c.mde === null ? 'could not have detected any regression' : `could have detected >= ${(c.mde * 100).toFixed(1)}%`;
}

/** The verdict with what it could have seen: "unchanged; could have detected >= 3.1%". */
export function verdictWithMde(c: MetricComparison, verdict: string = c.verdict): string {
  const m = [mdeText(c), c.clientHeadroom].filter(Boolean).join('; ');
  return m ? `${verdict}; ${m}` : verdict;
}

/** One-line statement of a metric verdict, used as Allure status message and JUnit failure text. */
export function verdictLine(c: MetricComparison): string {
  // The verdict leads (Allure groups and CI annotations match on "regressed: <title>"); what the
  // comparison could have detected closes the line.
  const m = mdeText(c);
  return `${c.verdict}${c.gating ? '' : c.notGating ? ' (not gated in this run)' : ' (informational)'}: ${c.title} ${fmt(c.baselineMedian)} -> ${fmt(c.currentMedian)} ${c.unit}, change ${changeWithCi(c)} (95% CI), ${c.rule}${m ? `; ${m}` : ''}${c.clientHeadroom ? `; ${c.clientHeadroom}` : ''}`;
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

/** Threshold with the measured noise beside it: "1.0% (noise 1.2%, drift 0.4%)", "5.0% (suite floor)", or with the uncalibrated regression floor. */
export function thresholdCell(c: MetricComparison): string {
  const t = `${(c.noiseFloor * 100).toFixed(1)}%`;
  if (c.noise) return `${t} (noise ${(c.noise.cv * 100).toFixed(1)}%, drift ${(c.noise.drift * 100).toFixed(1)}%)`;
  // Uncalibrated CPU figure against another session: a regression needed the drift allowance too.
  return c.regressionFloor !== undefined ? `${t} (suite floor; regression from ${(c.regressionFloor * 100).toFixed(0)}%, drift not calibrated)` : `${t} (suite floor)`;
}

/** Repetitions behind a verdict: "8 vs 16 (3 looks)". */
export function repsCell(c: MetricComparison): string {
  return `${c.nBaseline} vs ${c.nCurrent}${(c.looks ?? 1) > 1 ? ` (${c.looks} looks)` : ''}`;
}

/** Throughput and the efficiency metrics whose noise is shown side by side (the ones a run has). */
export const EFFICIENCY_METRICS = ['throughput_gbps', 'machine_cpu_per_gbps', 'machine_cpu_pct', 'gbps_per_core'] as const;

/** One variant's median and robust CV (1.4826 MAD / median over its repetitions) of one metric. */
export interface NoiseRow {
  suite: string;
  variant: string;
  metric: string;
  unit: string;
  median: number;
  cv: number;
  n: number;
}

/** Median and robust CV of throughput and each efficiency metric, per variant that ran. */
export function efficiencyNoise(run: RunRecord): NoiseRow[] {
  const rows: NoiseRow[] = [];
  for (const s of run.suites)
    for (const v of s.variants.filter((x) => x.status === 'ran'))
      for (const id of EFFICIENCY_METRICS) {
        const xs = metricSamples(v, id);
        const def = s.metrics.find((m) => m.id === id);
        if (xs.length && def) rows.push({ suite: s.id, variant: v.id, metric: id, unit: def.unit, median: median(xs), cv: robustCv(xs), n: xs.length });
      }
  return rows;
}

/** "throughput_gbps 9.51 Gb/s (CV 2.1%) · machine_cpu_per_gbps 0.180 cores per Gb/s (CV 3.4%)" for one variant. */
export function noiseLine(rows: NoiseRow[], suite: string, variant: string): string {
  return rows
    .filter((r) => r.suite === suite && r.variant === variant)
    .map((r) => `${r.metric} ${fmt(r.median)} ${r.unit} (CV ${(r.cv * 100).toFixed(1)}%)`)
    .join(' · ');
}

/** One line per block of an A/B by blocks (two targets, or two boots of one): order, side, boot, repetitions, medians of the gating metrics. */
export function abBlockLines(run: RunRecord): string[] {
  const ab = run.abBlocks;
  if (!ab) return [];
  const gating = new Set(run.comparison?.comparisons.filter((c) => c.gating).map((c) => c.metric) ?? []);
  return ab.blocks.map((b, i) => {
    const boot = b.boot !== undefined ? ab.boots[b.boot] : undefined;
    const meds = Object.entries(b.medians).filter(([m]) => !gating.size || gating.has(m)).map(([m, x]) => `${m} ${fmt(x)}`).join(', ');
    return `block ${i + 1}: ${b.side} (${b.side === 'A' ? ab.a : ab.b})${boot ? ` on boot ${b.boot! + 1}` : ''}, ${b.repetitions} reps, run ${b.runId}: ${meds}`;
  });
}

/** One line per reboot of a kernel A/B on one box: which side, how long, what the guest reported. */
export function abBootLines(run: RunRecord): string[] {
  return (run.abBlocks?.boots ?? []).map((b, i) => `boot ${i + 1}: ${b.side} (${b.config}) up after ${b.bootSec.toFixed(1)} s: ${b.kernelRelease}, ${b.cmdline} [${b.method}]`);
}
