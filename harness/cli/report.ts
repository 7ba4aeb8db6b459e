import type { Command } from 'commander';
import path from 'node:path';
import { reportRuns } from '../app/report.js';
import { ExitCode } from '../model/errors.js';
import { action } from './common.js';

/** Registers `report RUN`. */
export function registerReport(program: Command): void {
  program
    .command('report <runs...>')
    .description('(re)build the Allure HTML (multi-file and single-file), summary.md and junit.xml of a run; with several runs (the phases of a rollout, the merges of a release), one release report with the history of all of them')
    .option('--out <dir>', 'reports directory (for run ids and Allure history)', 'reports')
    .option('--release-out <dir>', 'with several runs: where the release report goes (default: OUT/release-<time>)')
    .option('--title <text>', 'with several runs: the release report\'s title (default: the first and last run ids)')
    .option('--json', 'print the files written (and reporter failures) as JSON')
    .action(
      action(async (specs: string[], o: { out: string; releaseOut?: string; title?: string; json?: boolean }) => {
        const { files, failures } = await reportRuns(specs, o, (l) => process.stderr.write(l + '\n'));
        if (o.json) process.stdout.write(JSON.stringify({ files, failures }, null, 2) + '\n');
        else files.forEach((f) => process.stdout.write(`${path.relative(process.cwd(), f)}\n`));
        return failures.length ? ExitCode.Infrastructure : ExitCode.Pass;
      }),
    );
}
