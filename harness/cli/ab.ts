import type { Command } from 'commander';
import path from 'node:path';
import { runAb, type AbSpec } from '../app/ab.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { verdictTable } from '../reporters/console.js';
import { action, collectRaw, output } from './common.js';
import { addOptions, GROUPS, resolveCommandOptions } from './options.js';
import { inputError } from '../model/errors.js';
import { hasControlChars } from '../lib/confine.js';
import type { BootConfig } from '../model/types.js';

/** Registers `ab`: two configurations compared side by side in one session, interleaved. */
export function registerAb(program: Command): void {
  addOptions(
    program
      .command('ab')
      .description(
        'A/B in one session, interleaved and analysed paired: two variants of a suite on one target (--a-variant X --b-variant Y), one variant against itself with other settings (--variant V --b-server-directive D / --b-knob K=V), one variant on two targets of the same profile, e.g. two kernels (--a-target T1 --b-target T2), or one variant on one target booted two ways, rebooted between blocks A B B A (--a-boot C1 --b-boot C2); exits 1 when B is worse than A',
      ),
    GROUPS.ab,
  )
    .option('--a-variant <id>', 'variant A (the reference) on --target')
    .option('--b-variant <id>', 'variant B (the candidate) on --target')
    .option('--a-target <spec>', 'target A (the reference kernel)')
    .option('--b-target <spec>', 'target B (the candidate kernel), same profile as A')
    .option('--b-server-directive <text>', 'B is --variant with this nginx directive added (replacing one of the same name); repeatable', collectRaw)
    .option('--b-knob <name=value>', "B is --variant with this kernel knob set (sysctl or /sys path, for the target's OS); repeatable", collectRaw)
    .option('--a-boot <config>', "kernel A/B on one --target, rebooted between blocks: A's boot, `default` or key=value pairs separated by ';' (kernel=, initrd=, append=)")
    .option('--b-boot <config>', "B's boot, e.g. 'append=mitigations=off' (QEMU: added to the kernel command line; FreeBSD: nextboot -o) or 'kernel=kernel.head' (FreeBSD: nextboot -k)")
    .action(
      action(async (o: Omit<AbSpec, 'aBoot' | 'bBoot'> & { aBoot?: string; bBoot?: string }, cmd: Command) => {
        const g = await resolveCommandOptions(cmd);
        const { json, quiet } = output(cmd);
        const { signal, dispose } = abortOnSignals();
        try {
          const spec: AbSpec = {
            aVariant: o.aVariant,
            bVariant: o.bVariant,
            aTarget: o.aTarget,
            bTarget: o.bTarget,
            bServerDirective: o.bServerDirective,
            bKnob: o.bKnob,
            ...(o.aBoot !== undefined ? { aBoot: parseBootSpec('--a-boot', o.aBoot) } : {}),
            ...(o.bBoot !== undefined ? { bBoot: parseBootSpec('--b-boot', o.bBoot) } : {}),
          };
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

/** Parses an `ab --a-boot/--b-boot` value: `default` (the target's own boot) or `key=value;...` with kernel, initrd, append. */
/** Parses an `ab --a-boot/--b-boot` value (exported for tests). */
export function parseBootSpec(flag: string, spec: string): BootConfig {
  const label = spec.trim();
  if (!label) throw inputError(`${flag}: empty; give default, or key=value pairs separated by ';' (kernel=, initrd=, append=)`);
  if (hasControlChars(label)) throw inputError(`${flag} ${JSON.stringify(spec)}: control characters are not allowed`);
  const out: BootConfig = { label, flag };
  if (label === 'default') return out;
  for (const part of label.split(';').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(kernel|initrd|append)=(.+)$/s.exec(part);
    if (!m) throw inputError(`${flag} ${spec}: ${JSON.stringify(part)} is not kernel=..., initrd=... or append=... (pairs separated by ';'), nor default`);
    const key = m[1] as 'kernel' | 'initrd' | 'append';
    if (out[key] !== undefined) throw inputError(`${flag} ${spec}: ${key} given twice`);
    out[key] = m[2].trim();
  }
  return out;
}
