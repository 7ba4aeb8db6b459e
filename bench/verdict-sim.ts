/**
 * Simulated gates for the verdict-quality benchmark: the production comparison code (interim
 * looks, adaptive repetitions, Holm, thresholds from calibration) fed with repetitions drawn from
 * noise measured on a real machine (a `headgate calibrate` noise.json), so the error rates it
 * reports are those of the code that gates merges, under noise that is skewed and has outliers.
 */
import { compareRun, runAsReference, undecidedVariants, type CompareOptions } from '../harness/verdict/compare.js';
import type { NoiseProfile } from '../harness/verdict/noise.js';
import type { MetricDef, RunRecord, RunVerdict, SuiteResult } from '../harness/model/types.js';
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
}

/** The outcome of one simulated gate. */
export interface SimOutcome {
  verdict: RunVerdict;
  /** Most repetitions any variant of the current run took. */
  repetitions: number;
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
 * variant draw one measured repetition index for all its metrics, keeping their correlation.
 */
export function simulateGate(gate: SimGate, slowdown: number, rnd: () => number): SimOutcome {
  const variants = new Map<string, SimMetric[]>();
  for (const m of gate.metrics) variants.set(`${m.suite}/${m.variant}`, [...(variants.get(`${m.suite}/${m.variant}`) ?? []), m]);
  // Expected range of k standard normals (d2 of quality control): drift ~ d2(sessions) * sigma.
  const d2 = ({ 2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534 } as Record<number, number>)[gate.sessions ?? 3] ?? 2.534;
  const offset = (m: SimMetric, o: number) => (gate.sessionDrift ? (o * m.drift) / d2 : 0);
  const draw = (ms: SimMetric[], k: number, sessionO: number, factor: (m: SimMetric) => number) => {
    const out = new Map<string, number[]>(ms.map((m) => [m.def.id, []]));
    const len = Math.min(...ms.map((m) => m.residuals.length));
    for (let i = 0; i < k; i++) {
      const j = Math.floor(rnd() * len);
      for (const m of ms) out.get(m.def.id)!.push(100 * (1 + m.residuals[j]) * Math.exp(offset(m, sessionO)) * factor(m));
    }
    return out;
  };
  const build = (sessionO: number, k: number, factor: (m: SimMetric) => number) => {
    const s = new Map<string, Map<string, Map<string, number[]>>>();
    for (const [key, ms] of variants) {
      const [sid, vid] = key.split('/');
      if (!s.has(sid)) s.set(sid, new Map());
      s.get(sid)!.set(vid, draw(ms, k, sessionO, factor));
    }
    return s;
  };
  // Each session's level: a standard normal draw (Box-Muller), scaled per metric by offset() and
  // applied as a factor exp(offset): levels move multiplicatively, alike up and down.
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const baseO = normal();
  const curO = normal();
  const worse = (m: SimMetric) => (m.def.direction === 'higher' ? 1 - slowdown : 1 + slowdown);
  // Interleaved A/B shares one session: no offset between the two sides.
  const refO = gate.interleaved ? curO : baseO;
  const base = record('base', gate, build(refO, gate.runs, () => 1));
  const curSamples = build(curO, gate.runs, worse);
  const ref = runAsReference(base);
  const cur = record('cur', gate, curSamples);
  const a = gate.compare.adaptive;
  if (a && gate.compare.plan) {
    for (const s of cur.suites) for (const v of s.variants) v.adaptive = { looks: [gate.runs], stoppedBy: gate.runs >= a.maxRuns ? 'budget' : 'settled' };
    for (const s of cur.suites) {
      let n = gate.runs;
      while (n < a.maxRuns) {
        const more = undecidedVariants(cur, s.id, ref, gate.compare);
        if (!more.length) break;
        const add = Math.min(a.batch, a.maxRuns - n);
        n += add;
        for (const vid of more) {
          const v = s.variants.find((x) => x.id === vid)!;
          const extra = draw(variants.get(`${s.id}/${vid}`)!, add, curO, worse);
          for (let i = 0; i < add; i++) {
            v.repetitions.push({ ...v.repetitions[0], index: v.repetitions.length, metrics: Object.fromEntries([...extra].map(([k, xs]) => [k, xs[i]])) });
          }
          if (gate.interleaved) {
            const bv = base.suites.find((x) => x.id === s.id)!.variants.find((x) => x.id === vid)!;
            const bx = draw(variants.get(`${s.id}/${vid}`)!, add, refO, () => 1);
            for (let i = 0; i < add; i++) bv.repetitions.push({ ...bv.repetitions[0], index: bv.repetitions.length, metrics: Object.fromEntries([...bx].map(([k, xs]) => [k, xs[i]])) });
          }
          v.adaptive!.looks.push(v.repetitions.length);
          v.adaptive!.stoppedBy = n >= a.maxRuns ? 'budget' : 'settled';
        }
      }
    }
  }
  const c = compareRun(cur, ref, gate.compare);
  return { verdict: c.verdict, repetitions: Math.max(...cur.suites.flatMap((s) => s.variants.map((v) => v.repetitions.length))) };
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
