import type { Command } from 'commander';
import path from 'node:path';
import { baselinesAsReference, readBaseline } from '../baselines/store.js';
import { compareRun, runAsReference, type InconclusivePolicy, type Reference } from '../core/compare.js';
import { inputError } from '../core/errors.js';
import { verdictTable } from '../reporters/console.js';
import { saveRun } from '../core/runner.js';
import { action, collect, loadRun, numArg, onInconclusiveOption } from './common.js';

/** Registers `compare RUN (--baseline FILE | --against OTHER_RUN)`. */
export function registerCompare(program: Command): void {
  program
    .command('compare <run>')
    .description('verdicts for a run that already exists against a baseline file or another run (no load is generated)')
    .option('--baseline <file>', 'baseline file(s) to compare with; repeatable', collect)
    .option('--against <run>', 'another run to compare with (A/B of two existing runs)')
    .option('--baseline-variant <id>', 'compare every variant with this reference variant')
    .option('--alpha <p>', 'family-wise significance level', numArg, 0.05)
    .addOption(onInconclusiveOption())
    .option('--out <dir>', 'reports directory to look up run ids in', 'reports')
    .option('--save', 'store the comparison in the run\'s run.json (then `headgate report RUN` renders it)')
    .option('--all', 'show informational metrics too')
    .option('--json', 'print the comparison as JSON')
    .action(
      action(async (spec: string, o: { baseline?: string[]; against?: string; baselineVariant?: string; alpha: number; onInconclusive: InconclusivePolicy; out: string; save?: boolean; all?: boolean; json?: boolean }) => {
        if (!!o.baseline?.length === !!o.against) throw inputError('compare: give exactly one of --baseline FILE or --against OTHER_RUN');
        const { run, runDir } = await loadRun(spec, o.out);
        let ref: Reference | null;
        if (o.against) ref = runAsReference((await loadRun(o.against, o.out)).run);
        else {
          const files = await Promise.all(o.baseline!.map((f) => readBaseline(f)));
          ref = baselinesAsReference(files, path.dirname(path.dirname(o.baseline![0])), files[0].profile);
        }
        const c = compareRun(run, ref, { alpha: o.alpha, referenceVariant: o.baselineVariant, onInconclusive: o.onInconclusive });
        if (c.comparisons.length === 0) throw inputError(`compare: nothing in common between run ${run.runId} and ${ref!.kind} ${ref!.id} (${c.missing.join('; ') || 'no matching suite'})`);
        if (o.save) {
          run.comparison = c;
          await saveRun(runDir, run);
        }
        if (o.json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
        else process.stdout.write(`${verdictTable(run, c, { all: o.all })}\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\n`);
        return c.exitCode;
      }),
    );
}
