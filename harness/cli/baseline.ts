import type { Command } from 'commander';
import Table from 'cli-table3';
import { baselinePath, listBaselines, promoteRun, readBaseline } from '../store/baselines.js';
import { inputError } from '../model/errors.js';
import { pinMachine, pinsFile } from '../store/pins.js';
import { fmt } from '../reporters/format.js';
import { median } from '../stats/summary.js';
import { action, collect, loadRun } from './common.js';

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
        const { run } = await loadRun(spec, o.out);
        const files = await promoteRun(run, { dir: o.baselines, reason: o.reason, suites: o.suite, variants: o.variant, profile: o.profile });
        // The machine is pinned to the profile it was promoted under, with the hardware it had.
        let pinned: string | undefined;
        if (files.length && run.target.machineId) {
          const key = { machineId: run.target.machineId, hardwareId: run.target.hardwareId, name: run.target.name };
          const { previous, changes } = await pinMachine(o.baselines, key, o.profile ?? run.profile, run.fingerprint, { reason: o.reason, sourceRun: run.runId });
          pinned = previous && changes.length ? `re-pinned ${run.target.name} (${changes.join('; ')})` : `${previous ? 'pin kept for' : 'pinned'} ${run.target.name} to profile ${o.profile ?? run.profile}`;
        }
        if (o.json) process.stdout.write(JSON.stringify({ files, ...(pinned ? { pinned } : {}) }, null, 2) + '\n');
        else {
          for (const f of files) process.stdout.write(`promoted ${run.runId} -> ${f}\n`);
          if (pinned) process.stdout.write(`${pinned} (${pinsFile(o.baselines)})\n`);
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
        if (!file && !(o.profile && o.suite)) throw inputError('baseline show: give a FILE, or --profile and --suite');
        const f = file ?? baselinePath(o.baselines, o.profile!, o.suite!, { profile: '--profile', suite: '--suite' });
        const bl = await readBaseline(f);
        if (o.json) {
          process.stdout.write(JSON.stringify(bl, null, 2) + '\n');
          return;
        }
        process.stdout.write(`${f}\n  profile ${bl.profile}, suite ${bl.suite}\n  promoted ${bl.promotedAt} by ${bl.promotedBy} from run ${bl.sourceRun}\n  reason: ${bl.reason}\n  kernel: ${bl.fingerprint.kernelRelease}\n`);
        const t = new Table({ head: ['variant', 'metric', 'n', 'median', 'min', 'max'], style: { head: [], border: [] } });
        for (const [v, { samples }] of Object.entries(bl.variants))
          for (const [m, xs] of Object.entries(samples)) {
            const s = [...xs].sort((a, b) => a - b);
            const unit = bl.metrics?.find((x) => x.id === m)?.unit ?? '';
            t.push([v, `${m}${unit ? ` (${unit})` : ''}`, String(s.length), fmt(median(s)), fmt(s[0]), fmt(s[s.length - 1])]);
          }
        process.stdout.write(t.toString() + '\n');
      }),
    );

  b.command('list')
    .description('list baselines by profile and suite')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { baselines: string; json?: boolean }) => {
        const all = await listBaselines(o.baselines);
        const rows = [];
        for (const x of all) {
          const bl = await readBaseline(x.file);
          rows.push({ ...x, promotedAt: bl.promotedAt, promotedBy: bl.promotedBy, reason: bl.reason, variants: Object.keys(bl.variants) });
        }
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
