import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { abortOnSignals } from '../lib/cleanup.js';
import { compareRun, runAsReference, undecidedVariants, type CompareOptions } from '../verdict/compare.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { ExitCode, infraError, inputError } from '../model/errors.js';
import { concatRuns } from '../verdict/merge.js';
import { loadNoise } from '../store/noise.js';
import { deriveProfile } from '../model/profile.js';
import { createProgress } from '../lib/progress.js';
import { executeRun, newRunId, saveRun } from '../engine/runner.js';
import type { RunRecord, VariantDef } from '../model/types.js';
import { verdictTable } from '../reporters/console.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { openHost, resolveTargets } from '../drivers/targets/index.js';
import type { Target } from '../drivers/targets/target.js';
import { action, addRunFlags, addVerdictFlags, collectRaw } from './common.js';
import { adaptiveParams, resolveRun, verdictOptions, type Flags } from './run.js';

type AbFlags = Flags & { aVariant?: string; bVariant?: string; aTarget?: string; bTarget?: string; bServerDirective?: string[]; bKnob?: string[] };

/** The run restricted to variant b of one suite: what is compared against variant a. */
export function variantView(run: RunRecord, suite: string, b: string): RunRecord {
  return { ...run, suites: run.suites.filter((s) => s.id === suite).map((s) => ({ ...s, variants: s.variants.filter((v) => v.id === b) })) };
}

/** Registers `ab`: two configurations compared side by side in one session, interleaved. */
export function registerAb(program: Command): void {
  addVerdictFlags(
    addRunFlags(
      program
        .command('ab')
        .description(
          'A/B in one session, interleaved: two variants of a suite on one target (--a-variant X --b-variant Y), one variant against itself with other settings (--variant V --b-server-directive D / --b-knob K=V), or one variant on two targets of the same profile, e.g. two kernels (--a-target T1 --b-target T2); exits 1 when B is worse than A',
        ),
    ),
  )
    .option('--a-variant <id>', 'variant A (the reference) on --target')
    .option('--b-variant <id>', 'variant B (the candidate) on --target')
    .option('--a-target <spec>', 'target A (the reference kernel)')
    .option('--b-target <spec>', 'target B (the candidate kernel), same profile as A')
    .option('--b-server-directive <text>', 'B is --variant with this nginx directive added (replacing one of the same name); repeatable', collectRaw)
    .option('--b-knob <name=value>', "B is --variant with this kernel knob set (sysctl or /sys path, for the target's OS); repeatable", collectRaw)
    .action(action((flags: AbFlags) => runAb(flags)));
}

async function runAb(flags: AbFlags): Promise<number> {
  const bySettings = !!(flags.bServerDirective?.length || flags.bKnob?.length);
  const byVariant = !!(flags.aVariant || flags.bVariant);
  const byTarget = !!(flags.aTarget || flags.bTarget);
  if (Number(byVariant) + Number(byTarget) + Number(bySettings) !== 1) {
    throw inputError('ab: give one of --a-variant X --b-variant Y (one target), --variant V with --b-server-directive/--b-knob (one target), or --a-target T1 --b-target T2 (one variant)');
  }
  if (byVariant && !(flags.aVariant && flags.bVariant)) throw inputError('ab: --a-variant and --b-variant go together');
  if (byTarget && !(flags.aTarget && flags.bTarget)) throw inputError('ab: --a-target and --b-target go together');
  if (flags.aVariant && flags.aVariant === flags.bVariant) throw inputError(`ab: --a-variant and --b-variant are both ${flags.aVariant}; for an A/A measurement use \`headgate calibrate\``);
  const r = await resolveRun(flags);
  const suites = selectSuites(await discoverSuites(), r.options.suites);
  if (suites.length !== 1) throw inputError(`ab: --suite must name exactly one suite (got ${suites.map((s) => s.manifest.id).join(', ') || 'all'})`);
  const suite = suites[0];
  const sid = suite.manifest.id;
  const { signal, dispose } = abortOnSignals();
  try {
    if (bySettings) {
      // B is the variant itself with other settings: a variant of its own, made here.
      if (r.options.variants.length !== 1) throw inputError(`ab: --b-server-directive/--b-knob need exactly one --variant of ${sid} (got ${r.options.variants.length})`);
      const base = suite.manifest.variants.find((v) => v.id === r.options.variants[0]);
      if (!base) throw inputError(`ab: suite ${sid} has no variant ${r.options.variants[0]} (known: ${suite.manifest.variants.map((x) => x.id).join(', ')})`);
      const b = withSettings(base, flags.bServerDirective ?? [], flags.bKnob ?? []);
      const s2 = { ...suite, manifest: { ...suite.manifest, variants: [...suite.manifest.variants, b] } } as SuiteT;
      return await abVariants({ ...flags, aVariant: base.id, bVariant: b.id }, { ...r, options: { ...r.options, variants: [] } }, s2, sid, signal);
    }
    return byVariant ? await abVariants(flags, r, suite, sid, signal) : await abTargets(flags, r, suite, sid, signal);
  } finally {
    dispose();
  }
}

type Resolved = Awaited<ReturnType<typeof resolveRun>>;

const directiveName = (d: string) => d.trim().split(/\s+/)[0];

/** Variant `v` with nginx directives added (same name replaced) and knobs set on every OS it runs on: B of a settings A/B. */
export function withSettings(v: VariantDef, directives: string[], knobs: string[]): VariantDef {
  const dirs = directives.map((d) => d.trim().replace(/;$/, ''));
  const set: Record<string, string> = {};
  for (const k of knobs) {
    const m = /^([^=\s]+)=(.*)$/.exec(k);
    if (!m) throw inputError(`--b-knob ${k}: expected NAME=VALUE, e.g. net.inet.tcp.functions_default=rack`);
    set[m[1]] = m[2];
  }
  const label = [...dirs, ...Object.entries(set).map(([k, x]) => `${k}=${x}`)].join('; ');
  const knobsByOs: VariantDef['knobs'] = { ...v.knobs };
  if (Object.keys(set).length) for (const os of ['linux', 'freebsd'] as const) knobsByOs[os] = { ...v.knobs?.[os], ...set };
  return {
    ...v,
    id: `${v.id}+b`,
    description: `${v.description}, with ${label}`,
    nginx: [...(v.nginx ?? []).filter((d) => !dirs.some((x) => directiveName(x) === directiveName(d))), ...dirs],
    knobs: knobsByOs,
    default: false,
  };
}
type SuiteT = Awaited<ReturnType<typeof discoverSuites>>[number];

/** Two variants on one target: the runner interleaves them (A B A B); B is compared with A. */
async function abVariants(flags: AbFlags, r: Resolved, suite: SuiteT, sid: string, signal: AbortSignal): Promise<number> {
  const a = flags.aVariant!;
  const b = flags.bVariant!;
  for (const v of [a, b]) if (!suite.manifest.variants.some((x) => x.id === v)) throw inputError(`ab: suite ${sid} has no variant ${v} (known: ${suite.manifest.variants.map((x) => x.id).join(', ')})`);
  const options = { ...r.options, variants: [a, b] };
  const hosts = await resolveTargets(r.settings.target, flags.inventory ?? r.settings.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${r.settings.target}: ab with two variants runs on one target (got ${hosts.length})`);
  const target = await openHost(hosts[0]);
  let code: number = ExitCode.Infrastructure;
  try {
    const fp = await (await target.os()).fingerprint();
    const profile = r.settings.profile ?? hosts[0].profile ?? deriveProfile(fp);
    const cmp: CompareOptions = {
      ...verdictOptions(flags, options, r.settings.alpha, await loadNoise(r.settings.baselinesDir, profile)),
      referenceVariant: a,
      sameSession: true,
    };
    // B is undecided: both variants get the added repetitions, so they stay interleaved.
    const adaptive = adaptiveParams(cmp, (rec, s) => (undecidedVariants(variantView(rec, s, b), s, runAsReference(rec), cmp).includes(b) ? [a, b] : []));
    const progress = createProgress({ quiet: flags.quiet });
    const { record, runDir } = await executeRun({ target, options, settings: { ...r.settings, profile }, suites: [suite], signal, progress, fingerprint: fp, adaptive });
    record.comparison = compareRun(variantView(record, sid, b), runAsReference(record), cmp);
    const bDef = suite.manifest.variants.find((v) => v.id === b)!;
    record.comparison.summary = `B (${b}${b.endsWith('+b') ? `: ${bDef.description}` : ''}) against A (${a}): ${record.comparison.summary}`;
    await saveRun(runDir, record);
    code = await finishAb(record, runDir, r, flags);
    return code;
  } finally {
    await target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * One variant on two targets: blocks of repetitions alternate A B B A A B ..., so drift in the
 * lab (a neighbour's load, thermal state) falls on both sides alike; more rounds while undecided.
 */
async function abTargets(flags: AbFlags, r: Resolved, suite: SuiteT, sid: string, signal: AbortSignal): Promise<number> {
  const inv = flags.inventory ?? r.settings.inventory;
  const [ha] = await resolveTargets(flags.aTarget!, inv);
  const [hb] = await resolveTargets(flags.bTarget!, inv);
  const ta = await openHost(ha);
  let tb: Target | null = null;
  let code: number = ExitCode.Infrastructure;
  try {
    tb = await openHost(hb);
    const fa = await (await ta.os()).fingerprint();
    const fb = await (await tb.os()).fingerprint();
    const pa = r.settings.profile ?? ha.profile ?? deriveProfile(fa);
    const pb = r.settings.profile ?? hb.profile ?? deriveProfile(fb);
    if (pa !== pb) throw inputError(`ab: --a-target ${ha.name} is profile ${pa} but --b-target ${hb.name} is ${pb}: A/B of kernels needs the same hardware profile`);
    // Blocks of 2 repetitions (the fewest a run takes); as many rounds as --runs asks for.
    const block = 2;
    const options = { ...r.options, runs: block };
    // Two boxes differ by more than time: their offset is like a session's, so the drift threshold stays.
    const cmp = verdictOptions(flags, r.options, r.settings.alpha, await loadNoise(r.settings.baselinesDir, pa));
    const maxRuns = cmp.plan?.nMax ?? r.options.runs;
    const blocksA: RunRecord[] = [];
    const blocksB: RunRecord[] = [];
    const looks: number[] = [];
    const t0 = Date.now();
    let extraStart = 0;
    let stoppedBy: 'settled' | 'budget' | 'time' = 'settled';
    const joined = () => ({ A: concatRuns(blocksA, newRunId()), B: concatRuns(blocksB, newRunId()) });
    for (let round = 0; ; round++) {
      const order: [Target, RunRecord[], string][] = round % 2 === 0 ? [[ta, blocksA, 'A'], [tb, blocksB, 'B']] : [[tb, blocksB, 'B'], [ta, blocksA, 'A']];
      for (const [t, into, label] of order) {
        const progress = createProgress({ quiet: flags.quiet, prefix: `[${label} ${t.name}] ` });
        const { record } = await executeRun({ target: t, options, settings: { ...r.settings, profile: pa }, suites: [suite], signal, progress, fingerprint: t === ta ? fa : fb });
        if (record.errors.length) throw infraError(`ab: block ${label} on ${t.name} (run ${record.runId}) failed: ${record.errors[0]}`);
        into.push(record);
      }
      const n = blocksB.length * block;
      if (n < r.options.runs) continue;
      looks.push(n);
      if (!cmp.plan || n >= maxRuns) {
        stoppedBy = 'budget';
        break;
      }
      if (!extraStart) extraStart = Date.now();
      const { A, B } = joined();
      for (const v of B.suites.flatMap((s) => s.variants)) v.adaptive = { looks: [...looks], stoppedBy: 'settled' };
      if (undecidedVariants(B, sid, runAsReference(A), cmp).length === 0) break;
      if ((Date.now() - extraStart) / 1000 >= cmp.plan.maxExtraSec!) {
        stoppedBy = 'time';
        break;
      }
      process.stderr.write(`A/B undecided after ${n} repetitions per side: another round\n`);
    }
    const { A, B } = joined();
    for (const v of B.suites.flatMap((s) => s.variants)) v.adaptive = { looks, stoppedBy };
    B.comparison = compareRun(B, runAsReference(A), cmp);
    B.comparison.summary = `B (${hb.name}, ${fb.kernelRelease}) against A (${ha.name}, ${fa.kernelRelease}): ${B.comparison.summary}`;
    const runDir = path.resolve(r.settings.reportsDir, B.runId);
    await mkdir(runDir, { recursive: true });
    await saveRun(runDir, B);
    await saveRun(path.resolve(r.settings.reportsDir, A.runId), A);
    process.stderr.write(`A/B: ${blocksA.length + blocksB.length} blocks in ${((Date.now() - t0) / 1000).toFixed(0)} s; A joined as run ${A.runId}\n`);
    code = await finishAb(B, runDir, r, flags);
    return code;
  } finally {
    await tb?.close({ failed: code !== ExitCode.Pass });
    await ta.close({ failed: code !== ExitCode.Pass });
  }
}

async function finishAb(record: RunRecord, runDir: string, r: Resolved, flags: AbFlags): Promise<number> {
  const c = record.comparison!;
  const { files } = await renderAll(defaultReporters, { run: record, runDir, reportsDir: path.resolve(r.settings.reportsDir), log: (l) => process.stderr.write(l + '\n') });
  if (flags.json) process.stdout.write(JSON.stringify({ runId: record.runId, runDir, verdict: c.verdict, exitCode: c.exitCode, summary: c.summary, files }, null, 2) + '\n');
  else process.stdout.write(`${verdictTable(record, c)}\nverdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${c.exitCode})\nrun directory: ${path.relative(process.cwd(), runDir)}\n`);
  return c.exitCode;
}
