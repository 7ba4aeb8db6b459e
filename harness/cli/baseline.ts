import type { Command } from 'commander';
import Table from 'cli-table3';
import { baselineList, promoteBaseline, showBaseline } from '../app/baseline.js';
import { fmt } from '../reporters/format.js';
import { action, collect } from './common.js';

/** Registers `baseline promote|show|list`. */
export function registerBaseline(program: Command): void {
  const b = program.command('baseline').description('promote, show and list reviewed baselines (baselines/<profile>/<suite>.json)');

  b.command('promote <run>')
    .description('make a complete, verified run the reference for its profile (the previous baseline is kept in history/)')
    .requiredOption('--reason <text>', 'why this run is the new reference (stored in the baseline)')
    .option('--suite <id>', 'only these suites; repeatable', collect)
    .option('--variant <id>', 'only these variants; repeatable', collect)
    .option('--profile <name>', 'store under this profile instead of the run\'s')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--out <dir>', 'reports directory to look up run ids in', 'reports')
    .option('--json', 'print the files written as JSON')
    .action(
      action(async (spec: string, o: { reason: string; suite?: string[]; variant?: string[]; profile?: string; baselines: string; out: string; json?: boolean }) => {
        const { runId, files, pinned, pinsFile } = await promoteBaseline(spec, { reason: o.reason, suites: o.suite, variants: o.variant, profile: o.profile, baselines: o.baselines, out: o.out });
        if (o.json) process.stdout.write(JSON.stringify({ files, ...(pinned ? { pinned } : {}) }, null, 2) + '\n');
        else {
          for (const f of files) process.stdout.write(`promoted ${runId} -> ${f}\n`);
          if (pinned) process.stdout.write(`${pinned} (${pinsFile})\n`);
        }
      }),
    );

  b.command('show [file]')
    .description('show a baseline: who promoted it, when, why, and the median of every metric')
    .option('--profile <name>', 'profile (with --suite, instead of a file)')
    .option('--suite <id>', 'suite (with --profile)')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--json', 'print the baseline file as JSON')
    .action(
      action(async (file: string | undefined, o: { profile?: string; suite?: string; baselines: string; json?: boolean }) => {
        const { file: f, baseline: bl, rows } = await showBaseline({ file, profile: o.profile, suite: o.suite, baselines: o.baselines });
        if (o.json) {
          process.stdout.write(JSON.stringify(bl, null, 2) + '\n');
          return;
        }
        process.stdout.write(`${f}\n  profile ${bl.profile}, suite ${bl.suite}\n  promoted ${bl.promotedAt} by ${bl.promotedBy} from run ${bl.sourceRun}\n  reason: ${bl.reason}\n  kernel: ${bl.fingerprint.kernelRelease}\n`);
        const t = new Table({ head: ['variant', 'metric', 'n', 'median', 'min', 'max'], style: { head: [], border: [] } });
        for (const r of rows) t.push([r.variant, `${r.metric}${r.unit ? ` (${r.unit})` : ''}`, String(r.n), fmt(r.median), fmt(r.min), fmt(r.max)]);
        process.stdout.write(t.toString() + '\n');
      }),
    );

  b.command('list')
    .description('list baselines by profile and suite')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { baselines: string; json?: boolean }) => {
        const rows = await baselineList(o.baselines);
        if (o.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (!rows.length) {
          process.stdout.write(`no baselines in ${o.baselines}/\n`);
          return;
        }
        const t = new Table({ head: ['profile', 'suite', 'variants', 'promoted', 'by', 'reason'], style: { head: [], border: [] } });
        for (const r of rows) t.push([r.profile, r.suite, r.variants.join(', '), r.promotedAt, r.promotedBy, r.reason]);
        process.stdout.write(t.toString() + '\n');
      }),
    );
}
