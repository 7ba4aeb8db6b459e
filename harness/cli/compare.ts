import type { Command } from 'commander';
import path from 'node:path';
import { baselinesAsReference, readBaseline } from '../store/baselines.js';
import { compareRun, runAsReference, type InconclusivePolicy, type Reference } from '../verdict/compare.js';
import { inputError } from '../model/errors.js';
import { loadNoise } from '../store/noise.js';
import { DEFAULTS } from '../model/options.js';
import { verdictTable } from '../reporters/console.js';
import { saveRun } from '../engine/runner.js';
import { action, collect, loadRun, numArg, onInconclusiveOption } from './common.js';

/** Registers `compare RUN (--baseline FILE | --against OTHER_RUN)`. */
export function registerCompare(program: Command): void {
  program
    .command('compare <run>')
    .description('verdicts for a run that already exists against a baseline file or another run (no load is generated)')
    .option('--baseline <file>', 'baseline file(s) to compare with; repeatable', collect)
    .option('--against <run>', 'another run to compare with (A/B of two existing runs)')
    .option('--baseline-variant <id>', 'compare every variant with this reference variant')
    .option('--alpha <p>', 'false-alarm budget over all metrics and looks', numArg, DEFAULTS.alpha)
    .option('--baselines <dir>', 'baselines directory whose noise calibration sets the thresholds (default: baselines)', 'baselines')
    .option('--min-effect <fraction>', 'smallest relative change a calibrated metric can regress by (default 0.01)', numArg)
    .addOption(onInconclusiveOption())
    .option('--out <dir>', 'reports directory to look up run ids in', 'reports')
    .option('--save', 'store the comparison in the run\'s run.json (then `headgate report RUN` renders it)')
    .option('--all', 'show informational metrics too')
    .option('--json', 'print the comparison as JSON')
    .action(
      action(async (spec: string, o: { baseline?: string[]; against?: string; baselineVariant?: string; alpha: number; onInconclusive: InconclusivePolicy; out: string; baselines: string; minEffect?: number; save?: boolean; all?: boolean; json?: boolean }) => {
        if (!!o.baseline?.length === !!o.against) throw inputError('compare: give exactly one of --baseline FILE or --against OTHER_RUN');
        const { run, runDir } = await loadRun(spec, o.out);
        let ref: Reference | null;
        if (o.against) ref = runAsReference((await loadRun(o.against, o.out)).run);
        else {
          const files = await Promise.all(o.baseline!.map((f) => readBaseline(f)));
          ref = baselinesAsReference(files, path.dirname(path.dirname(o.baseline![0])), files[0].profile);
        }
        // The looks a gate took are part of the evidence: decide at the alpha of the last one.
        const noise = await loadNoise(o.baselines, run.profile);
        const c = compareRun(run, ref, { alpha: o.alpha, referenceVariant: o.baselineVariant, onInconclusive: o.onInconclusive, plan: run.comparison?.plan, noise, minEffect: o.minEffect });
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
