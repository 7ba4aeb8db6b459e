import type { Command } from 'commander';
import path from 'node:path';
import { compareExisting } from '../app/merge.js';
import { saveRun } from '../engine/runner.js';
import { inputError } from '../model/errors.js';
import type { RunRecord } from '../model/types.js';
import { verdictTable } from '../reporters/console.js';
import { baselinesAsReference, readBaseline } from '../store/baselines.js';
import { runAsReference, type Reference } from '../verdict/compare.js';
import { action, collect, loadRun, output } from './common.js';
import { addOptions, resolveCommandOptions } from './options.js';

/** Registers `compare RUN (--baseline FILE | --against OTHER_RUN)`. */
export function registerCompare(program: Command): void {
  addOptions(
    program.command('compare <run>').description('verdicts for a run that already exists against a baseline file or another run (no load is generated)'),
    [],
    ['out', 'baselines', 'baselineVariant', 'alpha', 'minEffect', 'onInconclusive', 'requireMde'],
  )
    .option('--baseline <file>', 'baseline file(s) to compare with; repeatable', collect)
    .option('--against <run>', 'another run to compare with (A/B of two existing runs); the run itself with --baseline-variant V: its variants against V, paired by round')
    .option('--save', "store the comparison in the run's run.json (then `headgate report RUN` renders it)")
    .option('--all', 'show informational metrics too')
    .action(
      action(async (spec: string, o: { baseline?: string[]; against?: string; save?: boolean; all?: boolean }, cmd: Command) => {
        const g = await resolveCommandOptions(cmd);
        const { json } = output(cmd);
        if (!!o.baseline?.length === !!o.against) throw inputError('compare: give exactly one of --baseline FILE or --against OTHER_RUN');
        const { run, runDir } = await loadRun(spec, g.out);
        let ref: Reference | null;
        let against: RunRecord | undefined;
        if (o.against) {
          against = (await loadRun(o.against, g.out)).run;
          ref = runAsReference(against);
        }
        else {
          const files = await Promise.all(o.baseline!.map((f) => readBaseline(f)));
          ref = baselinesAsReference(files, path.dirname(path.dirname(o.baseline![0])), files[0].profile);
        }
        if (!ref) throw inputError('compare: the baseline files hold no samples');
        const c = await compareExisting(run, ref, g, against);
        if (c.comparisons.length === 0) throw inputError(`compare: nothing in common between run ${run.runId} and ${ref.kind} ${ref.id} (${c.missing.join('; ') || 'no matching suite'})`);
        if (o.save) {
          run.comparison = c;
          await saveRun(runDir, run);
        }
        if (json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
        else process.stdout.write(`${verdictTable(run, c, { all: o.all })}\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\n`);
        return c.exitCode;
      }),
    );
}
