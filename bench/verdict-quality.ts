/**
 * Verdict-quality benchmark: how often the gate cries wolf and how often it catches a slowdown.
 *
 *   simulation: >= 1000 simulated gates per row through the production comparison code, with
 *     repetitions drawn from noise measured on a real machine (a `headgate calibrate` noise.json:
 *     skewed, with outliers, with session-to-session drift), at the default gate's sample sizes
 *     and budget; A/A and true slowdowns of 1, 2, 5 and 10%.
 *   real (--real): on the local target, a quick calibration, a promoted baseline, then N A/A
 *     gates and N gates against the same nginx slowed by a per-connection rate limit (limit_rate,
 *     set through an include file so the run options stay identical), each a real `headgate gate`.
 *
 * Usage: npx tsx bench/verdict-quality.ts [--noise FILE] [--trials 1000] [--real] [--real-runs 10] [--slow-fraction 0.15] [--no-sim] [--keep]
 */
import Table from 'cli-table3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../harness/config/config.js';
import { discoverSuites } from '../harness/core/discovery.js';
import { thresholdFor, type NoiseProfile } from '../harness/core/noise.js';
import type { MetricDef, RunRecord } from '../harness/core/types.js';
import { writeAtomic } from '../harness/core/atomic.js';
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
    'slow-fraction': { type: 'string', default: '0.15' },
    'no-sim': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
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

async function real() {
  const n = Number(values['real-runs']);
  const work = mkdtempSync(path.join(os.tmpdir(), 'headgate-vq-'));
  const include = path.join(work, 'slowdown.conf');
  await writeAtomic(include, '# no slowdown\n');
  const common = ['--target', 'local', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--server-directive', `include ${include};`, '--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines'), '--quiet'];
  const runs: { kind: string; code: number; verdict: string; sec: number; reps: number; change: number | null }[] = [];
  try {
    process.stdout.write(`real: local target, sendfile/sendfile-on, --quick, work dir ${work}\n`);
    const cal = hg(['calibrate', ...common, '--sessions', '3']);
    if (cal.code !== 0) throw new Error(`calibrate failed (exit ${cal.code}): ${cal.err.trim().split('\n').at(-1)}`);
    process.stdout.write(cal.out);
    const first = hg(['run', ...common, '--json']);
    if (first.code !== 0) throw new Error(`baseline run failed (exit ${first.code}): ${first.err.trim().split('\n').at(-1)}`);
    const runId = JSON.parse(first.out).runId as string;
    const prom = hg(['baseline', 'promote', runId, '--reason', 'verdict-quality bench', '--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines')]);
    if (prom.code !== 0) throw new Error(`promote failed: ${prom.err.trim()}`);
    const base = JSON.parse(readFileSync(path.join(work, 'reports', runId, 'run.json'), 'utf8')) as RunRecord;
    const baseGbps = median(base.suites[0].variants[0].repetitions.map((r) => r.metrics.throughput_gbps));
    // limit_rate is per connection: aim each connection at (1 - fraction) of its share.
    const fraction = Number(values['slow-fraction']);
    const perConnBytes = Math.floor(((baseGbps * 1e9) / 8 / DEFAULTS.quick.connections) * (1 - fraction));
    process.stdout.write(`baseline ${runId}: ${baseGbps.toFixed(2)} Gb/s; slowed runs: limit_rate ${perConnBytes} bytes/s per connection (aiming at -${fraction * 100}%)\n`);
    for (const kind of ['A/A', 'slowed']) {
      await writeAtomic(include, kind === 'A/A' ? '# no slowdown\n' : `limit_rate ${perConnBytes};\n`);
      for (let i = 0; i < n; i++) {
        const g = hg(['gate', ...common, '--json']);
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
        runs.push({ kind, code: g.code, verdict, sec: g.sec, reps, change });
        process.stdout.write(`  ${kind} #${i + 1}: ${verdict} (exit ${g.code}), throughput ${change === null ? '?' : `${(change * 100).toFixed(1)}%`}, ${reps} reps, ${g.sec.toFixed(0)} s\n`);
      }
    }
  } finally {
    if (values.keep) process.stdout.write(`kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  const t = new Table({ head: ['real gates', 'runs', 'FAIL', 'pass', 'inconclusive', 'other', 'throughput change (median)', 'reps (median)', 'wall s per verdict (median, max)'], style: { head: [], border: [] } });
  for (const kind of ['A/A', 'slowed']) {
    const rs = runs.filter((r) => r.kind === kind);
    const changes = rs.map((r) => r.change).filter((x): x is number => x !== null);
    t.push([
      kind === 'A/A' ? 'A/A (same server)' : `slowed (limit_rate, aim -${Number(values['slow-fraction']) * 100}%)`,
      rs.length,
      rs.filter((r) => r.code === 1).length,
      rs.filter((r) => r.code === 0).length,
      rs.filter((r) => r.code === 4).length,
      rs.filter((r) => ![0, 1, 4].includes(r.code)).length,
      changes.length ? `${(median(changes) * 100).toFixed(1)}%` : '-',
      rs.length ? median(rs.map((r) => r.reps)) : '-',
      rs.length ? `${median(rs.map((r) => r.sec)).toFixed(0)}, ${Math.max(...rs.map((r) => r.sec)).toFixed(0)}` : '-',
    ]);
  }
  process.stdout.write(t.toString() + '\n');
}

if (!values['no-sim']) await simulation();
if (values.real) await real();
