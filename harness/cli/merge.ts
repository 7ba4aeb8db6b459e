import { DEFAULTS } from '../model/options.js';
import type { Command } from 'commander';
import { cp, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { baselinesAsReference, loadBaselines } from '../store/baselines.js';
import { compareRun, type InconclusivePolicy } from '../verdict/compare.js';
import { loadNoise } from '../store/noise.js';
import { ExitCode } from '../model/errors.js';
import { mergeRuns } from '../verdict/merge.js';
import { newRunId, saveRun } from '../engine/runner.js';
import type { RunRecord } from '../model/types.js';
import { verdictTable } from '../reporters/console.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { action, loadRun, numArg, onInconclusiveOption } from './common.js';
import { combineExitCodes } from './run.js';

/** Registers `merge RUN...`: shard runs of a gate joined into one run, one verdict, one report. */
export function registerMerge(program: Command): void {
  program
    .command('merge <runs...>')
    .description('join the runs of `gate --shard i/n` (one per CI agent) into one run per target, compare it with the baseline, write one report, exit with the verdict')
    .option('--out <dir>', 'reports directory for the merged run', 'reports')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--baseline-variant <id>', 'compare every variant with this baseline variant')
    .option('--alpha <p>', 'family-wise significance level', numArg, DEFAULTS.alpha)
    .addOption(onInconclusiveOption())
    .option('--json', 'print a machine-readable result on stdout')
    .action(
      action(async (specs: string[], o: { out: string; baselines: string; baselineVariant?: string; alpha: number; onInconclusive: InconclusivePolicy; json?: boolean }) => {
        const loaded = await Promise.all(specs.map((s) => loadRun(s, o.out)));
        // One merged run per target: a sharded multi-target gate has shards of several targets.
        const byTarget = new Map<string, typeof loaded>();
        for (const l of loaded) byTarget.set(l.run.target.name, [...(byTarget.get(l.run.target.name) ?? []), l]);
        const results: { target: string; runId: string; runDir: string; verdict: string; exitCode: number }[] = [];
        for (const [targetName, group] of byTarget) {
          const merged: RunRecord = mergeRuns(group.map((g) => g.run), newRunId());
          const runDir = path.resolve(o.out, merged.runId);
          await mkdir(runDir, { recursive: true });
          // Artifacts are relative to each shard's run directory; suites are disjoint, so their files are too.
          for (const g of group) {
            for (const sub of ['servers']) if (existsSync(path.join(g.runDir, sub))) await cp(path.join(g.runDir, sub), path.join(runDir, sub), { recursive: true });
          }
          const files = await loadBaselines(o.baselines, merged.profile, merged.suites.map((s) => s.id));
          const ref = baselinesAsReference(files, o.baselines, merged.profile);
          // Shards that added repetitions were planned with the same budget; decide at their last looks.
          const plan = group.map((g) => g.run.comparison?.plan).find(Boolean);
          const noise = await loadNoise(o.baselines, merged.profile);
          merged.comparison = compareRun(merged, ref, { alpha: o.alpha, referenceVariant: o.baselineVariant, onInconclusive: o.onInconclusive, plan, noise });
          await saveRun(runDir, merged);
          const { files: written } = await renderAll(defaultReporters, { run: merged, runDir, reportsDir: path.resolve(o.out), log: (l) => process.stderr.write(l + '\n') });
          const c = merged.comparison;
          if (!o.json) {
            process.stdout.write(`${verdictTable(merged, c)}\nmerged ${group.map((g) => g.run.runId).join(' + ')} -> ${merged.runId} (target ${targetName})\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\n`);
            process.stderr.write(`run directory: ${path.relative(process.cwd(), runDir)}\n${written.filter((f) => /summary\.md$|index\.html$/.test(f)).map((f) => `  ${path.relative(process.cwd(), f)}\n`).join('')}`);
          }
          results.push({ target: targetName, runId: merged.runId, runDir, verdict: c.verdict, exitCode: c.exitCode });
        }
        const code = results.length ? combineExitCodes(results.map((r) => r.exitCode)) : ExitCode.InvalidInput;
        if (o.json) process.stdout.write(JSON.stringify({ exitCode: code, runs: results }, null, 2) + '\n');
        return code;
      }),
    );
}
