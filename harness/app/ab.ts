import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveTargets } from '../drivers/targets/index.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { executeRun, newRunId, saveRun } from '../engine/runner.js';
import { createProgress } from '../lib/progress.js';
import { ExitCode, infraError, inputError } from '../model/errors.js';
import { checkKnobName } from '../lib/confine.js';
import { runOptionsOf, settingsOf, type GateOptions } from '../model/options.js';
import type { AbBlocks, BootConfig, BootRecord, RunRecord, VariantDef } from '../model/types.js';
import { median } from '../stats/summary.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { referenceLoad, runAsReference, type CompareOptions } from '../verdict/compare.js';
import { comparePairedRun, undecidedPairedVariants } from '../verdict/paired.js';
import { concatRuns } from '../verdict/merge.js';
import { lookLoop, type StopReason } from '../engine/adaptive.js';
import { acquireTargetLock, lockKey, type TargetLock } from '../drivers/targets/lock.js';
import { bootRecord, checkOwnBoot } from '../drivers/targets/boot.js';
import { adaptiveParams, compareOptionsFor, openClients, openTarget, type AppContext, type OpenedTarget } from './common.js';
import type { LoadClient } from '../engine/context.js';

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
  /** Two boot configurations of one target (kernel A/B by reboot). */
  aBoot?: BootConfig;
  bBoot?: BootConfig;
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
async function plan(g: GateOptions, spec: AbSpec): Promise<{ suite: SuiteT; form: 'variants' | 'settings' | 'targets' | 'boots' }> {
  const bySettings = !!(spec.bServerDirective?.length || spec.bKnob?.length);
  const byVariant = !!(spec.aVariant || spec.bVariant);
  const byTarget = !!(spec.aTarget || spec.bTarget);
  const byBoot = !!(spec.aBoot || spec.bBoot);
  if (Number(byVariant) + Number(byTarget) + Number(bySettings) + Number(byBoot) !== 1) {
    throw inputError('ab: give one of --a-variant X --b-variant Y (one target), --variant V with --b-server-directive/--b-knob (one target), --a-target T1 --b-target T2 (one variant), or --a-boot C1 --b-boot C2 (one variant, one target rebooted between blocks)');
  }
  if (byVariant && !(spec.aVariant && spec.bVariant)) throw inputError('ab: --a-variant and --b-variant go together');
  if (byTarget && !(spec.aTarget && spec.bTarget)) throw inputError('ab: --a-target and --b-target go together');
  if (byBoot && !(spec.aBoot && spec.bBoot)) throw inputError('ab: --a-boot and --b-boot go together');
  if (byBoot && spec.aBoot!.label === spec.bBoot!.label) throw inputError(`ab: --a-boot and --b-boot are both ${spec.aBoot!.label}; for an A/A measurement use \`headgate calibrate\``);
  if (spec.aVariant && spec.aVariant === spec.bVariant) throw inputError(`ab: --a-variant and --b-variant are both ${spec.aVariant}; for an A/A measurement use \`headgate calibrate\``);
  const suites = selectSuites(await discoverSuites(), g.suite);
  if (suites.length !== 1) throw inputError(`ab: --suite must name exactly one suite (got ${suites.map((s) => s.manifest.id).join(', ') || 'all'})`);
  const suite = suites[0];
  const sid = suite.manifest.id;
  for (const [flag, v] of [['--a-variant', spec.aVariant], ['--b-variant', spec.bVariant], ...g.variant.map((x) => ['--variant', x])] as [string, string | undefined][]) {
    if (v && !suite.manifest.variants.some((x) => x.id === v)) throw inputError(`ab: ${flag} ${v}: suite ${sid} has no such variant (known: ${known(suite)})`);
  }
  if (bySettings && g.variant.length !== 1) throw inputError(`ab: --b-server-directive/--b-knob need exactly one --variant of ${sid} (got ${g.variant.length})`);
  if ((byTarget || byBoot) && g.variant.length > 1) throw inputError(`ab: blocks compare one variant of ${sid} (got --variant ${g.variant.join(',')})`);
  return { suite, form: bySettings ? 'settings' : byVariant ? 'variants' : byBoot ? 'boots' : 'targets' };
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
  if (form === 'boots') return abBoots(g, spec.aBoot!, spec.bBoot!, suite, ctx);
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
    // --client: both variants' load comes from the same client hosts.
    const cl = await openClients(g);
    let ran;
    try {
      ran = await executeRun({ waitLockSec: g.waitLock, target, options, settings: { ...settingsOf(g), profile }, suites: [suite], signal: ctx.signal, progress, fingerprint, adaptive, clients: cl.clients });
    } finally {
      await cl.close();
    }
    const { record, runDir } = ran;
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

/** One side of an A/B by blocks: where its blocks run and what must happen before one (a reboot). */
interface BlockSide {
  label: 'A' | 'B';
  opened: OpenedTarget;
  /** Runs before each of this side's blocks; returns the index of the boot the block runs on. */
  before?: () => Promise<number | undefined>;
}

/**
 * One variant on two targets: blocks of repetitions alternate A B B A A B ..., so drift in the
 * lab (a neighbour's load, thermal state) falls on both sides alike; more rounds while undecided.
 */
async function abTargets(g: GateOptions, aSpec: string, bSpec: string, suite: SuiteT, ctx: AppContext): Promise<AbResult> {
  const [ha] = await resolveTargets(aSpec, g.inventory);
  const [hb] = await resolveTargets(bSpec, g.inventory);
  const A0 = await openTarget(ha, g, ctx.log);
  let B0: OpenedTarget | null = null;
  let code: number = ExitCode.Infrastructure;
  try {
    B0 = await openTarget(hb, g, ctx.log);
    if (A0.profile !== B0.profile) throw inputError(`ab: --a-target ${ha.name} is profile ${A0.profile} but --b-target ${hb.name} is ${B0.profile}: A/B of kernels needs the same hardware profile`);
    const B1 = B0;
    const out = await abBlocks(g, suite, ctx, { form: 'targets', a: ha.name, b: hb.name, A: { label: 'A', opened: A0 }, B: { label: 'B', opened: B0 }, boots: [] }, (_A, B) =>
      `B (${hb.name}, ${B1.fingerprint.kernelRelease}) against A (${ha.name}, ${A0.fingerprint.kernelRelease}): ${B.comparison!.summary}`);
    code = out.code;
    return out;
  } finally {
    await B0?.target.close({ failed: code !== ExitCode.Pass });
    await A0.target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * One variant on one target booted two ways (two kernels, or two kernel command lines): blocks
 * alternate A B B A ..., and the target is rebooted (through its boot hook: QEMU boots the given
 * kernel and command line, an ssh appliance runs its hook or FreeBSD's one-shot nextboot) before
 * every block whose side differs from the running boot. The first block gets a boot of its own
 * too, so both sides ran on kernels the harness booted the same way.
 */
async function abBoots(g: GateOptions, a: BootConfig, b: BootConfig, suite: SuiteT, ctx: AppContext): Promise<AbResult> {
  const hosts = await resolveTargets(g.target, g.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${g.target}: ab --a-boot/--b-boot reboots one target (got ${hosts.length})`);
  const opened = await openTarget(hosts[0], g, ctx.log);
  let code: number = ExitCode.Infrastructure;
  let rebooted = false;
  try {
    const t = opened.target;
    if (!t.reboot || !t.checkBoot) throw inputError(`ab: --a-boot/--b-boot: target ${t.name} (${t.kind}) cannot be rebooted by headgate; use a qemu, ssh (boot.hook or FreeBSD nextboot) or vagrant target`);
    // Both configurations are checked before the first reboot (files, names, a hook where one is needed).
    await t.checkBoot(a);
    await t.checkBoot(b);
    const boots: BootRecord[] = [];
    let running: 'A' | 'B' | null = null;
    // Each side's view of the target: the same box, with the fingerprint of the boot it runs on.
    const sides = { A: { ...opened }, B: { ...opened } };
    // A box that outlives the session goes back to the boot it has now: journaled before the first
    // reboot, so a session killed on B is put back by the next command that opens the box.
    let own: { entry: string; boot: BootRecord } | undefined;
    const bootInto = (side: 'A' | 'B') => async () => {
      if (running !== side) {
        if (!rebooted && t.kind !== 'qemu') {
          const boot = await bootRecord(t, 'A', 'default', Date.now(), 'the box\'s own boot');
          const entry = await t.journal.record(`reboot ${t.name} into its own boot (${boot.kernelRelease})`, { kind: 'boot-default', kernelRelease: boot.kernelRelease, kernelVersion: boot.kernelVersion, cmdline: boot.cmdline });
          own = { entry, boot };
        }
        rebooted = true;
        ctx.log(`A/B: reboot ${boots.length + 1}: into ${side} (${side === 'A' ? a.label : b.label})`);
        boots.push(await t.reboot!(side === 'A' ? a : b, side, ctx.log));
        running = side;
        sides[side].fingerprint = await (await t.os()).fingerprint();
        const r = boots[boots.length - 1];
        ctx.log(`A/B: ${side} is up after ${r.bootSec.toFixed(1)} s: ${r.kernelRelease}, ${r.cmdline}`);
        checkBooted(t.name, side === 'A' ? a : b, r, boots);
      }
      return boots.length - 1;
    };
    // A box that outlives the session (an appliance, a kept VM) goes back to its own boot, still
    // under the session's lock, also after a failure; a QEMU guest is discarded anyway.
    const restore = async () => {
      if (!rebooted || t.kind === 'qemu') return;
      ctx.log(`A/B: rebooting ${t.name} into its own boot (default)`);
      // A box left on a test kernel is a restore failure (exit 3), not a warning.
      const r = await t.reboot!({ label: 'default', flag: 'restore' }, 'A', ctx.log).catch((e) => {
        throw infraError(`target ${t.name} could not be rebooted into its own boot: ${(e as Error).message}; it runs the last configuration of the session`, 'reboot it into its default boot by hand before anything else runs on it');
      });
      if (own) {
        checkOwnBoot(t.name, r, own.boot);
        await t.journal.done(own.entry);
      }
    };
    const out = await abBlocks(g, suite, ctx, { form: 'boots', a: a.label, b: b.label, A: { label: 'A', opened: sides.A, before: bootInto('A') }, B: { label: 'B', opened: sides.B, before: bootInto('B') }, boots, after: restore }, (_A, B) =>
      `B (boot ${b.label}: ${sides.B.fingerprint.kernelRelease}) against A (boot ${a.label}: ${sides.A.fingerprint.kernelRelease}) on ${t.name}, ${boots.length} boots: ${B.comparison!.summary}`);
    code = out.code;
    return out;
  } finally {
    await opened.target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * What a boot must show before its blocks count (H6): every word of the configuration's `append`
 * on the running command line, and the two sides not booted identically (same kernel release,
 * version and command line: an A/A session reported as A/B). Exit 3 otherwise.
 */
export function checkBooted(target: string, config: BootConfig, r: BootRecord, boots: BootRecord[]): void {
  // FreeBSD records kern.bootfile, not a command line: its loader variables are checked with kenv when it comes up (ssh.ts awaitBoot).
  const bootfile = r.cmdline.startsWith('/boot/');
  const words = bootfile ? [] : (config.append ?? '').split(/\s+/).filter(Boolean);
  const absent = words.filter((w) => !r.cmdline.split(/\s+/).includes(w));
  if (absent.length) throw infraError(`target ${target}: boot ${config.label} (${r.side}) came up without ${absent.join(' ')} on its command line (${r.cmdline}): the boot hook or loader did not apply it`);
  const other = boots.find((x) => x.side !== r.side);
  if (other && !bootfile && other.kernelRelease === r.kernelRelease && other.kernelVersion === r.kernelVersion && other.cmdline === r.cmdline) {
    throw infraError(`target ${target}: A and B booted identically (${r.kernelRelease}, ${r.cmdline}): this would be an A/A session reported as A/B`, 'check the boot hook: it must boot the configuration it is given (HEADGATE_BOOT_*)');
  }
}

/**
 * The block design both block forms share: blocks of 2 repetitions (the fewest a run takes), a
 * round being a block of each side with the order alternating (A B, then B A), as many rounds as
 * --runs asks for, then more while the paired comparison is undecided; repetition k of round j
 * on one side is paired with its counterpart on the other.
 */
async function abBlocks(
  g: GateOptions,
  suite: SuiteT,
  ctx: AppContext,
  d: { form: AbBlocks['form']; a: string; b: string; A: BlockSide; B: BlockSide; boots: BootRecord[]; after?: () => Promise<void> },
  summary: (A: RunRecord, B: RunRecord) => string,
): Promise<AbResult> {
  const block = 2;
  const options = { ...runOptionsOf(g), runs: block };
  // Two boxes (or two boots) differ by more than time: their offset is like a session's, so the drift threshold stays.
  const cmp = await compareOptionsFor(g, d.A.opened.profile);
  const maxRuns = cmp.plan?.nMax ?? g.runs;
  const settings = { ...settingsOf(g), profile: d.A.opened.profile };
  // Each target's lock is held for the whole session, reboots included, not per block: between
  // blocks another run could take the box, and the next block's reboot would pull it from under
  // that run. The blocks' runs then skip their own locking.
  const locks: TargetLock[] = [];
  const held = { lock: async () => ({ release: async () => {} }) };
  let cl: Awaited<ReturnType<typeof openClients>> | undefined;
  try {
    // One lock per machine: two targets may name the same box (A and B both `local`: an A/A across targets).
    const machines = new Map([d.A.opened.target, d.B.opened.target].map((t) => [lockKey(t), t]));
    for (const t of machines.values()) locks.push(await acquireTargetLock(t, `ab-${process.pid}`, g.waitLock, ctx.log));
    // --client: every block of both sides gets its load from the same client hosts.
    cl = await openClients(g);
    return await blockSession(g, suite, ctx, d, summary, { block, options, cmp, maxRuns, settings, held, clients: cl.clients });
  } finally {
    await cl?.close();
    await d.after?.();
    for (const l of locks.reverse()) await l.release().catch((e) => ctx.log(`warning: could not release a target lock: ${(e as Error).message}`));
  }
}

/** The rounds, looks and joined verdict of abBlocks, run while its locks are held. */
async function blockSession(
  g: GateOptions,
  suite: SuiteT,
  ctx: AppContext,
  d: { form: AbBlocks['form']; a: string; b: string; A: BlockSide; B: BlockSide; boots: BootRecord[] },
  summary: (A: RunRecord, B: RunRecord) => string,
  o: { block: number; options: ReturnType<typeof runOptionsOf>; cmp: CompareOptions; maxRuns: number; settings: ReturnType<typeof settingsOf> & { profile: string }; held: { lock: () => Promise<TargetLock> }; clients: LoadClient[] },
): Promise<AbResult> {
  const { block, options, cmp, maxRuns, settings } = o;
  const sid = suite.manifest.id;
  const blocksA: RunRecord[] = [];
  const blocksB: RunRecord[] = [];
  const order: AbBlocks['blocks'] = [];
  const t0 = Date.now();
  const joined = () => ({ A: concatRuns(blocksA, newRunId()), B: concatRuns(blocksB, newRunId()) });
  let round = 0;
  const addRound = async () => {
    const sides: [BlockSide, RunRecord[]][] = [[d.A, blocksA], [d.B, blocksB]];
    for (const [side, into] of round++ % 2 === 0 ? sides : sides.reverse()) {
      const boot = await side.before?.();
      const t = side.opened;
      const progress = createProgress({ quiet: ctx.quiet, prefix: `[${side.label} ${d.form === 'boots' ? (side.label === 'A' ? d.a : d.b) : t.target.name}] ` });
      // --load-model auto: every block runs the variant as the first block did, one load on both sides.
      const first = blocksA[0] ?? blocksB[0];
      const ref = first ? runAsReference(first) : undefined;
      const loads = ref ? (id: string, variant: string) => referenceLoad(ref, id, variant) : undefined;
      const { record } = await executeRun({ target: t.target, options, settings, suites: [suite], signal: ctx.signal, progress, fingerprint: t.fingerprint, io: o.held, clients: o.clients, referenceLoad: loads });
      if (record.errors.length) throw infraError(`ab: block ${side.label} on ${t.target.name} (run ${record.runId}) failed: ${record.errors[0]}`);
      into.push(record);
      const v = record.suites[0]?.variants[0];
      const medians = Object.fromEntries(Object.keys(v?.repetitions[0]?.metrics ?? {}).map((m) => [m, median(v!.repetitions.map((r) => r.metrics[m]))]));
      order.push({ side: side.label, runId: record.runId, repetitions: v?.repetitions.length ?? 0, ...(boot !== undefined ? { boot } : {}), medians });
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
  // Each side's fingerprint is the one its blocks ran on (after a reboot: the booted kernel's).
  A.fingerprint = d.A.opened.fingerprint;
  B.fingerprint = d.B.opened.fingerprint;
  for (const v of B.suites.flatMap((s) => s.variants)) v.adaptive = { looks, stoppedBy };
  B.comparison = comparePairedRun(B, A, cmp);
  B.abBlocks = { form: d.form, a: d.a, b: d.b, blocks: order, boots: d.boots };
  B.comparison.summary = summary(A, B);
  const runDir = path.resolve(g.out, B.runId);
  await mkdir(runDir, { recursive: true });
  // A VM's serial console, every boot of the session in it, goes with the joined run as evidence.
  const con = d.B.opened.target.consoleLog;
  if (con) await copyFile(con, path.join(runDir, 'console.log')).then(() => (B.target.console = 'console.log'), () => undefined);
  await saveRun(runDir, B);
  await saveRun(path.resolve(g.out, A.runId), A);
  ctx.log(`A/B: ${blocksA.length + blocksB.length} blocks${d.boots.length ? `, ${d.boots.length} boots` : ''} in ${((Date.now() - t0) / 1000).toFixed(0)} s; A joined as run ${A.runId}`);
  return finish(B, runDir, g, ctx);
}

async function finish(record: RunRecord, runDir: string, g: GateOptions, ctx: AppContext): Promise<AbResult> {
  const { files } = await renderAll(defaultReporters, { run: record, runDir, reportsDir: path.resolve(g.out), log: ctx.log });
  return { record, runDir, files, code: record.comparison!.exitCode };
}
