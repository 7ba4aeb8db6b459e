/**
 * Verdict-quality benchmark: how often the gate cries wolf and how often it catches a slowdown.
 *
 *   simulation: >= 1000 simulated gates per row through the production comparison code, with
 *     repetitions drawn from noise measured on a real machine (a `headgate calibrate` noise.json:
 *     skewed, with outliers, with session-to-session drift), at the default gate's sample sizes
 *     and budget; A/A and true slowdowns of 1, 2, 5 and 10%.
 *   real (--real): on the local target, N A/A verdicts and N against the same nginx slowed by a
 *     per-connection rate limit (limit_rate), each a real `headgate ab` session (--real-mode ab,
 *     the default) or a real `headgate gate` against a promoted baseline with a calibration
 *     (--real-mode gate; the limit goes through an include file so the run options stay equal).
 *
 * Usage: npx tsx bench/verdict-quality.ts [--noise FILE] [--trials 1000] [--real] [--real-mode ab|gate]
 *          [--real-runs 10] [--slow-limit 76m] [--no-sim] [--keep]
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
import { simMetrics, simulateRates, type SimGate } from './verdict-sim.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    noise: { type: 'string', default: path.join(ROOT, 'bench', 'data', 'noise-local.json') },
    trials: { type: 'string', default: '1000' },
    real: { type: 'boolean', default: false },
    'real-runs': { type: 'string', default: '10' },
    // nginx lets each response run free for its first second, so the limit bites on large objects
    // only: 76m slowed sendfile-on by about 17% here (16m: -74%, 64m: -23%, 105m: none).
    'slow-limit': { type: 'string', default: '76m' },
    'no-sim': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'real-mode': { type: 'string', default: 'ab' },
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
  // Same shapes, scaled to a quieter machine: what the same code does when the noise allows.
  const scaled = (cv: number) => metrics.map((m) => {
    const e = noise.metrics[`${m.suite}/${m.variant}/${m.def.id}`];
    const k = e.cv > 0 ? cv / e.cv : 1;
    return { ...m, residuals: m.residuals.map((r) => r * k) };
  });
  const adaptive = { batch, maxRuns };
  const gates: [string, SimGate][] = [
    ['ab (one session), adaptive 8..24', { metrics, runs, sessionDrift: false, interleaved: true, compare: { alpha: DEFAULTS.alpha, noise, sameSession: true, plan, adaptive } }],
    ['ab (one session), fixed 8', { metrics, runs, sessionDrift: false, interleaved: true, compare: { alpha: DEFAULTS.alpha, noise, sameSession: true } }],
    ['stored baseline, adaptive 8..24', { metrics, runs, sessionDrift: true, sessions: noise.sessions, compare: { alpha: DEFAULTS.alpha, noise, plan, adaptive } }],
    ['stored baseline, fixed 8', { metrics, runs, sessionDrift: true, sessions: noise.sessions, compare: { alpha: DEFAULTS.alpha, noise } }],
    ['ab, adaptive, noise scaled to 1% CV', { metrics: scaled(0.01), runs, sessionDrift: false, interleaved: true, compare: { alpha: DEFAULTS.alpha, noise, sameSession: true, plan, adaptive } }],
    ['ab, adaptive, noise scaled to 0.5% CV', { metrics: scaled(0.005), runs, sessionDrift: false, interleaved: true, compare: { alpha: DEFAULTS.alpha, noise, sameSession: true, plan, adaptive } }],
  ];
  process.stdout.write(
    `simulation: ${metrics.length} gating metrics (${[...new Set(metrics.map((m) => `${m.suite}/${m.variant}`))].join(', ')}), noise from ${path.relative(process.cwd(), values.noise!)}` +
      ` (${noise.target}, ${noise.sessions} sessions x ${noise.runs} repetitions of ${noise.options.durationSec} s, ${noise.measuredAt}); alpha ${DEFAULTS.alpha}, rho ${DEFAULT_RHO}; ${trials} gates per row; session drift on\n`,
  );
  const t = new Table({ head: ['gate', 'true slowdown', 'gates', 'FAIL (detected / false alarm)', 'inconclusive', 'pass', 'mean reps', 'sec'], style: { head: [], border: [] } });
  for (const [name, gate] of gates) {
    for (const [i, s] of [0, 0.01, 0.02, 0.05, 0.1].entries()) {
      const t0 = Date.now();
      const r = simulateRates(gate, s, trials, 1000 + i);
      t.push([name, s === 0 ? 'A/A (none)' : `${s * 100}%`, r.trials, pct(r.fail, r.trials), pct(r.inconclusive, r.trials), pct(r.pass, r.trials), r.meanRepetitions.toFixed(1), ((Date.now() - t0) / 1000).toFixed(1)]);
    }
  }
  process.stdout.write(t.toString() + '\n');
  const m = new Table({ head: ['metric', 'better', 'rep noise (CV)', 'A/A drift', 'threshold'], style: { head: [], border: [] } });
  for (const x of metrics) {
    const e = noise.metrics[`${x.suite}/${x.variant}/${x.def.id}`];
    m.push([`${x.suite}/${x.variant}/${x.def.id}`, x.def.direction, `${(e.cv * 100).toFixed(1)}%`, `${(e.drift * 100).toFixed(1)}%`, `${(thresholdFor(x.def, e).value * 100).toFixed(1)}%`]);
  }
  process.stdout.write(m.toString() + '\n');
}

/** A real `headgate` command; returns exit code, stdout and wall seconds. */
function hg(args: string[]): { code: number; out: string; err: string; sec: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'headgate.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: 30 * 60 * 1000 });
  return { code: r.status ?? 3, out: r.stdout, err: r.stderr, sec: (Date.now() - t0) / 1000 };
}

/** One real verdict: which kind of run, its exit code and verdict, wall time, repetitions, throughput change. */
interface RealRun {
  kind: 'A/A' | 'slowed';
  code: number;
  verdict: string;
  sec: number;
  reps: number;
  change: number | null;
}

/** Reads the throughput comparison of a finished gate or ab (its --json output names the run). */
function outcome(kind: RealRun['kind'], g: ReturnType<typeof hg>): RealRun {
  let verdict = `exit ${g.code}`;
  let reps = 0;
  let change: number | null = null;
  try {
    const j = JSON.parse(g.out);
    verdict = j.verdict;
    const rec = JSON.parse(readFileSync(path.join(j.runDir, 'run.json'), 'utf8')) as RunRecord;
    const c = rec.comparison?.comparisons.find((x) => x.metric === 'throughput_gbps');
    reps = c?.nCurrent ?? 0;
    change = c?.relChange ?? null;
  } catch {
    /* the exit code says enough */
  }
  return { kind, code: g.code, verdict, sec: g.sec, reps, change };
}

/**
 * Real verdicts on the local target. mode "ab": each verdict is one `headgate ab` session, the
 * unchanged server (A) against B = the same server with `limit_rate 0` (no limit: A/A) or with a
 * per-connection limit (slowed). mode "gate": a calibration, a promoted baseline, then `headgate
 * gate` runs against it with the limit set through an include file (same run options).
 */
async function real(mode: 'ab' | 'gate') {
  const n = Number(values['real-runs']);
  const work = mkdtempSync(path.join(os.tmpdir(), 'headgate-vq-'));
  const include = path.join(work, 'slowdown.conf');
  await writeAtomic(include, '# no slowdown\n');
  const dirs = ['--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines')];
  const load = ['--target', 'local', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick'];
  const common = [...load, ...(mode === 'gate' ? ['--server-directive', `include ${include};`] : []), ...dirs, '--quiet'];
  const runs: RealRun[] = [];
  const limitArg = values['slow-limit']!;
  try {
    process.stdout.write(`real (${mode}): local target, sendfile/sendfile-on, --quick, work dir ${work}\n`);
    if (mode === 'gate') {
      const cal = hg(['calibrate', ...common, '--sessions', '3']);
      if (cal.code !== 0) throw new Error(`calibrate failed (exit ${cal.code}): ${cal.err.trim().split('\n').at(-1)}`);
      process.stdout.write(cal.out);
    }
    const first = hg(['run', ...common, '--json']);
    if (first.code !== 0) throw new Error(`reference run failed (exit ${first.code}): ${first.err.trim().split('\n').at(-1)}`);
    const runId = JSON.parse(first.out).runId as string;
    if (mode === 'gate') {
      const prom = hg(['baseline', 'promote', runId, '--reason', 'verdict-quality bench', ...dirs]);
      if (prom.code !== 0) throw new Error(`promote failed: ${prom.err.trim()}`);
    }
    const base = JSON.parse(readFileSync(path.join(work, 'reports', runId, 'run.json'), 'utf8')) as RunRecord;
    const baseGbps = median(base.suites[0].variants[0].repetitions.map((r) => r.metrics.throughput_gbps));
    process.stdout.write(`reference ${runId}: ${baseGbps.toFixed(2)} Gb/s; slowed runs: limit_rate ${limitArg} per connection\n`);
    for (const kind of ['A/A', 'slowed'] as const) {
      // limit_rate 0 is nginx's default (no limit): B is then the same server as A.
      const limit = kind === 'A/A' ? '0' : limitArg;
      if (mode === 'gate') await writeAtomic(include, limit ? `limit_rate ${limit};\n` : '# no slowdown\n');
      for (let i = 0; i < n; i++) {
        const g = mode === 'gate' ? hg(['gate', ...common, '--json']) : hg(['ab', ...common, '--b-server-directive', `limit_rate ${limit}`, '--json']);
        const r = outcome(kind, g);
        runs.push(r);
        process.stdout.write(`  ${kind} #${i + 1}: ${r.verdict} (exit ${g.code}), throughput ${r.change === null ? '?' : `${(r.change * 100).toFixed(1)}%`}, ${r.reps} reps, ${g.sec.toFixed(0)} s\n`);
      }
    }
  } finally {
    if (values.keep) process.stdout.write(`kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  const t = new Table({ head: [`real ${mode}`, 'runs', 'FAIL', 'pass', 'inconclusive', 'other', 'throughput change (median, range)', 'reps (median)', 'wall s per verdict (median, max)'], style: { head: [], border: [] } });
  for (const kind of ['A/A', 'slowed'] as const) {
    const rs = runs.filter((r) => r.kind === kind);
    const changes = rs.map((r) => r.change).filter((x): x is number => x !== null);
    const p = (x: number) => `${(x * 100).toFixed(1)}%`;
    t.push([
      kind === 'A/A' ? 'A/A (limit_rate 0: same server)' : `slowed (limit_rate ${limitArg})`,
      rs.length,
      rs.filter((r) => r.code === 1).length,
      rs.filter((r) => r.code === 0).length,
      rs.filter((r) => r.code === 4).length,
      rs.filter((r) => ![0, 1, 4].includes(r.code)).length,
      changes.length ? `${p(median(changes))} (${p(Math.min(...changes))} .. ${p(Math.max(...changes))})` : '-',
      rs.length ? median(rs.map((r) => r.reps)) : '-',
      rs.length ? `${median(rs.map((r) => r.sec)).toFixed(0)}, ${Math.max(...rs.map((r) => r.sec)).toFixed(0)}` : '-',
    ]);
  }
  process.stdout.write(t.toString() + '\n');
}

if (!values['no-sim']) await simulation();
if (values.real) await real(values['real-mode'] === 'gate' ? 'gate' : 'ab');
