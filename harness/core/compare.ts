import { decide, metricStats } from '../stats/compare.js';
import { holmAdjust } from '../stats/multiple.js';
import { ExitCode } from './errors.js';
import { fingerprintDifferences } from './profile.js';
import type { Comparison, Fingerprint, MetricComparison, RunOptions, RunRecord, RunVerdict } from './types.js';

/** Reference samples to compare a run against: a promoted baseline or another run. */
export interface Reference {
  kind: 'baseline' | 'run';
  id: string;
  profile?: string;
  file?: string;
  fingerprint: Fingerprint;
  /** Options the reference samples were measured with, when known. */
  options?: RunOptions;
  /** Samples of one metric for suite/variant, or undefined when the reference has none. */
  samples(suite: string, variant: string, metric: string): number[] | undefined;
}

/** Builds a Reference from another run's repetitions. */
export function runAsReference(run: RunRecord): Reference {
  return {
    kind: 'run',
    id: run.runId,
    profile: run.profile,
    fingerprint: run.fingerprint,
    options: run.options,
    samples: (suite, variant, metric) => {
      const v = run.suites.find((s) => s.id === suite)?.variants.find((x) => x.id === variant);
      if (!v || v.repetitions.length === 0) return undefined;
      return v.repetitions.map((r) => r.metrics[metric]).filter((x): x is number => typeof x === 'number');
    },
  };
}

/** Load options that make samples incomparable when they differ (repetition length, load shape, object set, server). */
export function optionDifferences(a: RunOptions | undefined, b: RunOptions): string[] {
  if (!a) return [];
  const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
  const pairs: [string, unknown, unknown][] = [
    ['duration (s)', a.durationSec, b.durationSec],
    ['connections', a.connections, b.connections],
    ['arrival rate (req/s)', a.rate, b.rate],
    ['object set', a.objects, b.objects],
    ['nginx workers', a.serverWorkers, b.serverWorkers],
    ['nginx worker CPUs', a.serverCpus, b.serverCpus],
    ['server directives', a.serverDirectives, b.serverDirectives],
    ['server URL', a.serverUrl, b.serverUrl],
  ];
  return pairs.filter(([, x, y]) => show(x) !== show(y)).map(([k, x, y]) => `run option ${k}: ${show(x)} -> ${show(y)}`);
}

/** Payload verification failures of a run, one line each (any one fails the gate). */
export function integrityFailures(run: RunRecord): string[] {
  const out: string[] = [];
  for (const s of run.suites)
    for (const v of s.variants)
      for (const r of v.repetitions)
        if (r.verification.failed > 0) {
          const first = r.verification.failures[0];
          out.push(`${s.id}/${v.id} #${r.index + 1}: ${r.verification.failed} response bodies failed verification${first ? ` (first: ${first.path}: ${first.reason})` : ''}`);
        }
  // A variant that asked for a kernel feature which did not engage measured the wrong thing.
  for (const s of run.suites)
    for (const v of s.variants)
      for (const r of v.repetitions) for (const f of r.proofFailures ?? []) out.push(`${s.id}/${v.id} #${r.index + 1}: feature not engaged: ${f}`);
  return out;
}

/** Errors that mean the run itself did not work (server would not start, target dropped). */
export function infrastructureErrors(run: RunRecord): string[] {
  return [...run.errors, ...run.restoreFailures.map((r) => `restore failed: ${r}`)];
}

/** What an inconclusive run exits with: 4 (default), or mapped to pass (0) or fail (1) by CI policy. */
export type InconclusivePolicy = 'exit4' | 'pass' | 'fail';

/**
 * The core's decision: regression or integrity failure (1) beats infrastructure (3), which
 * beats inconclusive (4); otherwise pass (0). Reporters render this, they never decide it.
 */
export function runVerdict(c: {
  comparisons: MetricComparison[];
  integrityFailures: string[];
  infraErrors: string[];
  hasReference: boolean;
  onInconclusive?: InconclusivePolicy;
}): { verdict: RunVerdict; exitCode: number } {
  const gating = c.comparisons.filter((m) => m.gating);
  if (c.integrityFailures.length || gating.some((m) => m.verdict === 'regressed')) return { verdict: 'fail', exitCode: ExitCode.Regression };
  if (c.infraErrors.length) return { verdict: 'error', exitCode: ExitCode.Infrastructure };
  if (gating.some((m) => m.verdict === 'inconclusive')) {
    const policy = c.onInconclusive ?? 'exit4';
    return { verdict: 'inconclusive', exitCode: policy === 'pass' ? ExitCode.Pass : policy === 'fail' ? ExitCode.Regression : ExitCode.Inconclusive };
  }
  if (!c.hasReference) return { verdict: 'no-baseline', exitCode: ExitCode.Pass };
  return { verdict: 'pass', exitCode: ExitCode.Pass };
}

/**
 * Compares every metric of every variant that ran with the reference samples. Gating metrics
 * form one family for the Holm correction; informational metrics another.
 */
export function compareRun(run: RunRecord, ref: Reference | null, opts: { alpha: number; referenceVariant?: string; onInconclusive?: InconclusivePolicy }): Comparison {
  const comparisons: MetricComparison[] = [];
  const missing: string[] = [];
  const raw: { c: Omit<MetricComparison, 'verdict' | 'rule' | 'pAdjusted'>; identical: boolean }[] = [];
  let seed = 1;
  for (const s of run.suites) {
    for (const v of s.variants) {
      if (v.status !== 'ran' || v.repetitions.length === 0) continue;
      const refVariant = opts.referenceVariant ?? v.id;
      let any = false;
      for (const m of s.metrics) {
        const current = v.repetitions.map((r) => r.metrics[m.id]).filter((x): x is number => typeof x === 'number');
        const base = ref?.samples(s.id, refVariant, m.id);
        if (!base || base.length === 0 || current.length === 0) continue;
        any = true;
        const st = metricStats(base, current, seed++);
        raw.push({
          identical: st.identical,
          c: {
            suite: s.id,
            variant: v.id,
            referenceVariant: refVariant,
            metric: m.id,
            title: m.title,
            unit: m.unit,
            direction: m.direction,
            gating: m.gating,
            noiseFloor: m.noiseFloor,
            baselineMedian: st.baselineMedian,
            currentMedian: st.currentMedian,
            relChange: st.relChange,
            ciLow: st.ciLow,
            ciHigh: st.ciHigh,
            pValue: st.pValue,
            nBaseline: base.length,
            nCurrent: current.length,
            baselineSamples: base,
            currentSamples: current,
          },
        });
      }
      if (ref && !any) missing.push(`${s.id}/${v.id}: the reference ${ref.kind} ${ref.id} has no samples for variant ${refVariant}`);
    }
  }
  for (const gating of [true, false]) {
    const family = raw.filter((r) => r.c.gating === gating);
    const adj = holmAdjust(family.map((r) => r.c.pValue));
    family.forEach((r, i) => {
      const d = decide({ direction: r.c.direction, noiseFloor: r.c.noiseFloor, relChange: r.c.relChange, pAdjusted: adj[i], alpha: opts.alpha, identical: r.identical });
      comparisons.push({ ...r.c, pAdjusted: adj[i], verdict: d.verdict, rule: d.rule });
    });
  }
  // Keep the report order stable: suite, variant, then the suite's metric order (gating first).
  const order = (c: MetricComparison) => `${c.suite}\u0000${c.variant}\u0000${c.gating ? 0 : 1}`;
  comparisons.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  const integrity = integrityFailures(run);
  const infra = infrastructureErrors(run);
  const { verdict, exitCode } = runVerdict({ comparisons, integrityFailures: integrity, infraErrors: infra, hasReference: ref !== null && comparisons.length > 0, onInconclusive: opts.onInconclusive });
  const regressed = comparisons.filter((c) => c.gating && c.verdict === 'regressed');
  const summary =
    verdict === 'fail'
      ? [integrity.length ? `${integrity.length} payload verification failure(s)` : '', regressed.length ? `${regressed.length} gating metric(s) regressed: ${regressed.map((c) => `${c.suite}/${c.variant} ${c.metric} ${(c.relChange * 100).toFixed(1)}%`).join(', ')}` : '']
          .filter(Boolean)
          .join('; ')
      : verdict === 'error'
        ? `infrastructure error: ${infra[0]}`
        : verdict === 'inconclusive'
          ? 'inconclusive: some gating metrics look worse but the evidence is not significant; run more repetitions'
          : verdict === 'no-baseline'
            ? 'no baseline to compare with: the run is ready to promote'
            : `pass: no gating metric regressed (${comparisons.filter((c) => c.gating).length} gating comparisons)`;
  return {
    reference: ref ? { kind: ref.kind, id: ref.id, profile: ref.profile, file: ref.file } : { kind: 'baseline', id: 'none' },
    alpha: opts.alpha,
    comparisons,
    integrityFailures: integrity,
    fingerprintDifferences: ref ? [...fingerprintDifferences(ref.fingerprint, run.fingerprint), ...optionDifferences(ref.options, run.options)] : [],
    missing,
    verdict,
    exitCode,
    summary,
  };
}
