import { metricSamples, tailSampleCounts } from '../model/samples.js';
import { decide, metricStats, worseBy, type MetricStats } from '../stats/compare.js';
import { minExactP } from '../stats/mannwhitney.js';
import { minimumDetectableEffect, pooledLogSpread, residualLogSpread } from '../stats/mde.js';
import { holmAdjust } from '../stats/multiple.js';
import { firstLookFloor, lookAlpha, singleLook, type SequentialPlan } from '../stats/sequential.js';
import { DEFAULT_MIN_EFFECT, thresholdFor, UNCALIBRATED_CPU_DRIFT, type NoiseProfile, type Threshold } from './noise.js';
import { markThinTails, thinTail, thinVerdict, type ThinTail } from './tail.js';
import { offeredDifference, offeredLoadRule, referenceOffer, variantOfferRule } from './offered.js';
import { ExitCode } from '../model/errors.js';
import { fingerprintDifferences } from '../model/profile.js';
import type { Comparison, Fingerprint, MetricComparison, MetricDef, RunOptions, RunRecord, RunVerdict, SuiteResult, VariantResult } from '../model/types.js';

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
  /** Per repetition, how many samples lay beyond a percentile metric's percentile (absent or empty: not recorded). */
  tailSamples?(suite: string, variant: string, metric: string): number[] | undefined;
  /** Whether a repetition of suite/variant was client-bound (absent: not recorded, e.g. stored baselines). */
  clientBound?(suite: string, variant: string): boolean;
  /** The load offered to a suite under --fixed-throughput, Gb/s (absent: none, or not recorded). */
  offeredGbps?(suite: string): number | undefined;
  /** The rate a variant was offered because the load shared the machine (--load-model auto), Gb/s (absent: closed model). */
  variantOffer?(suite: string, variant: string): number | undefined;

  /** The reference's own payload-verification and proof failures (a run; stored baselines were checked at promotion). */
  integrityFailures?: string[];
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
      return metricSamples(v, metric);
    },
    tailSamples: (suite, variant, metric) => tailSampleCounts(run.suites.find((s) => s.id === suite)?.variants.find((x) => x.id === variant), metric),
    clientBound: (suite, variant) => !!run.suites.find((s) => s.id === suite)?.variants.find((x) => x.id === variant)?.repetitions.some((r) => r.clientBound),
    integrityFailures: integrityFailures(run),
    offeredGbps: (suite) => run.suites.find((s) => s.id === suite)?.offeredGbps,
    variantOffer: (suite, variant) => run.suites.find((s) => s.id === suite)?.variants.find((x) => x.id === variant)?.offeredGbps,
  };
}

/**
 * How a reference ran a variant, for a new run to run it alike (--load-model auto): at its rate
 * (Gb/s), at full load (null: it has samples but no rate), or unknown (undefined: no such variant).
 */
export function referenceLoad(ref: Pick<Reference, 'variantOffer' | 'samples'>, suite: string, variant: string): number | null | undefined {
  const rate = ref.variantOffer?.(suite, variant);
  if (rate !== undefined) return rate;
  return ref.samples(suite, variant, 'throughput_gbps')?.length ? null : undefined;
}

/** Load options that make samples incomparable when they differ (repetition length, load shape, object set, server). */
export function optionDifferences(a: RunOptions | undefined, b: RunOptions): string[] {
  if (!a) return [];
  const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
  const pairs: [string, unknown, unknown][] = [
    ['duration (s)', a.durationSec, b.durationSec],
    ['connections', a.connections, b.connections],
    ['arrival rate (req/s)', a.rate, b.rate],
    ['fixed throughput', a.fixedThroughput, b.fixedThroughput],
    ['load model', a.loadModel, b.loadModel],
    ['object set', a.objects, b.objects],
    ['nginx workers', a.serverWorkers, b.serverWorkers],
    ['nginx worker CPUs', a.serverCpus, b.serverCpus],
    ['server directives', a.serverDirectives, b.serverDirectives],
    ['server URL', a.serverUrl, b.serverUrl],
  ];
  return pairs.filter(([, x, y]) => show(x) !== show(y)).map(([k, x, y]) => `run option ${k}: ${show(x)} -> ${show(y)}`);
}

/**
 * The comparison options with the calibrated noise only if it was measured under this run's CPU
 * split: under another split the noise of CPU figures is another quantity (the thresholds fall back
 * to the suites' floors until `headgate calibrate` runs again). `noiseNote` says so.
 */
export function noiseFor(opts: CompareOptions, run: RunOptions): { opts: CompareOptions; noiseNote?: string } {
  if (!opts.noise || sameSplit(opts.noise.options, run)) return { opts };
  return {
    opts: { ...opts, noise: null },
    noiseNote: `noise calibration of ${opts.noise.measuredAt} was measured with ${splitWords(opts.noise.options)}, this run with ${splitWords(run)}: not used (re-run headgate calibrate)`,
  };
}

/** Whether two sets of run options were measured under the same CPU split (none counts as one split: every CPU shared). */
export function sameSplit(a: RunOptions | undefined, b: RunOptions | undefined): boolean {
  const cpus = (o: RunOptions | undefined) => JSON.stringify(o?.split ? [o.split.server, o.split.client, o.split.guest === true] : null);
  return cpus(a) === cpus(b);
}

/** A run's CPU split in words ("server CPU 1, load CPU 0", or that they shared every CPU). */
export function splitWords(o: RunOptions | undefined): string {
  const s = o?.split;
  return s ? `server CPU ${s.server.join(',')}${s.guest ? ' (a QEMU guest)' : ''}, load CPU ${s.client.join(',')}` : 'server and load sharing every CPU';
}

/**
 * Why a run's samples cannot be compared with its reference's because their CPU split differs:
 * under a split, CPU per Gb/s counts the server's CPUs and the client cannot take CPU from the
 * server, so the metrics are defined differently (exit 2, naming both). A reference without
 * recorded options predates the split and counts as sharing every CPU.
 */
export function splitDifference(ref: Reference | null, run: RunOptions): string | undefined {
  if (!ref || sameSplit(ref.options, run)) return undefined;
  return `the reference ${ref.kind} ${ref.id} was measured with ${splitWords(ref.options)}, this run with ${splitWords(run)}: CPU figures are defined differently (measure both the same way: --cpu-split, --server-cpus; then promote a new baseline)`;
}

/**
 * Suites offered a different load than the reference's (more than 2% apart): under "N%" each run
 * takes its offer from its own warm-up, so equal options can still mean different loads.
 */
export function offeredDifferences(suites: readonly Pick<SuiteResult, 'id' | 'offeredGbps'>[], referenceOffered: (suite: string) => number | undefined): string[] {
  return suites.flatMap((s) => offeredDifference(s.id, s.offeredGbps, referenceOffered(s.id)) ?? []);
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
  /** Variants the reference ran that the kernel under test could not (a lost feature). */
  lost?: string[];
  /** Variants the reference ran that this run's own inputs left out, and a reference that failed its own checks. */
  refused?: string[];
  /** No reference is not a pass (exit 2). */
  requireReference?: boolean;
}): { verdict: RunVerdict; exitCode: number } {
  // Fail closed: a reference exists but not one gating metric could be compared with it (a
  // misspelt variant, a baseline of other suites). Passing would mean "compared nothing".
  const gating = c.comparisons.filter((m) => m.gating);
  if (c.integrityFailures.length || c.lost?.length || gating.some((m) => m.verdict === 'regressed')) return { verdict: 'fail', exitCode: ExitCode.Regression };
  if (c.infraErrors.length) return { verdict: 'error', exitCode: ExitCode.Infrastructure };
  if (c.refused?.length) return { verdict: 'error', exitCode: ExitCode.InvalidInput };
  if (gating.some((m) => m.verdict === 'inconclusive')) {
    const policy = c.onInconclusive ?? 'exit4';
    return { verdict: 'inconclusive', exitCode: policy === 'pass' ? ExitCode.Pass : policy === 'fail' ? ExitCode.Regression : ExitCode.Inconclusive };
  }
  if (!c.hasReference) return { verdict: 'no-baseline', exitCode: c.requireReference ? ExitCode.InvalidInput : ExitCode.Pass };
  if (gating.length === 0) return { verdict: 'error', exitCode: ExitCode.InvalidInput };
  return { verdict: 'pass', exitCode: ExitCode.Pass };
}

/** How strict the comparison is: alpha over all looks, the repetition budget, calibrated noise. */
export interface CompareOptions {
  alpha: number;
  referenceVariant?: string;
  onInconclusive?: InconclusivePolicy;
  /** Adaptive repetitions: the budget the looks were planned with (absent: one look). */
  plan?: Omit<SequentialPlan, 'alpha' | 'nStart'> & { maxExtraSec?: number };
  /** The profile's A/A calibration: thresholds from measured noise instead of the suites' guesses. */
  noise?: NoiseProfile | null;
  /** Practical minimum effect for calibrated metrics (default 1%). */
  minEffect?: number;
  /** Both sides were measured in one session (ab, variants of one run): session drift cancels. */
  sameSession?: boolean;
  /** Largest minimum detectable effect a gating "unchanged" may have (--require-mde); beyond it: inconclusive. */
  requireMde?: number;
  /** No reference is exit 2, not a pass (merge); the value names where the reference was looked for. */
  requireReference?: string;
}

/**
 * Throughput metrics: a rate of work delivered to the clients (Gb/s, Mbit/s, req/s, IO/s). When
 * the load generator saturates, they measure the client, not the target. Per-core efficiency
 * (Gb/s/core) and latencies are not rates of the client's making.
 */
export function clientBoundSensitive(unit: string): boolean {
  return /\/s$/i.test(unit.trim());
}

/**
 * The sequential plan one variant was run under (nStart = its first look). Its first look spends
 * at least what complete separation needs to be significant over the gating family (firstLookFloor),
 * from counts fixed before the data: the family size and the repetitions of the first look.
 */
function variantPlan(opts: CompareOptions, v: VariantResult, n: number, family: number, nRef: number): SequentialPlan {
  if (!opts.plan) return singleLook(opts.alpha, n);
  const nStart = v.adaptive?.looks[0] ?? n;
  return { alpha: opts.alpha, nStart, ...opts.plan, firstLook: firstLookFloor(opts.alpha, family, minExactP(Math.min(nRef, nStart), nStart)) };
}

/** This look's alpha for a variant with n repetitions: the increment since its previous look. */
function variantLookAlpha(opts: CompareOptions, v: VariantResult, n: number, family: number, nRef: number): number {
  const plan = variantPlan(opts, v, n, family, nRef);
  const looks = v.adaptive?.looks ?? [n];
  const prev = looks.length > 1 ? looks[looks.length - 2] : 0;
  // A look that ends the budget (count or wall time, both independent of the data) gets what is left.
  const last = n >= plan.nMax || v.adaptive?.stoppedBy === 'time' || !opts.plan;
  return lookAlpha(plan, prev, n, last);
}

/** The client-bound rule for a throughput metric measured on these sides, or undefined when the load generator kept up. */
export function clientBoundRule(unit: string, sides: string[]): string | undefined {
  if (!clientBoundSensitive(unit) || sides.length === 0) return undefined;
  return `client-bound: repetitions of ${sides.join(' and ')} saturated the load generator, so ${unit} measured the client, not the target; no verdict on this metric (add client capacity: --client; or measure CPU at a rate the client can carry: --fixed-throughput 60%)`;
}

/** The undecided comparison of one metric (everything but the verdict), shared by the unpaired and paired designs. */
export function comparisonFields(
  s: Pick<SuiteResult, 'id'>,
  v: VariantResult,
  refVariant: string,
  m: MetricDef,
  th: Threshold,
  st: Pick<MetricStats, 'baselineMedian' | 'currentMedian' | 'relChange' | 'ciLow' | 'ciHigh' | 'pValue'>,
  samples: { base: number[]; current: number[]; nBaseline: number; nCurrent: number },
): Omit<MetricComparison, 'verdict' | 'rule' | 'pAdjusted'> {
  return {
    suite: s.id,
    variant: v.id,
    referenceVariant: refVariant,
    metric: m.id,
    title: m.title,
    unit: m.unit,
    direction: m.direction,
    gating: m.gating,
    noiseFloor: th.value,
    thresholdSource: th.source,
    ...(th.regressionFloor !== undefined ? { regressionFloor: th.regressionFloor } : {}),
    ...(th.noise ? { noise: th.noise } : {}),
    baselineMedian: st.baselineMedian,
    currentMedian: st.currentMedian,
    relChange: st.relChange,
    ciLow: st.ciLow,
    ciHigh: st.ciHigh,
    pValue: st.pValue,
    nBaseline: samples.nBaseline,
    nCurrent: samples.nCurrent,
    looks: v.adaptive?.looks.length ?? 1,
    ...clientHeadroom(v, m.unit),
    baselineSamples: samples.base,
    currentSamples: samples.current,
  };
}

/** The busiest load client of this run's repetitions of a throughput metric's variant, in words (absent: not recorded). */
function clientHeadroom(v: VariantResult, unit: string): Pick<MetricComparison, 'clientHeadroom'> {
  if (!clientBoundSensitive(unit)) return {};
  // Demand (CPU plus waiting for one, of the CPU the client may use) where recorded; older runs have CPU only.
  const demand = v.repetitions.some((r) => Number.isFinite(r.metrics.client_demand_pct));
  const key = demand ? 'client_demand_pct' : 'client_cpu_pct';
  const peaks = v.repetitions.map((r) => r.metrics[key]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (!peaks.length) return {};
  const peak = Math.max(...peaks);
  const what = demand ? 'of the CPU it may use' : 'of a core';
  return { clientHeadroom: `load client at most ${peak.toFixed(0)}% ${what} (${Math.max(0, 100 - peak).toFixed(0)}% headroom)` };
}

/** Report order: suite, variant, then the suite's metric order with gating metrics first. */
export function sortComparisons<T extends MetricComparison>(cs: T[]): T[] {
  const order = (c: MetricComparison) => `${c.suite}\u0000${c.variant}\u0000${c.gating ? 0 : 1}`;
  return cs.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

/** The calibration a comparison used, as recorded in run.json. */
export function noiseRecord(noise: NoiseProfile | null | undefined): Pick<Comparison, 'noise'> {
  return noise ? { noise: { measuredAt: noise.measuredAt, target: noise.target, sessions: noise.sessions, runs: noise.runs } } : {};
}

/** The variants of a suite to give more repetitions after an interim look: some gating metric unsettled, none regressed. */
export function undecidedOf(suite: Pick<SuiteResult, 'variants'>, decided: { variant: string; verdict: string; settled: boolean }[]): string[] {
  const out: string[] = [];
  for (const v of suite.variants) {
    const mine = decided.filter((d) => d.variant === v.id);
    if (mine.length && !mine.some((d) => d.verdict === 'regressed') && mine.some((d) => !d.settled)) out.push(v.id);
  }
  return out;
}

type Raw = {
  c: Omit<MetricComparison, 'verdict' | 'rule' | 'pAdjusted'>;
  identical: boolean;
  separatedWorse: boolean;
  pWorse: number;
  pBetter: number;
  lookAlpha: number;
  /** Spread of one repetition on the log scale for the MDE, and where it came from. */
  sigma: number;
  sigmaSource: string;
  /** Why the samples cannot speak for this metric. */
  unusable?: string;
  /** The samples can prove a regression but nothing else (only the reference was client-bound): any other verdict is inconclusive for this reason. */
  onlyRegression?: string;
  /** A percentile with too few samples beyond it (verdict/tail.ts): not estimated. */
  thin?: ThinTail;
  /** What the thin-percentile rule needs besides gating and thin (verdict/tail.ts TailRow). */
  tail: { worseBeyondThreshold: boolean; pinnedByOffer: boolean };
};

/** Whether a metric is a throughput carried at a fixed offered rate (the variant's or the suite's): it moves only if the kernel fails the offer. */
export function pinnedByOffer(unit: string, v: Pick<VariantResult, 'offeredGbps'>, s: Pick<SuiteResult, 'offeredGbps'>): boolean {
  return clientBoundSensitive(unit) && (v.offeredGbps !== undefined || s.offeredGbps !== undefined);
}

/** Spread of one repetition for the MDE: the calibrated noise when present, else the samples' own. */
function mdeNoise(entry: NoiseProfile['metrics'][string] | undefined, runs: number, base: readonly number[], current: readonly number[]): { sigma: number; source: string } {
  const calibrated = entry ? (entry.residuals.length >= 4 ? residualLogSpread(entry.residuals, runs) : entry.cv) : NaN;
  if (Number.isFinite(calibrated)) return { sigma: calibrated, source: `calibrated noise ${((calibrated as number) * 100).toFixed(1)}%` };
  const pooled = pooledLogSpread(base, current);
  return { sigma: pooled, source: `spread of these repetitions ${(pooled * 100).toFixed(1)}%` };
}

/**
 * Statistics of every metric of the given suites against the reference (no decision yet). `family`
 * is the run's gating family size, known before the data (gatingFamilySize): it sizes the first look.
 */
function collect(suites: SuiteResult[], ref: Reference | null, opts: CompareOptions, missing: string[], family: number, unmeasured: string[] = []): Raw[] {
  const raw: Raw[] = [];
  for (const s of suites) {
    for (const v of s.variants) {
      if (v.status !== 'ran' || v.repetitions.length === 0) continue;
      const refVariant = opts.referenceVariant ?? v.id;
      let any = false;
      const mine: Raw[] = [];
      for (const m of s.metrics) {
        const current = metricSamples(v, m.id);
        const base = ref?.samples(s.id, refVariant, m.id);
        if (!base || base.length === 0) continue;
        if (current.length === 0) {
          // Lost only against its own variant: another reference variant (--baseline-variant) may measure what this one's probes cannot.
          if (m.gating && refVariant === v.id) unmeasured.push(`${s.id}/${v.id} ${m.id}: the reference ${ref!.kind} ${ref!.id} measured it, this run measured it in no repetition`);
          else if (m.gating) missing.push(`${s.id}/${v.id} ${m.id}: reference variant ${refVariant} measured it, this variant did not`);
          continue;
        }
        any = true;
        const st = metricStats(base, current, m.direction);
        const entry = opts.noise?.metrics[`${s.id}/${refVariant}/${m.id}`];
        const th = thresholdFor(m, entry, opts.minEffect ?? DEFAULT_MIN_EFFECT, opts.sameSession);
        const noise = mdeNoise(entry, opts.noise?.runs ?? 0, base, current);
        // A client-bound reference understates what the kernel delivered then: when only the
        // reference was client-bound and this run delivered less, a regression is still provable
        // (the true gap is at least the measured one), so only a higher-is-better throughput of this
        // run that did not beat the reference stays usable. Everything else on a saturated client is unusable.
        const thisBound = v.repetitions.some((r) => r.clientBound);
        const refBound = !!ref?.clientBound?.(s.id, refVariant);
        const provable = refBound && !thisBound && m.direction === 'higher' && st.currentMedian < st.baselineMedian;
        const onlyRegression = provable ? clientBoundRule(m.unit, [`the reference ${ref!.kind}`]) : undefined;
        const thin = thinTail(m.id, tailSampleCounts(v, m.id), ref!.tailSamples?.(s.id, refVariant, m.id) ?? [], { current: 'this run', reference: `the reference ${ref!.kind}` });
        const unusable =
          variantOfferRule({ name: 'this run', offeredGbps: v.offeredGbps }, { name: `the reference ${ref!.kind}`, offeredGbps: ref!.variantOffer?.(s.id, refVariant) }) ??
          (provable ? undefined : clientBoundRule(m.unit, [thisBound ? 'this run' : '', refBound ? `the reference ${ref!.kind}` : ''].filter(Boolean))) ??
          offeredLoadRule(
            m.id,
            { name: 'this run', offeredGbps: s.offeredGbps, throughputGbps: v.repetitions.map((r) => r.metrics.throughput_gbps) },
            {
              name: `the reference ${ref!.kind}`,
              offeredGbps: referenceOffer(ref!.offeredGbps?.(s.id), ref!.options),
              throughputGbps: ref!.samples(s.id, refVariant, 'throughput_gbps') ?? [],
            },
          );
        mine.push({
          identical: st.identical,
          separatedWorse: st.separatedWorse,
          pWorse: st.pWorse,
          pBetter: st.pBetter,
          lookAlpha: variantLookAlpha(opts, v, current.length, family, base.length),
          sigma: noise.sigma,
          sigmaSource: noise.source,
          ...(unusable ? { unusable } : {}),
          ...(onlyRegression ? { onlyRegression } : {}),
          ...(thin ? { thin } : {}),
          tail: { worseBeyondThreshold: worseBy(m.direction, st.relChange) >= th.value, pinnedByOffer: pinnedByOffer(m.unit, v, s) },
          c: comparisonFields(s, v, refVariant, m, th, st, { base, current, nBaseline: base.length, nCurrent: current.length }),
        });
      }
      markThinTails(mine, opts.requireMde);
      raw.push(...mine);
      if (ref && !any) missing.push(`${s.id}/${v.id}: the reference ${ref.kind} ${ref.id} has no samples for variant ${refVariant}`);
    }
  }
  return raw;
}

/**
 * Variants this run was asked for (the runner records exactly those) that the reference ran and
 * this run skipped: lost when the kernel lacks what they need, refused when this run's own options
 * or setup left them out. Each names the variant and the skip reason.
 */
export function skippedAgainst(suites: SuiteResult[], ref: Reference | null, referenceVariant?: string): { lost: string[]; refused: string[] } {
  const lost: string[] = [];
  const refused: string[] = [];
  if (!ref) return { lost, refused };
  for (const s of suites)
    for (const v of s.variants) {
      if (v.status !== 'skipped') continue;
      const refVariant = referenceVariant ?? v.id;
      if (!s.metrics.some((m) => (ref.samples(s.id, refVariant, m.id)?.length ?? 0) > 0)) continue;
      const line = `${s.id}/${v.id}: the reference ${ref.kind} ${ref.id} ran it, this run skipped it (${v.reason ?? 'no reason recorded'})`;
      (v.skipKind === 'setup' ? refused : lost).push(line);
    }
  return { lost, refused };
}

/** What the reference had that this run does not, by class: lost (exit 1), refused (exit 2: skipped by this run's options, or a reference that failed its own checks), and the record fields. */
export interface ReferenceGaps {
  lost: string[];
  refused: string[];
  /** lost, setupMissing and referenceIntegrity as a comparison records them (empty ones left out). */
  fields: Pick<Comparison, 'lost' | 'setupMissing' | 'referenceIntegrity' | 'splitDifference'>;
  /** The summary's part for lost variants ('' when none). */
  lostSummary: string;
  /** The summary of a comparison refused for these reasons ('' when none). */
  refusedSummary: string;
}

/** The gaps between a run and its reference (skippedAgainst, gating metrics this run measured nowhere, the reference's own payload and proof failures, another CPU split); adds them to `missing`. */
export function referenceGaps(suites: SuiteResult[], ref: Reference | null, referenceVariant: string | undefined, missing: string[], options: RunOptions, unmeasured: string[] = []): ReferenceGaps {
  const skipped = skippedAgainst(suites, ref, referenceVariant);
  const setupMissing = skipped.refused;
  // A gating metric the reference measured and this run did not, in any repetition, is lost like a variant.
  const lost = [...skipped.lost, ...unmeasured];
  const referenceIntegrity = ref ? (ref.integrityFailures ?? []).map((f) => `the reference ${ref.kind} ${ref.id}: ${f}`) : [];
  const split = splitDifference(ref, options);
  const refused = [...(split ? [split] : []), ...setupMissing, ...referenceIntegrity];
  missing.push(...lost, ...setupMissing);
  return {
    lost,
    refused,
    fields: { ...(split ? { splitDifference: split } : {}), ...(lost.length ? { lost } : {}), ...(setupMissing.length ? { setupMissing } : {}), ...(referenceIntegrity.length ? { referenceIntegrity } : {}) },
    lostSummary: [
      skipped.lost.length ? `${skipped.lost.length} variant(s) lost: ${skipped.lost.join('; ')}` : '',
      unmeasured.length ? `${unmeasured.length} gating metric(s) lost: ${unmeasured.join('; ')}` : '',
    ]
      .filter(Boolean)
      .join('; '),
    refusedSummary: refused.length ? `not comparable: ${refused.slice(0, 3).join('; ')}${refused.length > 3 ? `; +${refused.length - 3} more` : ''}` : '',
  };
}

/**
 * Holm-adjusts one family's one-sided p-values and decides each metric at its look's alpha. The MDE
 * of a gating metric is taken at its look's alpha over the family size: the level Holm's first
 * step holds a single regression to.
 */
function decideFamily(
  family: Raw[],
  final: boolean,
  runAlpha: number,
  adjust: (ps: number[]) => number[] = holmAdjust,
  requireMde?: number,
  size = family.length,
): (MetricComparison & { settled: boolean })[] {
  const worse = adjust(family.map((r) => r.pWorse));
  const better = adjust(family.map((r) => r.pBetter));
  return family.map((r, i) => {
    const mde = r.c.gating
      ? minimumDetectableEffect({ sigma: r.sigma, nBaseline: r.c.nBaseline, nCurrent: r.c.nCurrent, alpha: r.lookAlpha / Math.max(1, size), threshold: r.c.noiseFloor, direction: r.c.direction })
      : undefined;
    // No usable spread (a value <= 0, too few repetitions): no MDE is stated rather than a wrong one.
    const stated = r.c.gating && Number.isFinite(r.sigma) ? mde : undefined;
    const d = decide({
      direction: r.c.direction,
      threshold: r.c.noiseFloor,
      relChange: r.c.relChange,
      ciLow: r.c.ciLow,
      ciHigh: r.c.ciHigh,
      pWorse: worse[i],
      pBetter: better[i],
      pWorseRaw: r.pWorse,
      alpha: r.lookAlpha,
      runAlpha,
      identical: r.identical,
      separatedWorse: r.separatedWorse,
      final,
      ...(stated !== undefined ? { mde: stated } : {}),
      ...(r.c.gating && requireMde !== undefined ? { requireMde } : {}),
      ...(r.unusable ? { unusable: r.unusable } : {}),
      ...(r.c.regressionFloor !== undefined ? { regressionFloor: r.c.regressionFloor } : {}),
    });
    // Only a regression can be shown against a client-bound reference: anything else stays open.
    const open = r.onlyRegression !== undefined && d.verdict !== 'regressed';
    const t = thinVerdict(r.c, open ? 'inconclusive' : d.verdict, open ? r.onlyRegression! : d.rule, r.unusable);
    return {
      ...r.c,
      pAdjusted: worse[i],
      lookAlpha: r.lookAlpha,
      ...(stated !== undefined ? { mde: stated, mdeSource: r.sigmaSource } : {}),
      ...(d.withinDrift && !r.c.notGating ? { withinDrift: true } : {}),
      verdict: t.verdict,
      rule: t.rule,
      settled: r.c.notGating ? true : open ? false : d.settled,
    };
  });
}

/** Gating comparisons the whole run will make: the family size for the multiple-testing correction. */
export function gatingFamilySize(run: RunRecord, ref: Reference | null, referenceVariant?: string): number {
  let m = 0;
  for (const s of run.suites)
    for (const v of s.variants) {
      if (v.status === 'skipped') continue;
      for (const metric of s.metrics) if (metric.gating && ref?.samples(s.id, referenceVariant ?? v.id, metric.id)?.length) m++;
    }
  return m;
}

/**
 * An interim look during a run (adaptive repetitions): the variants of one suite whose gating
 * metrics are still undecided and none regressed, so more repetitions could settle them. Uses
 * Bonferroni over the whole run's gating family (later suites have no samples yet, so Holm
 * cannot step down over them) at this look's alpha.
 */
export function undecidedVariants(run: RunRecord, suiteId: string, ref: Reference | null, opts: CompareOptions): string[] {
  const suite = run.suites.find((s) => s.id === suiteId);
  if (!suite || !ref || !opts.plan) return [];
  const m = Math.max(1, gatingFamilySize(run, ref, opts.referenceVariant));
  // Not final: each metric is judged at its variant's current look; undecided means "add repetitions".
  const raw = collect([suite], ref, opts, [], m).filter((r) => r.c.gating);
  return undecidedOf(suite, decideFamily(raw, false, opts.alpha, (ps) => ps.map((p) => Math.min(1, p * m)), opts.requireMde, m));
}

/** Why a run is inconclusive, by kind of reason, for the summary line (unpaired and paired). */
export function inconclusiveSummary(comparisons: MetricComparison[]): string {
  const open = comparisons.filter((c) => c.gating && c.verdict === 'inconclusive');
  const names = (cs: MetricComparison[]) => cs.slice(0, 3).map((c) => `${c.suite}/${c.variant} ${c.metric}`).join(', ') + (cs.length > 3 ? `, +${cs.length - 3} more` : '');
  const bound = open.filter((c) => c.rule.startsWith('client-bound'));
  const blind = open.filter((c) => /--require-mde/.test(c.rule));
  const offered = open.filter((c) => c.rule.startsWith('offered load'));
  const drift = open.filter((c) => c.withinDrift);
  const thin = open.filter((c) => c.notEstimated && !drift.includes(c));
  const worse = open.filter((c) => !bound.includes(c) && !blind.includes(c) && !offered.includes(c) && !thin.includes(c) && !drift.includes(c));
  return [
    worse.length ? `${worse.length} gating metric(s) look worse but the evidence is not significant (${names(worse)}); run more repetitions` : '',
    bound.length ? `${bound.length} throughput metric(s) were client-bound (${names(bound)})` : '',
    blind.length ? `${blind.length} gating metric(s) could not have detected the required change (${names(blind)})` : '',
    offered.length ? `${offered.length} metric(s) measured at a fixed throughput cannot be compared (${names(offered)}): ${offered[0].rule}` : '',
    drift.length ? `${drift.length} CPU figure(s) moved beyond their floor but within the ${(UNCALIBRATED_CPU_DRIFT * 100).toFixed(0)}% two uncalibrated sessions can differ by (${names(drift)}): run headgate calibrate on this machine` : '',
    thin.length ? `${thin.length} gating percentile(s) from too few samples beyond them look worse without significance (${names(thin)}): longer repetitions (--duration)` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** The summary's note on gating metrics that did not gate (thin percentiles), '' when none. */
export function notGatingSummary(comparisons: MetricComparison[]): string {
  const cs = comparisons.filter((c) => c.notGating);
  if (!cs.length) return '';
  const names = cs.slice(0, 3).map((c) => `${c.suite}/${c.variant} ${c.metric}`).join(', ') + (cs.length > 3 ? `, +${cs.length - 3} more` : '');
  return `; ${cs.length} gating percentile(s) not gated, too few samples beyond them (${names}): longer repetitions gate them`;
}

/**
 * Compares every metric of every variant that ran with the reference samples. Gating metrics
 * form one family for the Holm correction; informational metrics another. Each metric is decided
 * at the alpha of its variant's last look, so adaptive repetitions keep the false-alarm rate.
 */
export function compareRun(run: RunRecord, ref: Reference | null, given: CompareOptions): Comparison {
  const { opts, noiseNote } = noiseFor(given, run.options);
  const comparisons: MetricComparison[] = [];
  const missing: string[] = [];
  const unmeasured: string[] = [];
  const raw = collect(run.suites, ref, opts, missing, Math.max(1, gatingFamilySize(run, ref, opts.referenceVariant)), unmeasured);
  for (const gating of [true, false]) {
    for (const d of decideFamily(raw.filter((r) => r.c.gating === gating), true, opts.alpha, holmAdjust, opts.requireMde)) {
      const { settled: _settled, ...c } = d;
      comparisons.push(c);
    }
  }
  sortComparisons(comparisons);
  const integrity = integrityFailures(run);
  const infra = infrastructureErrors(run);
  const gaps = referenceGaps(run.suites, ref, opts.referenceVariant, missing, run.options, unmeasured);
  const { verdict, exitCode } = runVerdict({ comparisons, integrityFailures: integrity, infraErrors: infra, hasReference: ref !== null, onInconclusive: opts.onInconclusive, lost: gaps.lost, refused: gaps.refused, requireReference: opts.requireReference !== undefined });
  const regressed = comparisons.filter((c) => c.gating && c.verdict === 'regressed');
  const summary =
    verdict === 'fail'
      ? [
          integrity.length ? `${integrity.length} payload verification or proof failure(s) (first: ${integrity[0]})` : '',
          gaps.lostSummary,
          regressed.length ? `${regressed.length} gating metric(s) regressed: ${regressed.map((c) => `${c.suite}/${c.variant} ${c.metric} ${(c.relChange * 100).toFixed(1)}%`).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ')
      : verdict === 'error'
        ? infra.length
          ? `infrastructure error: ${infra[0]}`
          : gaps.refusedSummary
          ? gaps.refusedSummary
          : `nothing compared: ${ref?.kind ?? 'the reference'} ${ref?.id ?? ''} has no gating metric of this run (${missing.slice(0, 3).join('; ') || 'no suite or variant in common'}); a gate that compared nothing cannot pass`
        : verdict === 'inconclusive'
          ? `inconclusive: ${inconclusiveSummary(comparisons)}${notGatingSummary(comparisons)}`
          : verdict === 'no-baseline'
            ? opts.requireReference !== undefined
              ? `no baseline for profile ${run.profile} in ${opts.requireReference}: one is required (the run is kept: review it, then headgate baseline promote RUN --reason ...)`
              : 'no baseline to compare with: the run is ready to promote'
            : `pass: no gating metric regressed (${comparisons.filter((c) => c.gating).length} gating comparisons)${notGatingSummary(comparisons)}`;
  return {
    reference: ref ? { kind: ref.kind, id: ref.id, profile: ref.profile, file: ref.file } : { kind: 'baseline', id: 'none' },
    alpha: opts.alpha,
    ...(opts.plan ? { plan: opts.plan } : {}),
    ...noiseRecord(opts.noise),
    comparisons,
    integrityFailures: integrity,
    fingerprintDifferences: [
      ...(ref ? [...fingerprintDifferences(ref.fingerprint, run.fingerprint), ...optionDifferences(ref.options, run.options), ...offeredDifferences(run.suites, (id) => ref.offeredGbps?.(id))] : []),
      ...(noiseNote ? [noiseNote] : []),
    ],
    missing,
    ...gaps.fields,
    verdict,
    exitCode,
    summary,
  };
}
