import type { Command } from 'commander';
import path from 'node:path';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { ExitCode } from '../model/errors.js';
import { action, loadRun } from './common.js';
import { renderReleaseReport } from '../reporters/release.js';
import { newRunId } from '../engine/runner.js';

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
        const print = (files: string[], failures: string[] = []) =>
          o.json
            ? process.stdout.write(JSON.stringify({ files, failures }, null, 2) + '\n')
            : files.forEach((f) => process.stdout.write(`${path.relative(process.cwd(), f)}\n`));
        if (specs.length > 1) {
          const runs = await Promise.all(specs.map((s) => loadRun(s, o.out)));
          const dir = path.resolve(o.releaseOut ?? path.join(o.out, `release-${newRunId()}`));
          print(await renderReleaseReport(runs, dir, o.title ?? `${runs[0].run.runId} .. ${runs.at(-1)!.run.runId}`));
          return ExitCode.Pass;
        }
        const { run, runDir } = await loadRun(specs[0], o.out);
        const { files, failures } = await renderAll(defaultReporters, { run, runDir, reportsDir: path.resolve(o.out), log: (l) => process.stderr.write(l + '\n') });
        print(files, failures);
        return failures.length ? ExitCode.Infrastructure : ExitCode.Pass;
      }),
    );
}
