import type { Command } from 'commander';
import Table from 'cli-table3';
import path from 'node:path';
import { runCalibrate } from '../app/calibrate.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { ExitCode } from '../model/errors.js';
import { action, intArg, output } from './common.js';
import { addOptions, GROUPS, resolveCommandOptions } from './options.js';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Registers `calibrate`: A/A sessions on one target, stored as the profile's noise. */
export function registerCalibrate(program: Command): void {
  addOptions(
    program.command('calibrate').description("measure A/A noise: the same build and knobs in several sessions (fresh servers, variants interleaved), stored as the profile's noise.json that sets the gate's thresholds"),
    GROUPS.calibrate,
    ['minEffect'],
  )
    .option('--sessions <n>', 'A/A sessions (separate runs); drift between them is what a baseline from another day carries (default 3)', intArg, 3)
    .option('--dry-run', 'measure and print, but do not write noise.json')
    .action(
      action(async (o: { sessions: number; dryRun?: boolean }, cmd: Command) => {
        const g = await resolveCommandOptions(cmd);
        const { json, quiet } = output(cmd);
        const { signal, dispose } = abortOnSignals();
        try {
          const r = await runCalibrate(g, { sessions: o.sessions, dryRun: !!o.dryRun }, { signal, quiet, log: (l) => process.stderr.write(l + '\n') });
          if (json) {
            process.stdout.write(JSON.stringify({ file: r.file, profile: r.doc.profile, sourceRuns: r.doc.sourceRuns, metrics: r.rows }, null, 2) + '\n');
            return ExitCode.Pass;
          }
          const t = new Table({ head: ['suite/variant/metric', 'reps', 'rep noise (CV)', 'A/A drift', 'threshold', 'suite floor'], style: { head: [], border: [] } });
          for (const x of r.rows) t.push([x.key, x.n, pct(x.cv), pct(x.drift), pct(x.threshold), pct(x.floor)]);
          process.stdout.write(`${t.toString()}\n(gating metrics; informational ones are stored too)\n`);
          if (!r.file) process.stdout.write('dry run: noise.json not written\n');
          else process.stdout.write(`wrote ${path.relative(process.cwd(), r.file)} from runs ${r.doc.sourceRuns.join(', ')}; review and commit it with the baselines\n`);
          return ExitCode.Pass;
        } finally {
          dispose();
        }
      }),
    );
}
