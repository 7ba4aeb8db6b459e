import type { Command } from 'commander';
import Table from 'cli-table3';
import path from 'node:path';
import sparkly from 'sparkly';
import { metricHistory, recordHistory } from '../app/history.js';
import { ExitCode, inputError } from '../model/errors.js';
import { fmt, pct } from '../reporters/format.js';
import { action, intArg, numArg } from './common.js';

interface HistoryFlags {
  suite?: string;
  metric?: string;
  variant?: string;
  profile?: string;
  last: number;
  out: string;
  add?: boolean;
  pValue: number;
  minEffect: number;
  json?: boolean;
}

/** Registers `history`: a metric's series over gate runs, its change points and drift. */
export function registerHistory(program: Command): void {
  program
    .command('history [runs...]')
    .description('a metric over past gate runs: sparkline, change points (E-divisive means, permutation test) and drift (Theil-Sen, Mann-Kendall); --add records existing runs')
    .option('--suite <id>', 'suite of the metric')
    .option('--metric <id>', 'metric id (see `headgate suites`)')
    .option('--variant <id>', 'variant (required when the suite has several with this metric in the history)')
    .option('--profile <name>', 'only runs of this profile')
    .option('--last <n>', 'newest N runs (default 100)', intArg, 100)
    .option('--p-value <p>', 'significance of each change point (default 0.01)', numArg, 0.01)
    .option('--min-effect <fraction>', 'smallest change of level worth reporting (default 0.01)', numArg, 0.01)
    .option('--add', 'record the given runs (directories or ids) in the history, e.g. gate runs from before the store existed')
    .option('--out <dir>', 'reports directory holding history.sqlite (default: reports)', 'reports')
    .option('--json', 'print the series and findings as JSON')
    .action(
      action(async (runs: string[], o: HistoryFlags) => {
        if (o.add) {
          if (!runs.length) throw inputError('history --add: name the runs to record (directories or run ids)');
          await recordHistory(runs, o.out, (runId, n) => process.stdout.write(`recorded ${runId}: ${n} metric points\n`));
          return ExitCode.Pass;
        }
        if (runs.length) throw inputError(`history: unexpected argument ${runs[0]} (did you mean --add?)`);
        if (!o.suite || !o.metric) throw inputError('history: give --suite S and --metric M');
        const h = metricHistory({ suite: o.suite, metric: o.metric, variant: o.variant, profile: o.profile, last: o.last, pValue: o.pValue, minEffect: o.minEffect, out: o.out });
        const { file, variant, points, changePoints: cps, trend: tr } = h;
        const values = points.map((p) => p.value);
        if (o.json) {
          process.stdout.write(JSON.stringify({ suite: o.suite, variant, metric: o.metric, points, changePoints: cps.map((c) => ({ ...c, runId: points[c.index].runId })), trend: tr }, null, 2) + '\n');
          return ExitCode.Pass;
        }
        const profiles = [...new Set(points.map((p) => p.profile))];
        process.stdout.write(`${o.suite}/${variant} ${o.metric}: ${points.length} runs (${profiles.join(', ')}), ${points[0].startedAt} .. ${points.at(-1)!.startedAt}\n`);
        process.stdout.write(`${sparkly(values)}  ${fmt(Math.min(...values))} .. ${fmt(Math.max(...values))}\n`);
        if (values.length < 8) process.stdout.write('change points: need at least 8 runs\n');
        else if (!cps.length) process.stdout.write(`change points: none (p < ${o.pValue}, level change >= ${(o.minEffect * 100).toFixed(1)}%)\n`);
        for (const c of cps) {
          const p = points[c.index];
          process.stdout.write(`change point at run ${p.runId} (${p.startedAt}, kernel ${p.kernel}): ${fmt(c.before)} -> ${fmt(c.after)} (${pct(c.relChange)}), permutation p=${c.pValue.toPrecision(2)}\n`);
        }
        const drifting = values.length >= 8 && tr.pValue < o.pValue;
        process.stdout.write(`drift: ${pct(tr.relSlopePerRun)} per run (Theil-Sen), Mann-Kendall p=${tr.pValue.toPrecision(2)}${drifting ? ' -> DRIFTING' : ''}\n`);
        const t = new Table({ head: ['run', 'started', 'kernel', 'value', 'reps', 'gate verdict'], style: { head: [], border: [] } });
        const cut = new Set(cps.map((c) => c.index));
        for (const [i, p] of points.entries()) {
          if (points.length > 20 && i < points.length - 20 && !cut.has(i)) continue;
          t.push([`${cut.has(i) ? '* ' : ''}${p.runId}`, p.startedAt.replace('T', ' ').slice(0, 19), p.kernel.slice(0, 40), fmt(p.value), p.n, p.verdict ?? p.runVerdict ?? '-']);
        }
        process.stdout.write(`${t.toString()}\n${points.length > 20 ? `(newest 20 runs and change points shown; ${path.relative(process.cwd(), file)} has ${h.runCount} runs)\n` : ''}`);
        return ExitCode.Pass;
      }),
    );
}
