import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveTargets } from '../drivers/targets/index.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { executeRun, newRunId, saveRun } from '../engine/runner.js';
import { createProgress } from '../lib/progress.js';
import { ExitCode, infraError, inputError } from '../model/errors.js';
import { checkKnobName } from '../lib/confine.js';
import { runOptionsOf, settingsOf, type GateOptions } from '../model/options.js';
import type { RunRecord, VariantDef } from '../model/types.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import type { CompareOptions } from '../verdict/compare.js';
import { comparePairedRun, undecidedPairedVariants } from '../verdict/paired.js';
import { concatRuns } from '../verdict/merge.js';
import { lookLoop, type StopReason } from '../engine/adaptive.js';
import { adaptiveParams, compareOptionsFor, openTarget, type AppContext, type OpenedTarget } from './common.js';

/** What is A and what is B: two variants, one variant with other settings, or one variant on two targets. */
export interface AbSpec {
  aVariant?: string;
  bVariant?: string;
  aTarget?: string;
  bTarget?: string;
  /** nginx directives that make B out of --variant. */
  bServerDirective?: string[];
  /** Kernel knobs NAME=VALUE that make B out of --variant. */
  bKnob?: string[];
}

/** An A/B session's outcome: B's run (with the comparison) and its reports. */
export interface AbResult {
  record: RunRecord;
  runDir: string;
  files: string[];
  code: number;
}

type SuiteT = Awaited<ReturnType<typeof discoverSuites>>[number];

/** The run restricted to variant b of one suite: what is compared against variant a. */
export function variantView(run: RunRecord, suite: string, b: string): RunRecord {
  return { ...run, suites: run.suites.filter((s) => s.id === suite).map((s) => ({ ...s, variants: s.variants.filter((v) => v.id === b) })) };
}

const directiveName = (d: string) => d.trim().split(/\s+/)[0];

/** Variant `v` with nginx directives added (same name replaced) and knobs set on every OS it runs on: B of a settings A/B. */
export function withSettings(v: VariantDef, directives: string[], knobs: string[]): VariantDef {
  const dirs = directives.map((d) => d.trim().replace(/;$/, ''));
  const set: Record<string, string> = {};
  for (const k of knobs) {
    const m = /^([^=\s]+)=(.*)$/.exec(k);
    if (!m) throw inputError(`--b-knob ${k}: expected NAME=VALUE, e.g. net.inet.tcp.functions_default=rack`);
    // A sysctl maps under /proc/sys, a path stays under /sys (/sys/../etc/x is refused here, never written).
    set[checkKnobName('--b-knob', m[1])] = m[2];
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

const known = (suite: SuiteT) => suite.manifest.variants.map((x) => x.id).join(', ');

/** Checks the A/B form and the suite before any target is contacted; returns the suite and the form. */
async function plan(g: GateOptions, spec: AbSpec): Promise<{ suite: SuiteT; form: 'variants' | 'settings' | 'targets' }> {
  const bySettings = !!(spec.bServerDirective?.length || spec.bKnob?.length);
  const byVariant = !!(spec.aVariant || spec.bVariant);
  const byTarget = !!(spec.aTarget || spec.bTarget);
  if (Number(byVariant) + Number(byTarget) + Number(bySettings) !== 1) {
    throw inputError('ab: give one of --a-variant X --b-variant Y (one target), --variant V with --b-server-directive/--b-knob (one target), or --a-target T1 --b-target T2 (one variant)');
  }
  if (byVariant && !(spec.aVariant && spec.bVariant)) throw inputError('ab: --a-variant and --b-variant go together');
  if (byTarget && !(spec.aTarget && spec.bTarget)) throw inputError('ab: --a-target and --b-target go together');
  if (spec.aVariant && spec.aVariant === spec.bVariant) throw inputError(`ab: --a-variant and --b-variant are both ${spec.aVariant}; for an A/A measurement use \`headgate calibrate\``);
  const suites = selectSuites(await discoverSuites(), g.suite);
  if (suites.length !== 1) throw inputError(`ab: --suite must name exactly one suite (got ${suites.map((s) => s.manifest.id).join(', ') || 'all'})`);
  const suite = suites[0];
  const sid = suite.manifest.id;
  for (const [flag, v] of [['--a-variant', spec.aVariant], ['--b-variant', spec.bVariant], ...g.variant.map((x) => ['--variant', x])] as [string, string | undefined][]) {
    if (v && !suite.manifest.variants.some((x) => x.id === v)) throw inputError(`ab: ${flag} ${v}: suite ${sid} has no such variant (known: ${known(suite)})`);
  }
  if (bySettings && g.variant.length !== 1) throw inputError(`ab: --b-server-directive/--b-knob need exactly one --variant of ${sid} (got ${g.variant.length})`);
  return { suite, form: bySettings ? 'settings' : byVariant ? 'variants' : 'targets' };
}

/** An A/B session in one of its three forms; the exit code is B's verdict against A. */
export async function runAb(g: GateOptions, spec: AbSpec, ctx: AppContext): Promise<AbResult> {
  const { suite, form } = await plan(g, spec);
  if (form === 'settings') {
    // B is the variant itself with other settings: a variant of its own, made here.
    const base = suite.manifest.variants.find((v) => v.id === g.variant[0])!;
    const b = withSettings(base, spec.bServerDirective ?? [], spec.bKnob ?? []);
    const s2 = { ...suite, manifest: { ...suite.manifest, variants: [...suite.manifest.variants, b] } } as SuiteT;
    return abVariants({ ...g, variant: [] }, base.id, b.id, s2, ctx);
  }
  if (form === 'variants') return abVariants(g, spec.aVariant!, spec.bVariant!, suite, ctx);
  return abTargets(g, spec.aTarget!, spec.bTarget!, suite, ctx);
}

/** Two variants on one target: the runner interleaves them (A B A B); B is compared with A. */
async function abVariants(g: GateOptions, a: string, b: string, suite: SuiteT, ctx: AppContext): Promise<AbResult> {
  const sid = suite.manifest.id;
  const options = { ...runOptionsOf(g), variants: [a, b] };
  const hosts = await resolveTargets(g.target, g.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${g.target}: ab with two variants runs on one target (got ${hosts.length})`);
  const { target, fingerprint, profile } = await openTarget(hosts[0], g, ctx.log);
  let code: number = ExitCode.Infrastructure;
  try {
    const cmp: CompareOptions = { ...(await compareOptionsFor(g, profile)), referenceVariant: a, sameSession: true };
    // B is undecided: both variants get the added repetitions, so they stay interleaved. A and B
    // ran in the same rounds, so each B repetition is judged against the A repetition of its
    // round (paired: drift within the session cancels).
    const adaptive = adaptiveParams(cmp, (rec, s) => (undecidedPairedVariants(variantView(rec, s, b), s, rec, cmp).includes(b) ? [a, b] : []));
    const progress = createProgress({ quiet: ctx.quiet });
    const { record, runDir } = await executeRun({ waitLockSec: g.waitLock, target, options, settings: { ...settingsOf(g), profile }, suites: [suite], signal: ctx.signal, progress, fingerprint, adaptive });
    record.comparison = comparePairedRun(variantView(record, sid, b), record, cmp);
    const bDef = suite.manifest.variants.find((v) => v.id === b)!;
    record.comparison.summary = `B (${b}${b.endsWith('+b') ? `: ${bDef.description}` : ''}) against A (${a}): ${record.comparison.summary}`;
    await saveRun(runDir, record);
    const out = await finish(record, runDir, g, ctx);
    code = out.code;
    return out;
  } finally {
    await target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * One variant on two targets: blocks of repetitions alternate A B B A A B ..., so drift in the
 * lab (a neighbour's load, thermal state) falls on both sides alike; more rounds while undecided.
 */
async function abTargets(g: GateOptions, aSpec: string, bSpec: string, suite: SuiteT, ctx: AppContext): Promise<AbResult> {
  const sid = suite.manifest.id;
  const [ha] = await resolveTargets(aSpec, g.inventory);
  const [hb] = await resolveTargets(bSpec, g.inventory);
  const A0 = await openTarget(ha, g, ctx.log);
  let B0: OpenedTarget | null = null;
  let code: number = ExitCode.Infrastructure;
  try {
    B0 = await openTarget(hb, g, ctx.log);
    if (A0.profile !== B0.profile) throw inputError(`ab: --a-target ${ha.name} is profile ${A0.profile} but --b-target ${hb.name} is ${B0.profile}: A/B of kernels needs the same hardware profile`);
    // Blocks of 2 repetitions (the fewest a run takes); as many rounds as --runs asks for.
    const block = 2;
    const options = { ...runOptionsOf(g), runs: block };
    // Two boxes differ by more than time: their offset is like a session's, so the drift threshold stays.
    const cmp = await compareOptionsFor(g, A0.profile);
    const maxRuns = cmp.plan?.nMax ?? g.runs;
    const blocksA: RunRecord[] = [];
    const blocksB: RunRecord[] = [];
    const t0 = Date.now();
    const joined = () => ({ A: concatRuns(blocksA, newRunId()), B: concatRuns(blocksB, newRunId()) });
    const settings = { ...settingsOf(g), profile: A0.profile };
    let round = 0;
    // One round: a block on each side, the order alternating (A B, then B A) so drift falls on both.
    const addRound = async () => {
      const sides: [OpenedTarget, RunRecord[], string][] = [[A0, blocksA, 'A'], [B0!, blocksB, 'B']];
      for (const [t, into, label] of round++ % 2 === 0 ? sides : sides.reverse()) {
        const progress = createProgress({ quiet: ctx.quiet, prefix: `[${label} ${t.target.name}] ` });
        const { record } = await executeRun({ waitLockSec: g.waitLock, target: t.target, options, settings, suites: [suite], signal: ctx.signal, progress, fingerprint: t.fingerprint });
        if (record.errors.length) throw infraError(`ab: block ${label} on ${t.target.name} (run ${record.runId}) failed: ${record.errors[0]}`);
        into.push(record);
      }
      return block;
    };
    while (blocksB.length * block < g.runs) await addRound();
    const looks = [blocksB.length * block];
    let stoppedBy: StopReason = 'budget';
    if (cmp.plan) {
      ({ stoppedBy } = await lookLoop({
        start: looks[0],
        maxRuns,
        batch: block,
        maxExtraSec: cmp.plan.maxExtraSec ?? Infinity,
        now: Date.now,
        undecided: () => {
          const { A, B } = joined();
          for (const v of B.suites.flatMap((s) => s.variants)) v.adaptive = { looks: [...looks], stoppedBy: 'settled' };
          // Blocks ran in the same rounds on both sides: repetition k of block j pairs with its counterpart.
          return undecidedPairedVariants(B, sid, A, cmp);
        },
        add: async (_ids, _k, n) => {
          ctx.log(`A/B undecided after ${n} repetitions per side: another round`);
          return addRound();
        },
        onLook: (_ids, n) => void looks.push(n),
      }));
    }
    const { A, B } = joined();
    for (const v of B.suites.flatMap((s) => s.variants)) v.adaptive = { looks, stoppedBy };
    B.comparison = comparePairedRun(B, A, cmp);
    B.comparison.summary = `B (${hb.name}, ${B0.fingerprint.kernelRelease}) against A (${ha.name}, ${A0.fingerprint.kernelRelease}): ${B.comparison.summary}`;
    const runDir = path.resolve(g.out, B.runId);
    await mkdir(runDir, { recursive: true });
    await saveRun(runDir, B);
    await saveRun(path.resolve(g.out, A.runId), A);
    ctx.log(`A/B: ${blocksA.length + blocksB.length} blocks in ${((Date.now() - t0) / 1000).toFixed(0)} s; A joined as run ${A.runId}`);
    const out = await finish(B, runDir, g, ctx);
    code = out.code;
    return out;
  } finally {
    await B0?.target.close({ failed: code !== ExitCode.Pass });
    await A0.target.close({ failed: code !== ExitCode.Pass });
  }
}

async function finish(record: RunRecord, runDir: string, g: GateOptions, ctx: AppContext): Promise<AbResult> {
  const { files } = await renderAll(defaultReporters, { run: record, runDir, reportsDir: path.resolve(g.out), log: ctx.log });
  return { record, runDir, files, code: record.comparison!.exitCode };
}
