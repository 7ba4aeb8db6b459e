import type { Command } from 'commander';
import { compareStoredRun } from '../app/compare.js';
import { inputError } from '../model/errors.js';
import { verdictTable } from '../reporters/console.js';
import { action, collect, output } from './common.js';
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
        const { run, comparison: c } = await compareStoredRun(spec, o.against ? { againstRun: o.against } : { baselineFiles: o.baseline! }, g, !!o.save);
        if (json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
        else process.stdout.write(`${verdictTable(run, c, { all: o.all })}\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\n`);
        return c.exitCode;
      }),
    );
}
