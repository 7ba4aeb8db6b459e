/**
 * Paired analysis of an interleaved comparison (`ab` in its forms, in-run --baseline-variant):
 * B's repetition of round r is compared with A's repetition of the same round, so the level the
 * machine was at during that round (session drift, a step in the middle of the session) cancels
 * in the ratio B/A. Per metric:
 *
 *  - the evidence is the within-pair log ratios d_i = log(B_i / A_i);
 *  - significance: a one-sided Wilcoxon signed-rank test of d in the metric's bad direction
 *    (exact for small n, stats/signedrank.ts for the conventions on zeros and ties);
 *  - effect: exp(HL) - 1, HL the Hodges-Lehmann pseudo-median of d, with the interval exp(CI) - 1
 *    from the signed-rank distribution: computed on the log scale, it can never pass -100%;
 *  - decision: the same rules and vocabulary as the unpaired comparison (stats/compare.ts decide):
 *    regressed / improved / unchanged / inconclusive, and "undecided" (inconclusive, not settled)
 *    before the last look; p-values are adjusted for multiplicity by the caller (Holm over the
 *    run's gating family) and each metric is decided at its look's alpha (stats/sequential.ts).
 *
 * Pure: run records in, records out.
 */
import { metricSamples, tailSampleCounts } from '../model/samples.js';
import type {
  Comparison,
  Direction,
  MetricComparison,
  Repetition,
  RunRecord,
  SuiteResult,
  VariantResult,
} from '../model/types.js';
import { decide, worseBy, type Decision, type MetricStats } from '../stats/compare.js';
import { holmAdjust } from '../stats/multiple.js';
import { alphaSpent, firstLookFloor, singleLook, type SequentialPlan } from '../stats/sequential.js';
import {
  pairSpread,
  pseudoMedian,
  pseudoMedianCI,
  signedRankMde,
  signedRankMinP,
  signedRankTest,
} from '../stats/signedrank.js';
import { median } from '../stats/summary.js';
import { fingerprintDifferences } from '../model/profile.js';
import {
  clientBoundRule,
  comparisonFields,
  infrastructureErrors,
  noiseRecord,
  sortComparisons,
  undecidedOf,
  integrityFailures,
  offeredDifferences,
  noiseFor,
  optionDifferences,
  runVerdict,
  runAsReference,
  referenceGaps,
  inconclusiveSummary,
  notGatingSummary,
  pinnedByOffer,
  type CompareOptions,
} from './compare.js';
import { markThinTails, thinTail, thinVerdict, type ThinTail } from './tail.js';
import { DEFAULT_MIN_EFFECT, thresholdFor } from './noise.js';
import { offeredLoadRule, referenceOffer, variantOfferRule } from './offered.js';

/** One pair: A's and B's value of a metric measured in the same round (or block position). */
export interface Pair {
  /** Round (repetition index) or "block:position" the pair came from. */
  key: string;
  a: number;
  b: number;
}

type Reps = readonly Repetition[];

/**
 * Pairs A's and B's repetitions of one metric:
 *  - repetitions of one run (rounds): B's repetition with index r and A's with index r;
 *  - blocks (two targets, A B B A ...): given as arrays of blocks (each block its own run, its
 *    repetitions indexed from 0), repetition k of B's block j with repetition k of A's block j.
 * Incomplete pairs (a side missing, or a value that is not a finite number: see
 * model/samples.ts) are dropped. Pairs come out in round / block order.
 */
export function pairsOf(a: Reps | readonly Reps[], b: Reps | readonly Reps[], metric: string): Pair[] {
  const keyed = (side: Reps | readonly Reps[]): Map<string, number> => {
    const out = new Map<string, number>();
    const put = (key: string, r: Repetition) => {
      const x = metricSamples({ repetitions: [r] }, metric)[0];
      if (x !== undefined && !out.has(key)) out.set(key, x);
    };
    if (side.length && Array.isArray(side[0])) {
      // Each block is its own run: repetition index k is the k-th repetition of the block.
      (side as readonly Reps[]).forEach((block, j) => block.forEach((r) => put(`${j}:${r.index}`, r)));
    } else {
      for (const r of side as Reps) put(String(r.index), r);
    }
    return out;
  };
  const ka = keyed(a);
  const kb = keyed(b);
  const order = (k: string) => k.split(':').map(Number);
  const keys = [...kb.keys()]
    .filter((k) => ka.has(k))
    .sort((p, q) => {
      const [x, y] = [order(p), order(q)];
      return x[0] - y[0] || (x[1] ?? 0) - (y[1] ?? 0);
    });
  return keys.map((key) => ({ key, a: ka.get(key)!, b: kb.get(key)! }));
}

/**
 * log(b / a) of one pair: 0 when equal (both 0 included), +-Infinity when one side is 0 (a
 * throughput that fell to nothing is the worst change there is, and ranks so), NaN when a value
 * is negative (no ratio scale).
 */
export function logRatio(p: Pair): number {
  if (p.a === p.b) return 0;
  if (p.a < 0 || p.b < 0) return NaN;
  return Math.log(p.b) - Math.log(p.a);
}

/** The statistics of one metric's pairs: the fields of the unpaired MetricStats, and how they were got. */
export interface PairedStats extends MetricStats {
  /** Pairs used (with a ratio). */
  nPairs: number;
  /** Pairs whose values could not form a ratio (a negative value): dropped. */
  invalid: number;
  /** Pairs with B = A exactly: dropped from the test (Wilcoxon), kept for the estimate and interval. */
  zeros: number;
  method: 'exact' | 'normal';
  /** Coverage of [ciLow, ciHigh] (below 95% only with fewer than 6 pairs). */
  confidence: number;
  /** Every pair worse in the metric's bad direction. */
  allPairsWorse: boolean;
  /** Robust spread of the log ratios (for the MDE; NaN with fewer than 2 pairs). */
  sigma: number;
}

/**
 * Test statistics of one metric from its pairs: a drop-in for stats/compare.ts metricStats
 * (same fields, the medians those of the paired values), for compareRun's collect step.
 */
export function pairedStats(pairs: readonly Pair[], direction: Direction, confidence = 0.95): PairedStats {
  const valid = pairs.filter((p) => !Number.isNaN(logRatio(p)));
  const d = valid.map(logRatio);
  const base = {
    baselineMedian: median(valid.map((p) => p.a)),
    currentMedian: median(valid.map((p) => p.b)),
    nPairs: valid.length,
    invalid: pairs.length - valid.length,
  };
  if (d.length === 0 || d.every((x) => x === 0)) {
    // No pairs: nothing to compare (the caller skips the metric); all equal: identical.
    return {
      ...base,
      relChange: 0,
      ciLow: 0,
      ciHigh: 0,
      pValue: 1,
      pWorse: 1,
      pBetter: 1,
      identical: d.length > 0,
      separatedWorse: false,
      allPairsWorse: false,
      zeros: d.length,
      method: 'exact',
      confidence: d.length ? 1 : 0,
      sigma: pairSpread(d),
    };
  }
  const t = signedRankTest(d);
  const ci = pseudoMedianCI(d, confidence);
  const worse = (x: number) => (direction === 'higher' ? x < 0 : x > 0);
  const allPairsWorse = d.every(worse);
  return {
    ...base,
    relChange: Math.expm1(pseudoMedian(d)),
    ciLow: Math.expm1(ci.low),
    ciHigh: Math.expm1(ci.high),
    pValue: t.pValue,
    pWorse: direction === 'higher' ? t.pLess : t.pGreater,
    pBetter: direction === 'higher' ? t.pGreater : t.pLess,
    identical: false,
    separatedWorse: allPairsWorse,
    allPairsWorse,
    zeros: t.zeros,
    method: t.method,
    confidence: ci.confidence,
    sigma: pairSpread(d),
  };
}

/** What one paired decision needs besides the pairs: the metric's side, threshold and this look. */
export interface PairedDecisionInput {
  direction: Direction;
  /** Practical threshold (relative), see verdict/noise.ts thresholdFor. */
  threshold: number;
  /** Significance level of this look (stats/sequential.ts lookAlpha). */
  alpha: number;
  /** The run's alpha over all looks, for the "suggestive" band (default: alpha). */
  runAlpha?: number;
  /** No more repetitions will come (default true). */
  final?: boolean;
  /** One-sided p-values after the caller's multiplicity step (default: the raw ones, a family of one). */
  pWorseAdjusted?: number;
  pBetterAdjusted?: number;
  /** Passed through to decide(): the MDE of this comparison, the largest the gate accepts, why the samples cannot speak. */
  mde?: number | null;
  requireMde?: number;
  unusable?: string;
  /** Passed through to decide(): the least change a regression needs across sessions when the drift is not calibrated. */
  regressionFloor?: number;
}

/** A paired decision: the verdict and its rule, the effect with its interval, p before and after adjustment. */
export interface PairedDecision
  extends Decision,
    Pick<MetricStats, 'relChange' | 'ciLow' | 'ciHigh' | 'pValue' | 'pWorse' | 'pBetter' | 'baselineMedian' | 'currentMedian'> {
  pAdjusted: number;
  lookAlpha: number;
  nPairs: number;
  stats: PairedStats;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Decides one metric from its paired statistics (the rules of stats/compare.ts decide, worded for pairs). */
export function decidePaired(st: PairedStats, input: PairedDecisionInput): PairedDecision {
  const pWorse = input.pWorseAdjusted ?? st.pWorse;
  const pBetter = input.pBetterAdjusted ?? st.pBetter;
  const common = {
    relChange: st.relChange,
    ciLow: st.ciLow,
    ciHigh: st.ciHigh,
    pValue: st.pValue,
    pWorse: st.pWorse,
    pBetter: st.pBetter,
    pAdjusted: pWorse,
    lookAlpha: input.alpha,
    nPairs: st.nPairs,
    baselineMedian: st.baselineMedian,
    currentMedian: st.currentMedian,
    stats: st,
  };
  if (st.nPairs === 0) {
    return {
      ...common,
      verdict: 'inconclusive',
      rule: `paired: no complete pairs (${st.invalid} without a ratio): nothing to compare`,
      settled: true,
    };
  }
  // Built apart so that fields decide() may not know yet (pWorseRaw) are no excess-property error.
  const decision = {
    direction: input.direction,
    threshold: input.threshold,
    relChange: st.relChange,
    ciLow: st.ciLow,
    ciHigh: st.ciHigh,
    pWorse,
    pBetter,
    alpha: input.alpha,
    runAlpha: input.runAlpha,
    identical: st.identical,
    separatedWorse: st.allPairsWorse,
    final: input.final ?? true,
    pWorseRaw: st.pWorse,
    ...(input.mde !== undefined ? { mde: input.mde } : {}),
    ...(input.requireMde !== undefined ? { requireMde: input.requireMde } : {}),
    ...(input.unusable ? { unusable: input.unusable } : {}),
    ...(input.regressionFloor !== undefined ? { regressionFloor: input.regressionFloor } : {}),
  };
  const d = decide(decision);
  const what = `paired, ${st.nPairs} pairs, Wilcoxon signed-rank ${st.method}${st.zeros ? `, ${st.zeros} equal pairs` : ''}`;
  const ci = `interval [${pct(st.ciLow)}, ${pct(st.ciHigh)}]${st.confidence < 0.95 - 1e-9 ? ` (only ${pct(st.confidence)} coverage with so few pairs)` : ''}`;
  // decide() words separation for two samples; with pairs it means every pair went the bad way.
  const rule = d.rule.replace('every repetition worse than every reference one', `B worse than A in every pair`);
  return { ...common, verdict: d.verdict, rule: `${rule} [${what}; ${ci}]`, settled: d.settled, ...(d.withinDrift ? { withinDrift: d.withinDrift } : {}) };
}

/** Paired statistics and decision of one metric in one call (a family of one unless adjusted p-values are given). */
export function comparePaired(pairs: readonly Pair[], input: PairedDecisionInput): PairedDecision {
  return decidePaired(pairedStats(pairs, input.direction), input);
}

/* ----- A whole run, paired: what compareRun does, with pairs instead of two samples ----- */

/** A MetricComparison from paired data, with what the pairing did. */
export type PairedComparison = MetricComparison & {
  paired: { pairs: number; zeros: number; invalid: number; method: 'exact' | 'normal'; confidence: number };
};

/**
 * The sequential plan one variant ran under (nStart: its first look), as compare.ts does. The
 * first-look floor (stats/sequential.ts firstLookFloor) is taken only when it lets the strongest
 * paired evidence of nStart pairs (2^-nStart) be significant over the gating family; capped below
 * that, it would spend alpha on a look that cannot reject.
 */
function variantPlan(opts: CompareOptions, v: VariantResult, n: number, family: number): SequentialPlan {
  if (!opts.plan) return singleLook(opts.alpha, n);
  const nStart = v.adaptive?.looks[0] ?? n;
  const need = Math.max(1, family) * signedRankMinP(nStart);
  const floor = firstLookFloor(opts.alpha, family, signedRankMinP(nStart));
  return { alpha: opts.alpha, nStart, ...opts.plan, ...(floor >= need ? { firstLook: floor } : {}) };
}

/**
 * This look's alpha for a variant with n repetitions: the spending function's increment since the
 * last earlier look that could have rejected at all. A look whose level is below 2^-n x the family
 * size (the smallest p n pairs can give, at Holm's or Bonferroni's first step) has probability 0
 * of a false alarm, so the alpha it was allotted is still unspent and passes to the next look:
 * the union bound over looks still adds up to at most alpha. Depends on counts only (the looks'
 * repetitions, the family size), never on the data. With 8 pairs and 9 gating metrics the first
 * look (and the one at 12) cannot reject: without the carry, a third of alpha would be lost.
 */
function variantLookAlpha(opts: CompareOptions, v: VariantResult, n: number, family: number): number {
  const plan = variantPlan(opts, v, n, family);
  const looks = v.adaptive?.looks?.length ? v.adaptive.looks : [n];
  const seq = looks[looks.length - 1] === n ? looks : [...looks, n];
  let spent = 0;
  let level = 0;
  seq.forEach((nk, k) => {
    // A look that ends the budget (count or wall time, both independent of the data) gets what is left.
    const last = k === seq.length - 1 && (nk >= plan.nMax || v.adaptive?.stoppedBy === 'time' || !opts.plan);
    const end = last ? plan.alpha : alphaSpent(plan, nk);
    level = Math.max(0, end - spent);
    if (signedRankMinP(nk) * Math.max(1, family) <= level) spent = end;
  });
  return level;
}

type Raw = {
  c: Omit<PairedComparison, 'verdict' | 'rule' | 'pAdjusted'>;
  st: PairedStats;
  lookAlpha: number;
  unusable?: string;
  /** A percentile with too few samples beyond it (verdict/tail.ts): not estimated. */
  thin?: ThinTail;
  /** What the thin-percentile rule needs besides gating and thin (verdict/tail.ts TailRow). */
  tail: { worseBeyondThreshold: boolean; pinnedByOffer: boolean };
};

/** Paired statistics of every metric of the given suites of `run` against the same round of `ref`. */
function collectPaired(
  suites: SuiteResult[],
  ref: RunRecord,
  opts: CompareOptions,
  missing: string[],
  family: number,
  unmeasured: string[] = [],
): Raw[] {
  const raw: Raw[] = [];
  for (const s of suites) {
    const rs = ref.suites.find((x) => x.id === s.id);
    for (const v of s.variants) {
      if (v.status !== 'ran' || v.repetitions.length === 0) continue;
      const refVariant = opts.referenceVariant ?? v.id;
      const rv = rs?.variants.find((x) => x.id === refVariant);
      let any = false;
      const mine: Raw[] = [];
      for (const m of s.metrics) {
        const pairs = rv ? pairsOf(rv.repetitions, v.repetitions, m.id) : [];
        const st = pairedStats(pairs, m.direction);
        if (st.nPairs === 0) {
          // Lost only against its own variant: another reference variant (--baseline-variant) may measure what this one's probes cannot.
          if (m.gating && metricSamples(rv, m.id).length && !metricSamples(v, m.id).length) {
            if (refVariant === v.id) unmeasured.push(`${s.id}/${v.id} ${m.id}: A (run ${ref.runId}) measured it, B measured it in no repetition`);
            else missing.push(`${s.id}/${v.id} ${m.id}: reference variant ${refVariant} measured it, this variant did not`);
          }
          continue;
        }
        any = true;
        const th = thresholdFor(
          m,
          opts.noise?.metrics[`${s.id}/${refVariant}/${m.id}`],
          opts.minEffect ?? DEFAULT_MIN_EFFECT,
          opts.sameSession,
        );
        const thin = thinTail(m.id, tailSampleCounts(v, m.id), tailSampleCounts(rv, m.id), { current: 'B', reference: 'A' });
        const unusable =
          variantOfferRule({ name: 'B', offeredGbps: v.offeredGbps }, { name: 'A', offeredGbps: rv?.offeredGbps }) ??
          clientBoundRule(m.unit, [v.repetitions.some((r) => r.clientBound) ? 'B' : '', rv?.repetitions.some((r) => r.clientBound) ? 'A' : ''].filter(Boolean)) ??
          offeredLoadRule(
            m.id,
            { name: 'B', offeredGbps: s.offeredGbps, throughputGbps: v.repetitions.map((r) => r.metrics.throughput_gbps) },
            { name: 'A', offeredGbps: referenceOffer(rs?.offeredGbps, ref.options), throughputGbps: rv?.repetitions.map((r) => r.metrics.throughput_gbps) ?? [] },
          );
        mine.push({
          st,
          lookAlpha: variantLookAlpha(opts, v, v.repetitions.length, family),
          ...(unusable ? { unusable } : {}),
          ...(thin ? { thin } : {}),
          tail: { worseBeyondThreshold: worseBy(m.direction, st.relChange) >= th.value, pinnedByOffer: pinnedByOffer(m.unit, v, s) },
          c: {
            ...comparisonFields(s, v, refVariant, m, th, st, { base: pairs.map((p) => p.a), current: pairs.map((p) => p.b), nBaseline: st.nPairs, nCurrent: st.nPairs }),
            paired: {
              pairs: st.nPairs,
              zeros: st.zeros,
              invalid: st.invalid,
              method: st.method,
              confidence: st.confidence,
            },
          },
        });
      }
      markThinTails(mine, opts.requireMde);
      raw.push(...mine);
      if (!any)
        missing.push(`${s.id}/${v.id}: the reference run ${ref.runId} has no complete pairs for variant ${refVariant}`);
    }
  }
  return raw;
}

/**
 * Adjusts one family's one-sided p-values and decides each metric at its look's alpha. A gating
 * metric's MDE is taken at its look's alpha over the family size (Holm's first step), from the
 * spread of its own log ratios: the noise pairing leaves, not the calibrated noise it removes.
 */
function decideFamily(
  family: Raw[],
  final: boolean,
  runAlpha: number,
  adjust: (ps: number[]) => number[] = holmAdjust,
  requireMde?: number,
  size = family.length,
): (PairedComparison & { settled: boolean })[] {
  const worse = adjust(family.map((r) => r.st.pWorse));
  const better = adjust(family.map((r) => r.st.pBetter));
  return family.map((r, i) => {
    const mde =
      r.c.gating && Number.isFinite(r.st.sigma)
        ? signedRankMde({
            sigma: r.st.sigma,
            n: r.st.nPairs,
            alpha: r.lookAlpha / Math.max(1, size),
            threshold: r.c.noiseFloor,
            direction: r.c.direction,
          })
        : undefined;
    const d = decidePaired(r.st, {
      direction: r.c.direction,
      threshold: r.c.noiseFloor,
      alpha: r.lookAlpha,
      runAlpha,
      final,
      pWorseAdjusted: worse[i],
      pBetterAdjusted: better[i],
      ...(mde !== undefined ? { mde } : {}),
      ...(r.c.gating && requireMde !== undefined ? { requireMde } : {}),
      ...(r.unusable ? { unusable: r.unusable } : {}),
      ...(r.c.regressionFloor !== undefined ? { regressionFloor: r.c.regressionFloor } : {}),
    });
    const mdeFields =
      mde !== undefined
        ? { mde, mdeSource: `spread of the ${r.st.nPairs} within-pair log ratios ${(r.st.sigma * 100).toFixed(1)}%` }
        : {};
    const t = thinVerdict(r.c, d.verdict, d.rule, r.unusable);
    return {
      ...r.c,
      pAdjusted: worse[i],
      lookAlpha: r.lookAlpha,
      ...mdeFields,
      ...(d.withinDrift && !r.c.notGating ? { withinDrift: true as const } : {}),
      verdict: t.verdict,
      rule: t.rule,
      settled: r.c.notGating ? true : d.settled,
    };
  });
}

/** Gating comparisons with pairs the whole run will make: the family size at interim looks. */
function pairedFamilySize(run: RunRecord, ref: RunRecord, referenceVariant?: string): number {
  let m = 0;
  for (const s of run.suites) {
    const rs = ref.suites.find((x) => x.id === s.id);
    for (const v of s.variants) {
      if (v.status === 'skipped') continue;
      const rv = rs?.variants.find((x) => x.id === (referenceVariant ?? v.id));
      for (const metric of s.metrics) if (metric.gating && rv && metricSamples(rv, metric.id).length) m++;
    }
  }
  return m;
}

/**
 * The paired counterpart of compare.ts undecidedVariants: at an interim look, the variants of one
 * suite whose gating metrics are still undecided and none regressed (Bonferroni over the run's
 * gating family, at each variant's look alpha).
 */
export function undecidedPairedVariants(
  run: RunRecord,
  suiteId: string,
  ref: RunRecord,
  opts: CompareOptions,
): string[] {
  const suite = run.suites.find((s) => s.id === suiteId);
  if (!suite || !opts.plan) return [];
  const m = Math.max(1, pairedFamilySize(run, ref, opts.referenceVariant));
  const raw = collectPaired([suite], ref, opts, [], m).filter((r) => r.c.gating);
  return undecidedOf(suite, decideFamily(raw, false, opts.alpha, (ps) => ps.map((p) => Math.min(1, p * m)), opts.requireMde, m));
}

/**
 * The paired counterpart of compare.ts compareRun, for a reference measured in the same rounds
 * (an interleaved session, or ab's joined blocks): gating metrics one Holm family, informational
 * metrics another, each metric decided at its variant's last look's alpha; the run verdict by
 * compare.ts runVerdict.
 */
export function comparePairedRun(
  run: RunRecord,
  ref: RunRecord,
  given: CompareOptions,
): Comparison & { comparisons: PairedComparison[] } {
  const { opts, noiseNote } = noiseFor(given, run.options);
  const comparisons: PairedComparison[] = [];
  const missing: string[] = [];
  const unmeasured: string[] = [];
  const raw = collectPaired(run.suites, ref, opts, missing, Math.max(1, pairedFamilySize(run, ref, opts.referenceVariant)), unmeasured);
  for (const gating of [true, false]) {
    for (const d of decideFamily(
      raw.filter((r) => r.c.gating === gating),
      true,
      opts.alpha,
      holmAdjust,
      opts.requireMde,
    )) {
      const { settled: _settled, ...c } = d;
      comparisons.push(c);
    }
  }
  sortComparisons(comparisons);
  const integrity = integrityFailures(run);
  const infra = infrastructureErrors(run);
  // What one side ran and the other skipped is lost (kernel) or refused (options), as in compareRun;
  // the A side's own verification and proof failures make it no reference (M7).
  const gaps = referenceGaps(run.suites, runAsReference(ref), opts.referenceVariant, missing, run.options, unmeasured);
  const { verdict, exitCode } = runVerdict({
    comparisons,
    integrityFailures: integrity,
    infraErrors: infra,
    hasReference: true,
    onInconclusive: opts.onInconclusive,
    lost: gaps.lost,
    refused: gaps.refused,
  });
  const gating = comparisons.filter((c) => c.gating);
  const regressed = gating.filter((c) => c.verdict === 'regressed');
  const summary =
    verdict === 'fail'
      ? [
          integrity.length ? `${integrity.length} payload verification or proof failure(s) (first: ${integrity[0]})` : '',
          gaps.lostSummary,
          regressed.length
            ? `${regressed.length} gating metric(s) regressed (paired): ${regressed.map((c) => `${c.suite}/${c.variant} ${c.metric} ${pct(c.relChange)}`).join(', ')}`
            : '',
        ]
          .filter(Boolean)
          .join('; ')
      : verdict === 'error'
        ? infra.length
          ? `infrastructure error: ${infra[0]}`
          : gaps.refusedSummary
            ? gaps.refusedSummary
            : `nothing compared: run ${ref.runId} has no complete pairs for a gating metric of this run (${missing.slice(0, 3).join('; ') || 'no suite or variant in common'})`
        : verdict === 'inconclusive'
          ? `inconclusive: ${inconclusiveSummary(comparisons)}${notGatingSummary(comparisons)}`
          : `pass: no gating metric regressed (${gating.length} paired gating comparisons)${notGatingSummary(comparisons)}`;
  return {
    reference: { kind: 'run', id: ref.runId, profile: ref.profile },
    alpha: opts.alpha,
    ...(opts.plan ? { plan: opts.plan } : {}),
    ...noiseRecord(opts.noise),
    comparisons,
    integrityFailures: integrity,
    fingerprintDifferences: [
      ...fingerprintDifferences(ref.fingerprint, run.fingerprint),
      ...optionDifferences(ref.options, run.options),
      ...offeredDifferences(run.suites, (id) => ref.suites.find((s) => s.id === id)?.offeredGbps),
      ...(noiseNote ? [noiseNote] : []),
    ],
    missing,
    ...gaps.fields,
    verdict,
    exitCode,
    summary,
  };
}
