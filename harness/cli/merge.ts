import type { Command } from 'commander';
import path from 'node:path';
import { loadShardRuns, mergeShards } from '../app/merge.js';
import { verdictTable } from '../reporters/console.js';
import { action, output } from './common.js';
import { addOptions, resolveCommandOptions } from './options.js';

/** Registers `merge RUN...`: shard runs of a gate joined into one run, one verdict, one report. */
export function registerMerge(program: Command): void {
  addOptions(
    program
      .command('merge <runs...>')
      .description('join the runs of `gate --shard i/n` (one per CI agent) into one run per target, compare it with the baseline, write one report, exit with the verdict'),
    [],
    ['out', 'baselines', 'baselineVariant', 'alpha', 'minEffect', 'onInconclusive', 'requireMde'],
  ).action(
    action(async (specs: string[], _o: unknown, cmd: Command) => {
      const g = await resolveCommandOptions(cmd);
      const { json } = output(cmd);
      const log = (l: string) => process.stderr.write(l + '\n');
      const loaded = await loadShardRuns(specs, g.out, log);
      const { code, merged } = await mergeShards(loaded, g, { signal: new AbortController().signal, log });
      if (json) {
        const runs = merged.map((m) => ({ target: m.target, runId: m.record.runId, runDir: m.runDir, verdict: m.record.comparison!.verdict, exitCode: m.record.comparison!.exitCode, ignored: m.ignored }));
        process.stdout.write(JSON.stringify({ exitCode: code, runs }, null, 2) + '\n');
        return code;
      }
      for (const m of merged) {
        const c = m.record.comparison!;
        process.stdout.write(`${verdictTable(m.record, c)}\nmerged ${m.parts.join(' + ')} -> ${m.record.runId} (target ${m.target})\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\n`);
        process.stderr.write(`run directory: ${path.relative(process.cwd(), m.runDir)}\n${m.files.filter((f) => /summary\.md$|index\.html$/.test(f)).map((f) => `  ${path.relative(process.cwd(), f)}\n`).join('')}`);
      }
      return code;
    }),
  );
}
