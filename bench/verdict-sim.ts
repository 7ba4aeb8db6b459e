/**
 * Simulated gates for the verdict-quality benchmark: the production comparison code (interim
 * looks, adaptive repetitions, Holm, thresholds from calibration) fed with repetitions drawn from
 * noise measured on a real machine (a `headgate calibrate` noise.json), so the error rates it
 * reports are those of the code that gates merges, under noise that is skewed and has outliers.
 * Unpaired gates go through verdict/compare.ts (compareRun, undecidedVariants), paired ones through
 * verdict/paired.ts (comparePairedRun, undecidedPairedVariants): the same alpha spending over
 * looks (stats/sequential.ts), Holm, thresholds and decision rules.
 *
 * Drift model (fitDrift): a calibration's residuals are in time order (session by session,
 * repetition by repetition), so besides the shape of the noise they show how the level moves
 * within a session. Per variant, on the "badness index" (the inverse-variance weighted mean over
 * its gating metrics of +-log(1 + residual), signed so that higher is worse):
 *  - steps: in each session the best single split (segments of 2 or more rounds, largest
 *    two-sample t); kept when a permutation test of that maximum (999 shuffles) gives p <= 0.05.
 *    Step probability per repetition slot = steps / (sessions x (runs - 1) x slots per round of
 *    the calibration, i.e. its variant count); step size: normal with the RMS of the kept steps;
 *  - walk: on the index with the steps taken out, the semivariogram gamma(k) = sigma_e^2 +
 *    k sigma_w^2 / 2 over lags 1..5 (least squares); sigma_w^2 per round / slots per round is the
 *    variance of the walk's step per slot, kept when a permutation test of the slope (each
 *    session shuffled: no walk) gives p <= 0.05, else 0 (a flat variogram's noise is no walk);
 *  - loadings: each gating metric moves with the index by its within-session regression slope;
 *  - innovations: each residual with its metric's share of the fitted steps taken out, around
 *    its session's median again (as calibrated residuals are); they are drawn iid (one index for all metrics of a variant, which keeps their correlation). The
 *    part of the walk not taken out stays in them (counted twice: conservative for both designs);
 *  - between sessions: the session offset (normal, the spread the calibrated drift between
 *    sessions implies), as before; steps between sessions are part of that offset.
 * In a simulated session each variant's level follows its own path slot by slot: interleaved A/B
 * puts A's repetition of round i in slot 2i and B's in slot 2i + 1 (they share the path); a
 * stored-baseline session puts repetition i in slot i x (variants), each side its own session.
 */
import { compareRun, runAsReference, undecidedVariants, type CompareOptions } from '../harness/verdict/compare.js';
import { comparePairedRun, undecidedPairedVariants } from '../harness/verdict/paired.js';
import type { NoiseProfile } from '../harness/verdict/noise.js';
import type { Comparison, MetricDef, RunRecord, RunVerdict, SuiteResult } from '../harness/model/types.js';
import { mulberry32 } from '../harness/stats/shift.js';

/** One gating metric of the simulated gate with its measured noise. */
export interface SimMetric {
  suite: string;
  variant: string;
  def: MetricDef;
  residuals: number[];
  drift: number;
}

/** The simulated gate's shape: sample sizes and the comparison options of the default gate. */
export interface SimGate {
  metrics: SimMetric[];
  /** Baseline repetitions and the current run's first look (the gate's --runs). */
  runs: number;
  /** Comparison options, with plan (adaptive) or without. */
  compare: CompareOptions & { adaptive?: { batch: number; maxRuns: number } };
  /**
   * Session-to-session offsets: each session's level is normal around the long-run level with the
   * standard deviation the calibration's largest pairwise shift implies (range of `sessions` normals).
   */
  sessionDrift: boolean;
  /** A/A sessions the drift was measured over (for the range-to-sigma factor). */
  sessions?: number;
  /** A/B in one session (`headgate ab`): the reference gets the added repetitions too. */
  interleaved?: boolean;
  /** Analyse B's repetition of each round against A's of the same round (verdict/paired.ts); interleaved only. */
  paired?: boolean;
  /** Level drift within sessions (fitDrift); absent: independent draws of the raw residuals. */
  drift?: DriftModel;
}

/** The fitted drift of one variant (see the file comment). */
export interface VariantDrift {
  /** suite/variant */
  key: string;
  /** SD of the random walk's step per repetition slot (log scale, index units); 0 unless significant. */
  walkSd: number;
  /** Permutation p of the variogram's slope (1 when not positive). */
  walkP: number;
  /** Probability of a level step per slot, and the SD of its size (log scale, index units). */
  stepProb: number;
  stepSd: number;
  /** Steps found in the calibration: session, first round after the step (1-based), size, permutation p. */
  steps: { session: number; round: number; size: number; p: number }[];
  /** Per gating metric: how much of the index's movement it follows (sign-aligned: + means worse). */
  loadings: Record<string, number>;
  /** Per gating metric: the residuals with the fitted steps taken out (drawn iid). */
  innovations: Record<string, number[]>;
  /** Semivariogram of the index without steps, lags 1..5 (log scale, squared). */
  variogram: number[];
}

/** Drift within sessions, per variant, and a factor to scale it (1 = as fitted). */
export interface DriftModel {
  variants: Map<string, VariantDrift>;
  scale: number;
}

/** Largest two-sample t over the single splits of a series (segments of at least 2). */
function bestSplit(x: readonly number[]): { t: number; at: number } {
  let best = { t: 0, at: -1 };
  const n = x.length;
  for (let c = 2; c <= n - 2; c++) {
    const l = x.slice(0, c);
    const r = x.slice(c);
    const ml = l.reduce((a, b) => a + b, 0) / l.length;
    const mr = r.reduce((a, b) => a + b, 0) / r.length;
    const ss = l.reduce((a, v) => a + (v - ml) ** 2, 0) + r.reduce((a, v) => a + (v - mr) ** 2, 0);
    const sd = Math.sqrt(ss / (n - 2));
    if (sd === 0) continue;
    const t = Math.abs(mr - ml) / (sd * Math.sqrt(1 / l.length + 1 / r.length));
    if (t > best.t) best = { t, at: c };
  }
  return best;
}

/** Significance level of a step in one session's series (permutation test of the largest split). */
export const STEP_P = 0.05;

/**
 * Fits the drift model to a calibration's gating metrics (see the file comment). `runs` and
 * `sessions` give the time order of the residuals; `slotsPerRound` is the calibration's variant
 * count (its repetitions of one variant are that many slots apart).
 */
export function fitDrift(metrics: SimMetric[], sessions: number, runs: number, slotsPerRound: number, scale = 1, seed = 7): DriftModel {
  const rnd = mulberry32(seed);
  const groups = new Map<string, SimMetric[]>();
  for (const m of metrics) groups.set(`${m.suite}/${m.variant}`, [...(groups.get(`${m.suite}/${m.variant}`) ?? []), m]);
  const variants = new Map<string, VariantDrift>();
  for (const [key, ms] of groups) {
    const none: VariantDrift = { key, walkSd: 0, walkP: 1, stepProb: 0, stepSd: 0, steps: [], loadings: Object.fromEntries(ms.map((m) => [m.def.id, 0])), innovations: Object.fromEntries(ms.map((m) => [m.def.id, m.residuals])), variogram: [] };
    if (runs < 5 || sessions < 1 || ms.some((m) => m.residuals.length !== sessions * runs)) {
      variants.set(key, none);
      continue;
    }
    const sign = (m: SimMetric) => (m.def.direction === 'lower' ? 1 : -1);
    // y[m][s][t]: sign-aligned log residual; idx[s][t]: their inverse-variance weighted mean (the
    // badness index: the quiet metrics say most about the level, a noisy p99 little).
    const y = ms.map((m) => Array.from({ length: sessions }, (_, s) => m.residuals.slice(s * runs, (s + 1) * runs).map((r) => sign(m) * Math.log1p(Math.max(r, -0.99)))));
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const robustSd = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const med = (v: number[]) => (v[Math.floor((v.length - 1) / 2)] + v[Math.ceil((v.length - 1) / 2)]) / 2;
      const m = med(sorted);
      return 1.4826 * med(sorted.map((v) => Math.abs(v - m)).sort((a, b) => a - b));
    };
    const w = y.map((ym) => 1 / Math.max(1e-6, robustSd(ym.flat())) ** 2);
    const wSum = w.reduce((a, b) => a + b, 0);
    const idx = Array.from({ length: sessions }, (_, s) => Array.from({ length: runs }, (_, t) => y.reduce((a, ym, i) => a + w[i] * ym[s][t], 0) / wSum));
    const steps: VariantDrift['steps'] = [];
    const fitted = idx.map((x, s) => {
      const b = bestSplit(x);
      let level = x.map(() => mean(x));
      if (b.at > 0) {
        let ge = 0;
        const perm = [...x];
        for (let i = 0; i < 999; i++) {
          for (let j = perm.length - 1; j > 0; j--) {
            const k = Math.floor(rnd() * (j + 1));
            [perm[j], perm[k]] = [perm[k], perm[j]];
          }
          if (bestSplit(perm).t >= b.t) ge++;
        }
        const p = (1 + ge) / 1000;
        if (p <= STEP_P) {
          const l = mean(x.slice(0, b.at));
          const r = mean(x.slice(b.at));
          steps.push({ session: s + 1, round: b.at + 1, size: r - l, p });
          level = x.map((_, t) => (t < b.at ? l : r));
        }
      }
      const m = mean(level);
      return level.map((v) => v - m);
    });
    // Walk: slope of the semivariogram of the index without its steps; kept only when a
    // permutation test (each session's series shuffled, which leaves no walk) finds it significant.
    const rest = idx.map((x, s) => x.map((v, t) => v - fitted[s][t]));
    const lags = Array.from({ length: Math.min(5, runs - 2) }, (_, i) => i + 1);
    const variogramOf = (series: number[][]) =>
      lags.map((k) => {
        const sq: number[] = [];
        for (const x of series) for (let t = 0; t + k < x.length; t++) sq.push((x[t + k] - x[t]) ** 2 / 2);
        return mean(sq);
      });
    const kBar = mean(lags);
    const slopeOf = (g: number[]) => {
      const gBar = mean(g);
      return lags.reduce((a, k, i) => a + (k - kBar) * (g[i] - gBar), 0) / lags.reduce((a, k) => a + (k - kBar) ** 2, 0);
    };
    const variogram = variogramOf(rest);
    const slope = slopeOf(variogram);
    let walkP = 1;
    if (slope > 0) {
      let ge = 0;
      const shuffled = rest.map((x) => [...x]);
      for (let i = 0; i < 999; i++) {
        for (const x of shuffled)
          for (let j = x.length - 1; j > 0; j--) {
            const k = Math.floor(rnd() * (j + 1));
            [x[j], x[k]] = [x[k], x[j]];
          }
        if (slopeOf(variogramOf(shuffled)) >= slope) ge++;
      }
      walkP = (1 + ge) / 1000;
    }
    const walkSd = walkP <= STEP_P ? Math.sqrt((2 * slope) / slotsPerRound) : 0;
    const stepProb = steps.length / (sessions * (runs - 1) * slotsPerRound);
    const stepSd = steps.length ? Math.sqrt(mean(steps.map((x) => x.size ** 2))) : 0;
    // Loadings: within-session regression of each metric on the index.
    const loadings: Record<string, number> = {};
    const innovations: Record<string, number[]> = {};
    ms.forEach((m, i) => {
      let sxy = 0;
      let sxx = 0;
      for (let s = 0; s < sessions; s++) {
        const mi = mean(idx[s]);
        const my = mean(y[i][s]);
        for (let t = 0; t < runs; t++) {
          sxy += (idx[s][t] - mi) * (y[i][s][t] - my);
          sxx += (idx[s][t] - mi) ** 2;
        }
      }
      const beta = sxx > 0 ? sxy / sxx : 0;
      loadings[m.def.id] = beta;
      // Around each session's median again, as the calibration's residuals are.
      innovations[m.def.id] = y[i].flatMap((ys, s) => {
        const left = ys.map((v, t) => v - beta * fitted[s][t]);
        const sorted = [...left].sort((a, b) => a - b);
        const mid = (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2;
        return left.map((v) => Math.expm1(sign(m) * (v - mid)));
      });
    });
    variants.set(key, { key, walkSd, walkP, stepProb, stepSd, steps, loadings, innovations, variogram });
  }
  return { variants, scale };
}


/** The outcome of one simulated gate. */
export interface SimOutcome {
  verdict: RunVerdict;
  /** Most repetitions any variant of the current run took. */
  repetitions: number;
  /** The comparison that decided (for diagnostics). */
  comparison: Comparison;
}

/** Gating metrics of a noise profile, with their definitions from the suites. */
export function simMetrics(noise: NoiseProfile, defs: Map<string, MetricDef[]>): SimMetric[] {
  const out: SimMetric[] = [];
  for (const [key, e] of Object.entries(noise.metrics)) {
    const [suite, variant, metric] = key.split('/');
    const def = defs.get(suite)?.find((m) => m.id === metric);
    if (!def?.gating || e.residuals.length < 4) continue;
    out.push({ suite, variant, def, residuals: e.residuals, drift: e.drift });
  }
  return out;
}

const fakeFingerprint = { os: 'linux', kernelRelease: 'sim', kernelVersion: 'sim', arch: 'x86_64', hostname: 'sim', cpuCount: 2, cpuModel: 'sim', memoryBytes: 0, sysctls: {}, tools: {} };

/** A run record holding the given samples (suite -> variant -> metric -> values). */
function record(runId: string, gate: SimGate, samples: Map<string, Map<string, Map<string, number[]>>>): RunRecord {
  const suites: SuiteResult[] = [];
  for (const [sid, vars] of samples) {
    const metrics = [...new Map(gate.metrics.filter((m) => m.suite === sid).map((m) => [m.def.id, m.def])).values()];
    suites.push({
      id: sid,
      title: sid,
      feature: sid,
      status: 'ran',
      metrics,
      variants: [...vars].map(([vid, ms]) => {
        const n = Math.max(...[...ms.values()].map((xs) => xs.length));
        return {
          id: vid,
          status: 'ran' as const,
          artifacts: {},
          repetitions: Array.from({ length: n }, (_, i) => ({
            index: i,
            startedAt: '',
            durationMs: 0,
            metrics: Object.fromEntries([...ms].map(([k, xs]) => [k, xs[i]])),
            counters: {},
            verification: { verified: 1, failed: 0, failures: [] },
            clientBound: false,
            notes: [],
          })),
        };
      }),
    });
  }
  return {
    schemaVersion: 1,
    tool: { name: 'headgate', version: 'sim' },
    runId,
    status: 'complete',
    startedAt: '',
    target: { kind: 'sim', name: 'sim' },
    profile: 'sim',
    fingerprint: fakeFingerprint,
    options: { suites: [], variants: [], runs: gate.runs, durationSec: 1, warmupSec: 0, connections: 1, objects: { seed: 1, totalMiB: 1 }, serverWorkers: 1, serverDirectives: [], quick: false },
    suites,
    errors: [],
    restoreFailures: [],
  } as unknown as RunRecord;
}

/**
 * Simulates one gate: a baseline session and a current session whose level is `slowdown` worse
 * (throughput lower, latency higher by that fraction) on every gating metric. Repetitions of a
 * variant draw one measured repetition index for all its metrics, keeping their correlation; with
 * a drift model, each session's level moves slot by slot (see the file comment).
 */
export function simulateGate(gate: SimGate, slowdown: number, rnd: () => number): SimOutcome {
  const variants = new Map<string, SimMetric[]>();
  for (const m of gate.metrics) variants.set(`${m.suite}/${m.variant}`, [...(variants.get(`${m.suite}/${m.variant}`) ?? []), m]);
  // Expected range of k standard normals (d2 of quality control): drift ~ d2(sessions) * sigma.
  const d2 = ({ 2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534 } as Record<number, number>)[gate.sessions ?? 3] ?? 2.534;
  const offset = (m: SimMetric, o: number) => (gate.sessionDrift ? (o * m.drift) / d2 : 0);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const dm = gate.drift;
  const sign = (m: SimMetric) => (m.def.direction === 'lower' ? 1 : -1);
  /** One session: its offset and, per variant, the level path by slot (grown on demand). */
  type Session = { o: number; paths: Map<string, number[]> };
  const session = (): Session => ({ o: normal(), paths: new Map() });
  const level = (ses: Session, key: string, slot: number): number => {
    const vd = dm?.variants.get(key);
    if (!dm || !vd) return 0;
    let p = ses.paths.get(key);
    if (!p) ses.paths.set(key, (p = [0]));
    while (p.length <= slot) {
      const step = rnd() < vd.stepProb ? vd.stepSd * normal() : 0;
      p.push(p[p.length - 1] + dm.scale * (vd.walkSd * normal() + step));
    }
    return p[slot];
  };
  const pool = (key: string, m: SimMetric) => dm?.variants.get(key)?.innovations[m.def.id] ?? m.residuals;
  const loading = (key: string, m: SimMetric) => dm?.variants.get(key)?.loadings[m.def.id] ?? 0;
  // Draws repetitions first..first+k-1 of one variant; repetition i sits in slot slotOf(i).
  const draw = (key: string, first: number, k: number, ses: Session, slotOf: (i: number) => number, factor: (m: SimMetric) => number) => {
    const ms = variants.get(key)!;
    const out = new Map<string, number[]>(ms.map((m) => [m.def.id, []]));
    const len = Math.min(...ms.map((m) => pool(key, m).length));
    for (let i = first; i < first + k; i++) {
      const j = Math.floor(rnd() * len);
      const l = level(ses, key, slotOf(i));
      for (const m of ms) out.get(m.def.id)!.push(100 * (1 + pool(key, m)[j]) * Math.exp(sign(m) * loading(key, m) * l) * Math.exp(offset(m, ses.o)) * factor(m));
    }
    return out;
  };
  const nv = variants.size;
  // Interleaved A/B: A in slot 2i, B in 2i + 1 of one session; otherwise each run its own session.
  const slotA = gate.interleaved ? (i: number) => 2 * i : (i: number) => i * nv;
  const slotB = gate.interleaved ? (i: number) => 2 * i + 1 : (i: number) => i * nv;
  const build = (ses: Session, k: number, slotOf: (i: number) => number, factor: (m: SimMetric) => number) => {
    const s = new Map<string, Map<string, Map<string, number[]>>>();
    for (const key of variants.keys()) {
      const [sid, vid] = key.split('/');
      if (!s.has(sid)) s.set(sid, new Map());
      s.get(sid)!.set(vid, draw(key, 0, k, ses, slotOf, factor));
    }
    return s;
  };
  if (gate.paired && !gate.interleaved) throw new Error('a paired gate needs interleaved sides');
  const curS = session();
  // Interleaved A/B shares one session: no offset between the two sides, one level path.
  const refS = gate.interleaved ? curS : session();
  const worse = (m: SimMetric) => (m.def.direction === 'higher' ? 1 - slowdown : 1 + slowdown);
  const base = record('base', gate, build(refS, gate.runs, slotA, () => 1));
  const cur = record('cur', gate, build(curS, gate.runs, slotB, worse));
  const ref = runAsReference(base);
  const a = gate.compare.adaptive;
  const undecided = (sid: string) => (gate.paired ? undecidedPairedVariants(cur, sid, base, gate.compare) : undecidedVariants(cur, sid, ref, gate.compare));
  const append = (v: RunRecord['suites'][number]['variants'][number], xs: Map<string, number[]>, k: number) => {
    for (let i = 0; i < k; i++) v.repetitions.push({ ...v.repetitions[0], index: v.repetitions.length, metrics: Object.fromEntries([...xs].map(([id, vals]) => [id, vals[i]])) });
  };
  if (a && gate.compare.plan) {
    for (const s of cur.suites) for (const v of s.variants) v.adaptive = { looks: [gate.runs], stoppedBy: gate.runs >= a.maxRuns ? 'budget' : 'settled' };
    for (const s of cur.suites) {
      let n = gate.runs;
      while (n < a.maxRuns) {
        const more = undecided(s.id);
        if (!more.length) break;
        const add = Math.min(a.batch, a.maxRuns - n);
        n += add;
        for (const vid of more) {
          const key = `${s.id}/${vid}`;
          const v = s.variants.find((x) => x.id === vid)!;
          if (gate.interleaved) {
            // The same rounds on both sides, in time order: A then B of each round.
            const bv = base.suites.find((x) => x.id === s.id)!.variants.find((x) => x.id === vid)!;
            append(bv, draw(key, bv.repetitions.length, add, refS, slotA, () => 1), add);
          }
          append(v, draw(key, v.repetitions.length, add, curS, slotB, worse), add);
          v.adaptive!.looks.push(v.repetitions.length);
          v.adaptive!.stoppedBy = n >= a.maxRuns ? 'budget' : 'settled';
        }
      }
    }
  }
  const c = gate.paired ? comparePairedRun(cur, base, gate.compare) : compareRun(cur, ref, gate.compare);
  return { verdict: c.verdict, comparison: c, repetitions: Math.max(...cur.suites.flatMap((s) => s.variants.map((v) => v.repetitions.length))) };
}

/** Rates over many simulated gates at one slowdown. */
export interface SimRates {
  slowdown: number;
  trials: number;
  fail: number;
  pass: number;
  inconclusive: number;
  meanRepetitions: number;
}

/** Runs `trials` simulated gates at a slowdown; deterministic for a seed. */
export function simulateRates(gate: SimGate, slowdown: number, trials: number, seed: number): SimRates {
  const rnd = mulberry32(seed);
  let fail = 0;
  let pass = 0;
  let inconclusive = 0;
  let reps = 0;
  for (let t = 0; t < trials; t++) {
    const o = simulateGate(gate, slowdown, rnd);
    if (o.verdict === 'fail') fail++;
    else if (o.verdict === 'inconclusive') inconclusive++;
    else pass++;
    reps += o.repetitions;
  }
  return { slowdown, trials, fail, pass, inconclusive, meanRepetitions: reps / trials };
}
