import type { Command } from 'commander';
import path from 'node:path';
import { runAb, type AbSpec } from '../app/ab.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { verdictTable } from '../reporters/console.js';
import { action, collectRaw, output } from './common.js';
import { addOptions, GROUPS, resolveCommandOptions } from './options.js';

/** Registers `ab`: two configurations compared side by side in one session, interleaved. */
export function registerAb(program: Command): void {
  addOptions(
    program
      .command('ab')
      .description(
        'A/B in one session, interleaved: two variants of a suite on one target (--a-variant X --b-variant Y), one variant against itself with other settings (--variant V --b-server-directive D / --b-knob K=V), or one variant on two targets of the same profile, e.g. two kernels (--a-target T1 --b-target T2); exits 1 when B is worse than A',
      ),
    GROUPS.ab,
  )
    .option('--a-variant <id>', 'variant A (the reference) on --target')
    .option('--b-variant <id>', 'variant B (the candidate) on --target')
    .option('--a-target <spec>', 'target A (the reference kernel)')
    .option('--b-target <spec>', 'target B (the candidate kernel), same profile as A')
    .option('--b-server-directive <text>', 'B is --variant with this nginx directive added (replacing one of the same name); repeatable', collectRaw)
    .option('--b-knob <name=value>', "B is --variant with this kernel knob set (sysctl or /sys path, for the target's OS); repeatable", collectRaw)
    .action(
      action(async (o: AbSpec, cmd: Command) => {
        const g = await resolveCommandOptions(cmd);
        const { json, quiet } = output(cmd);
        const { signal, dispose } = abortOnSignals();
        try {
          const spec: AbSpec = { aVariant: o.aVariant, bVariant: o.bVariant, aTarget: o.aTarget, bTarget: o.bTarget, bServerDirective: o.bServerDirective, bKnob: o.bKnob };
          const r = await runAb(g, spec, { signal, quiet, log: (l) => process.stderr.write(l + '\n') });
          const c = r.record.comparison!;
          if (json) process.stdout.write(JSON.stringify({ runId: r.record.runId, runDir: r.runDir, verdict: c.verdict, exitCode: r.code, summary: c.summary, files: r.files }, null, 2) + '\n');
          else process.stdout.write(`${verdictTable(r.record, c)}\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${r.code})\nrun directory: ${path.relative(process.cwd(), r.runDir)}\n`);
          return r.code;
        } finally {
          dispose();
        }
      }),
    );
}
