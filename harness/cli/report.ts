import type { Command } from 'commander';
import path from 'node:path';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { ExitCode } from '../core/errors.js';
import { action, loadRun } from './common.js';

/** Registers `report RUN`. */
export function registerReport(program: Command): void {
  program
    .command('report <run>')
    .description('(re)build the Allure HTML (multi-file and single-file), summary.md and junit.xml of a run')
    .option('--out <dir>', 'reports directory (for run ids and Allure history)', 'reports')
    .action(
      action(async (spec: string, o: { out: string }) => {
        const { run, runDir } = await loadRun(spec, o.out);
        const { files, failures } = await renderAll(defaultReporters, { run, runDir, reportsDir: path.resolve(o.out), log: (l) => process.stderr.write(l + '\n') });
        for (const f of files) process.stdout.write(`${path.relative(process.cwd(), f)}\n`);
        return failures.length ? ExitCode.Infrastructure : ExitCode.Pass;
      }),
    );
}
