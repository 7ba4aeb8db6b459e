/**
 * Verdict-quality benchmark: how often the gate cries wolf and how often it catches a slowdown.
 *
 *   simulation: >= 1000 simulated gates per row through the production comparison code, with
 *     repetitions drawn from noise measured on a real machine (a `headgate calibrate` noise.json:
 *     skewed, with outliers, with session-to-session drift) plus a drift model fitted to it (a
 *     random walk and steps of the level within sessions: bench/verdict-sim.ts), at the default
 *     gate's sample sizes and budget; A/A and true slowdowns of 1, 2, 5 and 10%; `ab` analysed
 *     unpaired (Mann-Whitney) and paired (within-round log ratios, Wilcoxon signed-rank); then
 *     the MDE curve: per repetition budget, the smallest slowdown a gate detects 95% of the time.
 *   real (--real): on the local target, N A/A sessions and N with each slowed server (a smaller
 *     sendfile chunk; its size measured by wrk in the same run), interleaved, each a real
 *     `headgate ab` session decided paired and re-analysed unpaired (--real-mode ab, the default),
 *     or a real `headgate gate` against a promoted baseline with a calibration (--real-mode gate).
 *
 * Usage: npx tsx bench/verdict-quality.ts [--noise FILE] [--trials 1000] [--real] [--real-mode ab|gate]
 *          [--real-runs 10] [--real-levers '~5%=sendfile_max_chunk 24k,...'] [--wrk-rounds 10] [--load-model closed] [--no-sim] [--keep]
 *          [--drift-scale 1] [--no-drift] [--rows REGEX] [--mde-budgets 16,24,48,96] [--mde-trials N] [--no-mde]
 */
import Table from 'cli-table3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../harness/model/options.js';
import { discoverSuites } from '../harness/engine/discovery.js';
import { thresholdFor, type NoiseProfile } from '../harness/verdict/noise.js';
import type { MetricDef, RunRecord } from '../harness/model/types.js';
import { writeAtomic } from '../harness/lib/atomic.js';
import { DEFAULT_RHO } from '../harness/stats/sequential.js';
import { median } from '../harness/stats/summary.js';
import { pseudoMedian, pseudoMedianCI } from '../harness/stats/signedrank.js';
import { relativeShift, relativeShiftCI } from '../harness/stats/shift.js';
import { fitDrift, simMetrics, simulateRates, type SimGate } from './verdict-sim.js';
import { measureSlowdown, type Slowdown } from './slowdown.js';
import { compareRun, runAsReference } from '../harness/verdict/compare.js';
import { variantView } from '../harness/app/ab.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    noise: { type: 'string', default: path.join(ROOT, 'bench', 'data', 'noise-local.json') },
    trials: { type: 'string', default: '1000' },
    real: { type: 'boolean', default: false },
    'real-runs': { type: 'string', default: '10' },
    // The slowdowns of --real: LABEL=DIRECTIVE, comma-separated. A smaller sendfile chunk costs
    // syscalls per byte; measured here by wrk (bench/slowdown.ts): 24k about -6%, 20k -8%, 16k -14%, 32k none.
    'real-levers': { type: 'string', default: '~5%=sendfile_max_chunk 24k,~2%=sendfile_max_chunk 28k' },
    'wrk-rounds': { type: 'string', default: '10' },
    'no-sim': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'real-mode': { type: 'string', default: 'ab' },
    // --load-model for the real sessions (default: the harness's, auto). closed: full load, so the
    // gate's throughput change can be set against wrk's (which cannot offer a fixed rate).
    'load-model': { type: 'string' },
    // The drift model: scale (1 = as fitted), or off (independent draws of the raw residuals).
    'drift-scale': { type: 'string', default: '1' },
    'no-drift': { type: 'boolean', default: false },
    // Only the rows whose name matches (a regular expression), e.g. --rows 'ab,'.
    rows: { type: 'string' },
    // MDE curve: budgets (most repetitions per side) and gates per point (default: --trials, at most 400).
    'mde-budgets': { type: 'string', default: '16,24,48,96' },
    'mde-trials': { type: 'string' },
    'no-mde': { type: 'boolean', default: false },
  },
});
const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)}%`;

async function simulation() {
  const noise = JSON.parse(readFileSync(values.noise!, 'utf8')) as NoiseProfile;
  const defs = new Map<string, MetricDef[]>((await discoverSuites()).map((s) => [s.manifest.id, s.manifest.metrics]));
  const metrics = simMetrics(noise, defs);
  const trials = Number(values.trials);
  const runs = DEFAULTS.full.runs;
  const maxRuns = 3 * runs;
  const batch = Math.max(2, Math.floor(runs / 2));
  const plan = { batch, nMax: maxRuns, rho: DEFAULT_RHO };
  const drift = values['no-drift'] ? undefined : fitDrift(metrics, noise.sessions, noise.runs, Math.max(1, noise.options.variants.length), Number(values['drift-scale']));
  // Same shapes, scaled to a quieter machine: what the same code does when the noise allows (the
  // drift scaled alike).
  const scaled = (cv: number) =>
    metrics.map((m) => {
      const e = noise.metrics[`${m.suite}/${m.variant}/${m.def.id}`];
      const k = e.cv > 0 ? cv / e.cv : 1;
      return { ...m, residuals: m.residuals.map((r) => r * k) };
    });
  const scaledDrift = (cv: number) => (values['no-drift'] ? undefined : fitDrift(scaled(cv), noise.sessions, noise.runs, Math.max(1, noise.options.variants.length), Number(values['drift-scale'])));
  const alpha = DEFAULTS.alpha;
  /** An `ab` gate: one session, interleaved, paired or not, with the adaptive budget runs..nMax (or fixed at runs). */
  const ab = (paired: boolean, nMax: number | null, ms = metrics, d: SimGate['drift'] | null = drift): SimGate => ({
    metrics: ms,
    runs,
    sessionDrift: false,
    interleaved: true,
    paired,
    drift: d ?? undefined,
    compare: { alpha, noise, sameSession: true, ...(nMax ? { plan: { ...plan, nMax }, adaptive: { batch, maxRuns: nMax } } : {}) },
  });
  // null: no drift model (undefined would take the default parameter, i.e. the model).
  const stored = (adaptive: boolean, d: SimGate['drift'] | null = drift): SimGate => ({ metrics, runs, sessionDrift: true, sessions: noise.sessions, drift: d ?? undefined, compare: { alpha, noise, ...(adaptive ? { plan, adaptive: { batch, maxRuns } } : {}) } });
  const U = 'unpaired (Mann-Whitney)';
  const P = 'paired (signed-rank)';
  const all: [string, SimGate][] = [
    [`ab, ${U}, adaptive ${runs}..${maxRuns}`, ab(false, maxRuns)],
    [`ab, ${P}, adaptive ${runs}..${maxRuns}`, ab(true, maxRuns)],
    [`ab, ${U}, fixed ${runs}`, ab(false, null)],
    [`ab, ${P}, fixed ${runs}`, ab(true, null)],
    [`ab, ${U}, adaptive ${runs}..${2 * maxRuns}`, ab(false, 2 * maxRuns)],
    [`ab, ${P}, adaptive ${runs}..${2 * maxRuns}`, ab(true, 2 * maxRuns)],
    [`ab, ${P}, adaptive ${runs}..${4 * maxRuns}`, ab(true, 4 * maxRuns)],
    // What `headgate ab` of one variant compares: its 3 gating metrics (a family of 3, not 9).
    ...(['sendfile-on', 'sendfile-off'] as const).flatMap((vid) => {
      const one = metrics.filter((m) => m.variant === vid);
      return one.length
        ? ([
            [`ab of ${vid} alone, ${U}, adaptive ${runs}..${maxRuns}`, ab(false, maxRuns, one)],
            [`ab of ${vid} alone, ${P}, adaptive ${runs}..${maxRuns}`, ab(true, maxRuns, one)],
          ] as [string, SimGate][])
        : [];
    }),
    ...(drift
      ? ([
          [`ab, ${U}, adaptive ${runs}..${maxRuns}, drift x3`, ab(false, maxRuns, metrics, { ...drift, scale: 3 * drift.scale })],
          [`ab, ${P}, adaptive ${runs}..${maxRuns}, drift x3`, ab(true, maxRuns, metrics, { ...drift, scale: 3 * drift.scale })],
        ] as [string, SimGate][])
      : []),
    [`stored baseline, adaptive ${runs}..${maxRuns}`, stored(true)],
    [`stored baseline, fixed ${runs}`, stored(false)],
    [`ab, ${U}, adaptive, noise scaled to 1% CV`, ab(false, maxRuns, scaled(0.01), scaledDrift(0.01))],
    [`ab, ${P}, adaptive, noise scaled to 1% CV`, ab(true, maxRuns, scaled(0.01), scaledDrift(0.01))],
    ...(drift
      ? ([
          [`ab, ${U}, adaptive ${runs}..${maxRuns}, no drift model (iid draws)`, ab(false, maxRuns, metrics, null)],
          [`ab, ${P}, adaptive ${runs}..${maxRuns}, no drift model (iid draws)`, ab(true, maxRuns, metrics, null)],
          [`stored baseline, adaptive ${runs}..${maxRuns}, no drift model (iid draws)`, stored(true, null)],
        ] as [string, SimGate][])
      : []),
  ];
  const gates = all.filter(([name]) => !values.rows || new RegExp(values.rows).test(name));
  process.stdout.write(
    `simulation: ${metrics.length} gating metrics (${[...new Set(metrics.map((m) => `${m.suite}/${m.variant}`))].join(', ')}), noise from ${path.relative(process.cwd(), values.noise!)}` +
      ` (${noise.target}, ${noise.sessions} sessions x ${noise.runs} repetitions of ${noise.options.durationSec} s, ${noise.measuredAt}); alpha ${alpha}, rho ${DEFAULT_RHO}, batch ${batch}; ${trials} gates per row;` +
      ` drift model ${drift ? `on (x${drift.scale})` : 'off'}\n`,
  );
  if (drift) {
    const d = new Table({ head: ['drift fit', 'steps found (session:round size, p)', 'step prob / slot', 'step SD', 'walk SD / slot', 'variogram lag 1..5 (x1e-4)', 'loadings', 'CV raw -> innovations'], style: { head: [], border: [] } });
    const p1 = (x: number) => `${(x * 100).toFixed(1)}%`;
    for (const v of drift.variants.values()) {
      const ms = metrics.filter((m) => `${m.suite}/${m.variant}` === v.key);
      const cv = (xs: number[]) => 1.4826 * median(xs.map(Math.abs));
      d.push([
        v.key,
        v.steps.map((x) => `${x.session}:${x.round} ${x.size > 0 ? '+' : ''}${p1(x.size)} (${x.p.toFixed(3)})`).join(', ') || 'none',
        p1(v.stepProb),
        p1(v.stepSd),
        `${p1(v.walkSd)} (p ${v.walkP.toFixed(3)})`,
        v.variogram.map((g) => (g * 1e4).toFixed(0)).join(' '),
        ms.map((m) => `${m.def.id} ${v.loadings[m.def.id].toFixed(2)}`).join(', '),
        ms.map((m) => `${p1(cv(m.residuals))} -> ${p1(cv(v.innovations[m.def.id]))}`).join(', '),
      ]);
    }
    process.stdout.write(d.toString() + '\n');
  }
  const slowdowns = [0, 0.01, 0.02, 0.05, 0.1];
  const t = new Table({ head: ['gate', 'A/A: FAIL (false alarm)', 'A/A: inconclusive', '1%', '2%', '5%', '10%', 'mean reps A/A', 'mean reps 5%', 'sec'], style: { head: [], border: [] } });
  for (const [name, gate] of gates) {
    const t0 = Date.now();
    const r = slowdowns.map((s, i) => simulateRates(gate, s, trials, 1000 + i));
    t.push([name, pct(r[0].fail, trials), pct(r[0].inconclusive, trials), ...r.slice(1).map((x) => pct(x.fail, trials)), r[0].meanRepetitions.toFixed(1), r[3].meanRepetitions.toFixed(1), ((Date.now() - t0) / 1000).toFixed(0)]);
    process.stdout.write(`  ${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  process.stdout.write('(columns 1-10%: share of gates that FAIL, i.e. detect the slowdown; A/A: the same build twice)\n');
  process.stdout.write(t.toString() + '\n');
  const m = new Table({ head: ['metric', 'better', 'rep noise (CV)', 'A/A drift', 'threshold'], style: { head: [], border: [] } });
  for (const x of metrics) {
    const e = noise.metrics[`${x.suite}/${x.variant}/${x.def.id}`];
    m.push([`${x.suite}/${x.variant}/${x.def.id}`, x.def.direction, `${(e.cv * 100).toFixed(1)}%`, `${(e.drift * 100).toFixed(1)}%`, `${(thresholdFor(x.def, e).value * 100).toFixed(1)}%`]);
  }
  process.stdout.write(m.toString() + '\n');
  // The curve's points are bisection steps: 400 gates put a point's detection within +-1.1% of 95%.
  if (!values['no-mde']) mdeCurve(ab, runs, values['mde-trials'] ? Number(values['mde-trials']) : Math.min(trials, 400));
}

/**
 * MDE curve: for each budget (most repetitions per side, adaptive from --runs), the smallest
 * slowdown that FAILs 95% of the gates, by bisection on a log scale between 0.2% and 40% (8
 * steps: about 5% relative precision; the same seed at every step, so detection is monotone in the
 * slowdown up to simulation noise), unpaired and paired; with the A/A false alarms at that budget.
 */
function mdeCurve(ab: (paired: boolean, nMax: number | null) => SimGate, runs: number, trials: number) {
  const budgets = values['mde-budgets']!.split(',').map(Number).filter((n) => n >= runs);
  const t = new Table({ head: ['budget (reps per side)', 'design', 'A/A: FAIL / inconclusive', 'smallest slowdown detected in 95%', 'mean reps there', 'sec'], style: { head: [], border: [] } });
  for (const nMax of budgets) {
    for (const paired of [false, true]) {
      const t0 = Date.now();
      const gate = ab(paired, nMax > runs ? nMax : null);
      const aa = simulateRates(gate, 0, trials, 2000);
      let lo = 0.002;
      let hi = 0.4;
      let at = simulateRates(gate, hi, trials, 2001);
      if (at.fail / trials < 0.95) {
        t.push([nMax, paired ? 'paired' : 'unpaired', `${pct(aa.fail, trials)} / ${pct(aa.inconclusive, trials)}`, `> ${hi * 100}%`, at.meanRepetitions.toFixed(1), ((Date.now() - t0) / 1000).toFixed(0)]);
        continue;
      }
      for (let i = 0; i < 8; i++) {
        const mid = Math.sqrt(lo * hi);
        const r = simulateRates(gate, mid, trials, 2001);
        if (r.fail / trials >= 0.95) {
          hi = mid;
          at = r;
        } else lo = mid;
      }
      t.push([nMax, paired ? 'paired' : 'unpaired', `${pct(aa.fail, trials)} / ${pct(aa.inconclusive, trials)}`, `${(hi * 100).toFixed(1)}%`, at.meanRepetitions.toFixed(1), ((Date.now() - t0) / 1000).toFixed(0)]);
      process.stdout.write(`  MDE ${paired ? 'paired' : 'unpaired'} ${nMax}: ${(hi * 100).toFixed(1)}%\n`);
    }
  }
  process.stdout.write(`MDE curve (${trials} gates per point, alpha ${DEFAULTS.alpha}, all ${'`ab`'} gates adaptive from ${runs}):\n` + t.toString() + '\n');
}

/** A real `headgate` command; returns exit code, stdout and wall seconds. */
function hg(args: string[]): { code: number; out: string; err: string; sec: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'headgate.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: 30 * 60 * 1000 });
  return { code: r.status ?? 3, out: r.stdout, err: r.stderr, sec: (Date.now() - t0) / 1000 };
}

/** One real verdict: which kind of session, its exit code and verdicts (paired, and unpaired on the same repetitions), wall time, repetitions, throughput change. */
interface RealRun {
  kind: string;
  code: number;
  verdict: string;
  /** What the unpaired analysis (Mann-Whitney) says of the same repetitions: fail, pass or inconclusive. */
  unpaired: string;
  sec: number;
  reps: number;
  change: number | null;
}

/** Reads a finished gate or ab (its --json output names the run) and analyses its repetitions both ways. */
function outcome(kind: string, g: ReturnType<typeof hg>): RealRun {
  let verdict = `exit ${g.code}`;
  let unpaired = '-';
  let reps = 0;
  let change: number | null = null;
  try {
    const j = JSON.parse(g.out);
    verdict = j.verdict;
    const rec = JSON.parse(readFileSync(path.join(j.runDir, 'run.json'), 'utf8')) as RunRecord;
    const c = rec.comparison?.comparisons.find((x) => x.metric === 'throughput_gbps');
    reps = c?.nCurrent ?? 0;
    change = c?.relChange ?? null;
    // ab decided paired; the same repetitions, same looks and alpha, analysed unpaired (as ab did before pairing).
    if (rec.comparison && c && c.referenceVariant !== c.variant) {
      const u = compareRun(variantView(rec, c.suite, c.variant), runAsReference(rec), { alpha: rec.comparison.alpha, plan: rec.comparison.plan, referenceVariant: c.referenceVariant, sameSession: true });
      unpaired = u.verdict;
    }
  } catch {
    /* the exit code says enough */
  }
  return { kind, code: g.code, verdict, unpaired, sec: g.sec, reps, change };
}

/**
 * Real verdicts on the local target. mode "ab": each verdict is one `headgate ab` session of
 * sendfile-on, A = the unchanged server against B = the same server with one nginx directive: a
 * no-op for A/A (sendfile_max_chunk at its default, 2m) or a smaller sendfile chunk (more
 * syscalls per byte: a slower server). Kinds are interleaved (A/A, 5%, 2%, A/A, ...) so the
 * machine's drift falls on all alike, and each slowdown's size is measured by wrk against the
 * same objects in the same run (bench/slowdown.ts), before and after the sessions. mode "gate":
 * a calibration, a promoted baseline, then `headgate gate` runs against it with the directive
 * set through an include file (same run options).
 */
async function real(mode: 'ab' | 'gate') {
  const n = Number(values['real-runs']);
  const work = mkdtempSync(path.join(os.tmpdir(), 'headgate-vq-'));
  const include = path.join(work, 'slowdown.conf');
  await writeAtomic(include, '# no slowdown\n');
  const dirs = ['--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines')];
  const load = ['--target', 'local', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', ...(values['load-model'] ? ['--load-model', values['load-model']] : [])];
  const common = [...load, ...(mode === 'gate' ? ['--server-directive', `include ${include};`] : []), ...dirs, '--quiet'];
  const runs: RealRun[] = [];
  const kinds = [
    { kind: 'A/A', directive: 'sendfile_max_chunk 2m' },
    ...values['real-levers']!.split(',').filter((x) => x.trim()).map((x) => {
      const at = x.indexOf('=');
      return { kind: x.slice(0, at).trim(), directive: x.slice(at + 1).trim() };
    }),
  ];
  const sizes = new Map<string, Slowdown[]>();
  const measure = async (when: string) => {
    for (const k of kinds) {
      // Under the CPU split the sessions run under (nginx on the server's CPUs, wrk on the load's).
      const s = await measureSlowdown(k.directive, { rounds: Number(values['wrk-rounds']), durationSec: 2, split: true });
      sizes.set(k.kind, [...(sizes.get(k.kind) ?? []), s]);
      process.stdout.write(`wrk ${when}: ${k.kind} (${k.directive}): ${(s.change * 100).toFixed(1)}% [${(s.low * 100).toFixed(1)}%, ${(s.high * 100).toFixed(1)}%]\n`);
    }
  };
  const t0 = Date.now();
  try {
    process.stdout.write(`real (${mode}): local target, sendfile/sendfile-on, --quick, work dir ${work}\n`);
    if (mode === 'ab') await measure('before');
    if (mode === 'gate') {
      const cal = hg(['calibrate', ...common, '--sessions', '3']);
      if (cal.code !== 0) throw new Error(`calibrate failed (exit ${cal.code}): ${cal.err.trim().split('\n').at(-1)}`);
      process.stdout.write(cal.out);
      const first = hg(['run', ...common, '--json']);
      if (first.code !== 0) throw new Error(`reference run failed (exit ${first.code}): ${first.err.trim().split('\n').at(-1)}`);
      const prom = hg(['baseline', 'promote', JSON.parse(first.out).runId as string, '--reason', 'verdict-quality bench', ...dirs]);
      if (prom.code !== 0) throw new Error(`promote failed: ${prom.err.trim()}`);
    }
    for (let i = 0; i < n; i++) {
      for (const k of kinds) {
        if (mode === 'gate') await writeAtomic(include, `${k.directive};\n`);
        const g = mode === 'gate' ? hg(['gate', ...common, '--json']) : hg(['ab', ...common, '--b-server-directive', k.directive, '--json']);
        const r = outcome(k.kind, g);
        runs.push(r);
        process.stdout.write(`  ${k.kind} #${i + 1}: paired ${r.verdict} (exit ${g.code}), unpaired ${r.unpaired}, throughput ${r.change === null ? '?' : `${(r.change * 100).toFixed(1)}%`}, ${r.reps} reps, ${g.sec.toFixed(0)} s\n`);
        if (g.code === 2 || g.code === 3) process.stdout.write(`    ${g.err.trim().split('\n').at(-1)}\n`);
      }
    }
    if (mode === 'ab') await measure('after');
  } finally {
    if (values.keep) process.stdout.write(`kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  const p = (x: number) => `${(x * 100).toFixed(1)}%`;
  const t = new Table({
    head: [`real ${mode}`, 'wrk: slowdown before / after [95% CI]', 'sessions', 'paired FAIL', 'paired pass', 'paired inconcl.', 'unpaired re-analysis FAIL', 'pass', 'inconcl.', 'other', 'ab throughput change (median, range)', 'reps/side (median)', 'wall s per verdict (median, max)'],
    style: { head: [], border: [] },
  });
  for (const k of kinds) {
    const rs = runs.filter((r) => r.kind === k.kind);
    const changes = rs.map((r) => r.change).filter((x): x is number => x !== null);
    const w = (sizes.get(k.kind) ?? []).map((s) => `${p(s.change)} [${p(s.low)}, ${p(s.high)}]`).join(' / ') || '-';
    t.push([
      `${k.kind}: ${k.directive}`,
      w,
      rs.length,
      rs.filter((r) => r.code === 1).length,
      rs.filter((r) => r.code === 0).length,
      rs.filter((r) => r.code === 4).length,
      rs.filter((r) => r.unpaired === 'fail').length,
      rs.filter((r) => r.unpaired === 'pass').length,
      rs.filter((r) => r.unpaired === 'inconclusive').length,
      rs.filter((r) => ![0, 1, 4].includes(r.code)).length,
      changes.length ? `${p(median(changes))} (${p(Math.min(...changes))} .. ${p(Math.max(...changes))})` : '-',
      rs.length ? median(rs.map((r) => r.reps)) : '-',
      rs.length ? `${median(rs.map((r) => r.sec)).toFixed(0)}, ${Math.max(...rs.map((r) => r.sec)).toFixed(0)}` : '-',
    ]);
  }
  process.stdout.write(`${t.toString()}\n(${runs.length} sessions in ${((Date.now() - t0) / 60000).toFixed(0)} min; unpaired = Mann-Whitney on the same repetitions, looks and alpha as the paired verdict)\n`);
  // Only at full load is the sessions' throughput change comparable with wrk's (auto offers a fixed rate).
  if (mode === 'ab' && values['load-model'] === 'closed') process.stdout.write(gateAgainstWrk(kinds, runs, sizes));
}

/**
 * Does the gate measure the server? Per lever: wrk's rounds before and after, pooled (per-round
 * log ratios B/A: pseudo-median and its 95% interval), against the sessions' throughput changes:
 * whether the gate's estimate (pseudo-median of the sessions) lies inside wrk's interval, and the
 * 95% interval of gate / wrk (Moses, on the ratios) with whether it contains no change.
 */
function gateAgainstWrk(kinds: { kind: string; directive: string }[], runs: RealRun[], sizes: Map<string, Slowdown[]>): string {
  const p = (x: number) => `${(x * 100).toFixed(1)}%`;
  const t = new Table({
    head: ['lever', 'wrk pooled [95% CI] (rounds)', 'gate (sessions)', 'gate inside wrk CI', 'gate vs wrk [95% CI]', 'contains 0', "nginx CPU per GB under wrk [95% CI]", 'throughput a server-bound gate sees'],
    style: { head: [], border: [] },
  });
  for (const k of kinds) {
    const wrkRatios = (sizes.get(k.kind) ?? []).flatMap((s) => s.a.map((a, i) => s.b[i] / a));
    const gateRatios = runs.filter((r) => r.kind === k.kind && r.change !== null).map((r) => 1 + r.change!);
    if (wrkRatios.length < 2 || gateRatios.length < 2) {
      t.push([`${k.kind}: ${k.directive}`, `${wrkRatios.length} rounds`, `${gateRatios.length} sessions`, '-', '-', '-', '-', '-']);
      continue;
    }
    // The server's own cost per byte, B against A round by round: if the server's CPU is what
    // limits the rate, throughput moves by 1 / (its cost ratio).
    const cpuRatios = (sizes.get(k.kind) ?? []).flatMap((s) => s.serverCpuPerGb.b.map((b, i) => b / s.serverCpuPerGb.a[i]));
    const cd = cpuRatios.map(Math.log);
    const cci = pseudoMedianCI(cd, 0.95);
    const cost = { change: Math.expm1(pseudoMedian(cd)), low: Math.expm1(cci.low), high: Math.expm1(cci.high) };
    const d = wrkRatios.map(Math.log);
    const ci = pseudoMedianCI(d, 0.95);
    const wrk = { change: Math.expm1(pseudoMedian(d)), low: Math.expm1(ci.low), high: Math.expm1(ci.high) };
    const gate = Math.expm1(pseudoMedian(gateRatios.map(Math.log)));
    const [lo, hi] = relativeShiftCI(wrkRatios, gateRatios, 0.95);
    t.push([
      `${k.kind}: ${k.directive}`,
      `${p(wrk.change)} [${p(wrk.low)}, ${p(wrk.high)}] (${wrkRatios.length})`,
      `${p(gate)} (${gateRatios.length})`,
      gate >= wrk.low && gate <= wrk.high ? 'yes' : 'no',
      `${p(relativeShift(wrkRatios, gateRatios))} [${p(lo)}, ${p(hi)}]`,
      lo <= 0 && hi >= 0 ? 'yes' : 'no',
      `${p(cost.change)} [${p(cost.low)}, ${p(cost.high)}]`,
      `${p(1 / (1 + cost.change) - 1)} [${p(1 / (1 + cost.high) - 1)}, ${p(1 / (1 + cost.low) - 1)}]`,
    ]);
  }
  return `the gate against wrk (throughput change; wrk under the same CPU split, before and after the sessions pooled):\n${t.toString()}\n`;
}

if (!values['no-sim']) await simulation();
if (values.real) await real(values['real-mode'] === 'gate' ? 'gate' : 'ab');
