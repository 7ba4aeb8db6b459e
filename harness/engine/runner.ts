import { randomBytes } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Settings } from '../model/options.js';
import { buildManifest, materializeObjects, type ObjectManifest } from '../probes/objects.js';
import { expectedGating, metricsForRun, variantProbes } from '../probes/registry.js';
import { offeredGbps, parseFixedThroughput } from '../probes/open.js';
import { metricSamples } from '../model/samples.js';
import { lookLoop } from './adaptive.js';
import type { Target } from '../drivers/targets/target.js';
import type { OsAdapter } from '../drivers/os/adapter.js';
import { acquireTargetLock, type TargetLock } from '../drivers/targets/lock.js';
import { knobAllowed, replayFailure, replayFor } from '../drivers/journal.js';
import { formatCpuList } from '../lib/cpulist.js';
import { confineLoad, planSplit } from './cpusplit.js';
import { chooseSharedOffer, runsAtSharedOffer, sharedOfferPlan, type ReferenceLoad, type SharedOfferKind, type WarmedCandidate } from './loadmodel.js';
import { manifestKnobs, undoPolicy } from './policy.js';
import { LocalTarget } from '../drivers/targets/local.js';
import { syncObjects } from '../drivers/targets/sync.js';
import { writeJsonAtomic } from '../lib/atomic.js';
import { CleanupStack } from '../lib/cleanup.js';
import { journaled } from '../lib/journal.js';
import { HarnessContext, type LoadClient, type RunEnvironment } from './context.js';
import { describeError, infraError, inputError, interruptedError, isHeadgateError } from '../model/errors.js';
import { proofFailures, suiteApplies, variantApplies } from './plan.js';
import { deriveProfile } from '../model/profile.js';
import type { Progress } from '../lib/progress.js';
import type { Suite, VariantSession } from './suite.js';
import type { Fingerprint, MetricDef, OsFamily, RunOptions, RunRecord, SuiteResult, VariantDef, VariantResult } from '../model/types.js';
import { TOOL_VERSION } from '../model/version.js';
import { readHardwareId } from '../drivers/targets/identity.js';

/** Seconds a step may take beyond its load (snapshots, server checks) before it times out. */
export const DEFAULT_STEP_GRACE_SEC = 60;

/** Inputs of one run. */
export interface RunParams {
  target: Target;
  options: RunOptions;
  settings: Settings;
  suites: Suite[];
  signal: AbortSignal;
  progress: Progress;
  /** This machine, for lab parts that live here (default: the target itself, i.e. local). */
  host?: Target;
  /** Load-client hosts (default: the load runs in this process). */
  clients?: LoadClient[];
  /** Every suite the command line selected, when this run is a shard of them (for --variant checks). */
  selectedSuites?: Suite[];
  /** The shard of a `--shard i/n` run, recorded in run.json. */
  shard?: { index: number; count: number; targetShards?: number[] };
  /** The target's fingerprint when the caller already read it (gate does, to find the profile). */
  fingerprint?: Fingerprint;
  /** Adaptive repetitions (gate): keep adding rounds while a comparison is undecided, within a budget. */
  adaptive?: AdaptiveParams;
  /** Seconds to wait for a target another run holds (--wait-lock); 0: exit 3 at once. */
  waitLockSec?: number;
  /**
   * How the reference ran each variant (--load-model auto): at its rate, at full load (null), or
   * unknown (undefined). The baseline's (gate) or the first block's or session's (ab by blocks,
   * calibrate), so both sides ran alike. Absent: this run decides from its warm-ups.
   */
  referenceLoad?: (suite: string, variant: string) => ReferenceLoad;
  /** The run's I/O outside the target's adapter (objects, sync, page cache, clock, timers); default: the real ones. Tests inject fakes. */
  io?: Partial<RunIo>;
}

/** An object set with the exact bytes the client must receive. */
export type ObjectSet = { manifest: ObjectManifest; bodies: Map<string, Buffer> };

/**
 * The side effects of a run that are not the target's own commands: injected so the engine's
 * scheduling (interleaving, looks, budgets, deadlines, restores) can be tested without disks,
 * networks or waiting.
 */
export interface RunIo {
  /** Writes (or reuses) the seeded object set under dir on this machine and returns it. */
  materializeObjects(dir: string, seed: number, totalMiB: number): Promise<ObjectSet>;
  /** The seeded object set in memory only (--server-url: the files live on the appliance). */
  buildObjects(seed: number, totalMiB: number): ObjectSet;
  /** Copies a local object set to a remote target unless the same set is there already. */
  syncObjects(target: Target, localDir: string, targetDir: string, progress: Progress, exclude?: string[]): Promise<void>;
  /** Evicts the files from the target's page cache and reads them back; a note when the OS cannot. */
  primePageCache(os: OsAdapter, files: string[]): Promise<string | null>;
  /** Milliseconds since the epoch: the adaptive repetitions' time budget. */
  now(): number;
  /** Calls fn after ms (a step deadline); returns how to cancel it. */
  setTimer(ms: number, fn: () => void): () => void;
  /** Takes the target's lock (one run per machine), waiting up to waitSec for a held one. */
  lock(target: Target, runId: string, waitSec: number, log: (line: string) => void): Promise<TargetLock>;
  /** Undoes what dead runs left on the target (its restore journal), once its lock is held. */
  replay(target: Target, log: (line: string) => void): Promise<void>;
}

/** Today's real I/O: what a run does when RunParams.io leaves something out. */
export const DEFAULT_RUN_IO: RunIo = {
  materializeObjects,
  buildObjects: buildManifest,
  syncObjects,
  primePageCache: (os, files) => os.primePageCache(files),
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  lock: acquireTargetLock,
  replay: async (target, log) => {
    // The local machine's journal is shared by every headgate process here: only dead owners' entries.
    const failed = replayFailure(`target ${target.name} (${target.journal.where})`, await replayFor(target, new LocalTarget(), await undoPolicy(), log));
    if (failed) throw failed;
  },
};

/** The budget of adaptive repetitions and the interim look that says which variants need more. */
export interface AdaptiveParams {
  /** Repetitions added per look. */
  batch: number;
  /** Most repetitions per variant. */
  maxRuns: number;
  /** Most wall time spent on added repetitions per suite (seconds). */
  maxExtraSec: number;
  /** Variants of the suite still undecided after the repetitions so far (an interim look). */
  undecided: (record: RunRecord, suiteId: string) => string[];
}

/** A fresh run id: sortable UTC time plus a short random suffix. */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(3).toString('hex')}`;
}

/** Variants of a suite that this run selects: --variant ids, or the suite's default ones. */
export function selectVariants(suite: Suite, wanted: string[]): VariantDef[] {
  if (wanted.length === 0) return suite.manifest.variants.filter((v) => v.default !== false);
  return suite.manifest.variants.filter((v) => wanted.includes(v.id));
}

/** A variant's knobs for an OS family, in the order the manifest lists them (the order they are set). */
export function variantKnobs(v: VariantDef, os: OsFamily): [string, string][] {
  return Object.entries(v.knobs?.[os] ?? {});
}

/** The first gating metric's value with its unit, for the one-line progress of a repetition. */
function headline(defs: MetricDef[], values: Record<string, number>): string {
  const d = defs.find((x) => x.gating && values[x.id] !== undefined);
  if (!d) return 'done';
  const v = values[d.id];
  return `${d.id} ${Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)} ${d.unit}`;
}

/** Writes run.json atomically (called after every repetition so an interrupted run keeps its data). */
export async function saveRun(runDir: string, record: RunRecord): Promise<void> {
  await writeJsonAtomic(path.join(runDir, 'run.json'), record);
}

/**
 * Runs the selected suites on the target: warm-up, then N rounds with the variants interleaved
 * (A B A B) so drift hits every variant alike. Knobs are restored after every repetition and
 * servers stopped after every suite, also on error and Ctrl-C.
 */
export async function executeRun(p: RunParams): Promise<{ record: RunRecord; runDir: string }> {
  const { target, settings, signal, progress } = p;
  const io: RunIo = { ...DEFAULT_RUN_IO, ...p.io };
  // --variant names variants of the whole command line's suites, also when a shard runs only some.
  const known = new Set((p.selectedSuites ?? p.suites).flatMap((s) => s.manifest.variants.map((v) => v.id)));
  for (const v of p.options.variants) {
    if (!known.has(v)) throw inputError(`--variant ${v}: no selected suite has this variant (known: ${[...known].join(', ')})`);
  }
  const os = await target.os();
  const fingerprint = p.fingerprint ?? (await os.fingerprint());
  // Where the load shares the machine, it and the server get CPUs of their own (recorded in options.split).
  const { options, note: splitNote } = await planSplit(target, p.options);
  const hardwareId = await readHardwareId(target);
  const runId = newRunId();
  const runDir = path.resolve(settings.reportsDir, runId);
  await mkdir(runDir, { recursive: true });
  const record: RunRecord = {
    schemaVersion: 1,
    tool: { name: 'headgate', version: TOOL_VERSION },
    runId,
    status: 'running',
    startedAt: new Date().toISOString(),
    target: {
      kind: target.kind,
      name: target.name,
      address: target.address,
      ...(target.notes?.length ? { notes: target.notes } : {}),
      ...(p.clients?.length ? { clients: p.clients.map((c) => c.name) } : {}),
      ...(target.machine.id ? { machineId: target.machine.id } : {}),
      ...(hardwareId ? { hardwareId } : {}),
    },
    profile: settings.profile ?? deriveProfile(fingerprint),
    fingerprint,
    options,
    ...(p.shard ? { shard: p.shard } : {}),
    suites: [],
    errors: [],
    restoreFailures: [],
  };
  await saveRun(runDir, record);
  progress.log(`run ${runId} on ${target.name} (${fingerprint.os} ${fingerprint.kernelRelease}, profile ${record.profile})`);
  if (options.split) progress.log(`CPU split: server on CPU ${formatCpuList(options.split.server)}${options.split.guest ? ` (every thread of the guest's QEMU)` : ''}, load on CPU ${formatCpuList(options.split.client)} (--cpu-split ${options.split.how === 'auto' ? 'auto' : 'from --server-cpus'})`);
  if (splitNote) progress.log(`note: ${splitNote}`);

  // A remote target keeps its objects under its work directory. Every target's per-run private
  // files (server prefixes and configs, TLS certificates) go to a run directory inside headgate's
  // own directories there, never into the reports tree; what belongs in the report is copied out.
  const remote = target.workDir !== null;
  const targetRunDir = path.posix.join(target.runRoot, runId);
  const runStack = new CleanupStack();
  let lock: TargetLock | null = null;
  try {
    // Inside the try: a target held by another run still leaves this run.json finished (incomplete).
    // One run per machine, the local one included; then what a dead run left is undone first.
    lock = await io.lock(target, runId, p.waitLockSec ?? 0, (l) => progress.log(l));
    await io.replay(target, (l) => progress.log(l));
    if (options.split) await confineLoad(options.split, runStack);
    if (options.split?.guest) await target.pinServer!(options.split.server, (l) => progress.log(l));
    // Knobs this run's user gave (ab --b-knob: knobs no installed suite declares) are declared in the
    // journal before any is set: a replay writes back only declared knobs.
    const policy = await undoPolicy();
    const userKnobs = [...new Set(p.suites.flatMap((s) => manifestKnobs(s.manifest)[fingerprint.os]))].filter((k) => !knobAllowed(policy, fingerprint.os, k));
    await target.journal.declareUserKnobs?.(userKnobs);
    await journaled(target.journal, runStack, `remove ${targetRunDir}`, { kind: 'rm', path: targetRunDir }, () => target.exec(['mkdir', '-p', '-m', '700', targetRunDir]), async () => void (await target.exec(['rm', '-rf', targetRunDir])));
    const setName = `seed${options.objects.seed}-${options.objects.totalMiB}MiB`;
    const localObjectsDir = path.resolve(settings.reportsDir, '.objects', setName);
    const objectsDir = remote ? path.posix.join(target.workDir!, 'objects', setName) : localObjectsDir;
    // With --server-url the objects live on the appliance; only the expected bytes are needed here.
    const { manifest, bodies } = options.serverUrl
      ? io.buildObjects(options.objects.seed, options.objects.totalMiB)
      : await io.materializeObjects(localObjectsDir, options.objects.seed, options.objects.totalMiB);
    if (!options.serverUrl) {
      // How pages entered the page cache changes sendfile cost (freshly written vs read back
      // differed by 14-23% here), so every run starts from the same state: evicted, read back.
      // The cold set is a subdirectory of its own, synced only when a cold variant runs.
      if (remote) await io.syncObjects(target, localObjectsDir, objectsDir, progress, ['cold-*']);
      const note = await io.primePageCache(os, manifest.objects.map((o) => path.posix.join(objectsDir, o.path)));
      if (note) progress.log(`note: ${note}`);
    }
    // Cold-cache variants read a set of their own, larger than one repetition reads, so most of
    // their bytes come from the disk; the hot set stays in the cache for the hot variants.
    const wantsCold = !options.serverUrl && p.suites.some((s) => selectVariants(s, options.variants).some((v) => v.cache === 'cold'));
    let coldObjects: RunEnvironment['objects'] = [];
    if (wantsCold) {
      const coldMiB = options.objects.coldMiB ?? options.objects.totalMiB;
      const prefix = `/cold-${coldMiB}MiB`;
      progress.log(`cold-cache object set: ${coldMiB} MiB in ${path.posix.join(objectsDir, prefix)}`);
      const cold = await io.materializeObjects(path.join(localObjectsDir, prefix), options.objects.seed + 1, coldMiB);
      if (remote) await io.syncObjects(target, path.join(localObjectsDir, prefix), path.posix.join(objectsDir, prefix), progress);
      coldObjects = cold.manifest.objects.map((o) => ({ path: prefix + o.path, kind: o.kind, body: cold.bodies.get(o.path)! }));
    }
    os.setObjectsDir?.(objectsDir);
    const env: RunEnvironment = {
      target,
      os,
      fingerprint,
      options,
      signal,
      progress,
      runDir,
      targetRunDir,
      objectsDir,
      host: p.host ?? (remote ? new LocalTarget() : target),
      clients: p.clients,
      objects: manifest.objects.map((o) => ({ path: o.path, kind: o.kind, body: bodies.get(o.path)! })),
      coldObjects,
    };

    // Plan first (capabilities, OS support) so the progress total is right and skips are explicit.
    const plans: { suite: Suite; result: SuiteResult; runnable: VariantDef[]; offer: Map<string, SharedOfferKind> }[] = [];
    for (const suite of p.suites) {
      const m = suite.manifest;
      // Gating as this run resolves it (--fixed-throughput moves it to machine CPU %).
      const result: SuiteResult = { id: m.id, title: m.title, feature: m.feature, status: 'ran', metrics: metricsForRun(m.metrics, options), variants: [] };
      const runnable: VariantDef[] = [];
      const chosen = selectVariants(suite, options.variants);
      const applies = suiteApplies(m, fingerprint.os);
      if (!applies.ok) {
        result.status = 'skipped';
        result.reason = applies.reason;
      } else if (chosen.length === 0) {
        result.status = 'skipped';
        result.reason = 'no variant of this suite selected by --variant';
      }
      for (const v of result.status === 'ran' ? chosen : []) {
        const vr: VariantResult = { id: v.id, status: 'ran', repetitions: [], artifacts: {} };
        const c = await variantApplies(m, v, os, target);
        // What the kernel lacks (a module, scheduler, congestion control, kTLS) is a capability
        // skip: against a reference that ran the variant it is a loss (exit 1), not a pass.
        if (!c.ok) Object.assign(vr, { status: 'skipped', reason: c.reason, skipKind: c.reason?.startsWith('variant for ') ? 'platform' : 'capability' });
        else if (v.cache === 'cold' && options.serverUrl) {
          Object.assign(vr, { status: 'skipped', skipKind: 'setup', reason: 'cold cache needs the objects on a filesystem the harness can evict; with --server-url they live on the appliance' });
        }
        result.variants.push(vr);
        if (vr.status === 'ran') runnable.push(v);
      }
      if (result.status === 'ran' && runnable.length === 0) {
        const errors = result.variants.filter((x) => x.status === 'error');
        result.status = errors.length ? 'error' : 'skipped';
        const first = result.variants.find((x) => x.reason)?.reason;
        result.reason = errors.length ? `no selected variant can run: ${errors[0].reason}` : `every selected variant was skipped${first ? ` (${first})` : ''}`;
      }
      record.suites.push(result);
      // Which variants may run at the suite's fixed rate, and on what condition (loadmodel.ts).
      const offer = new Map<string, SharedOfferKind>();
      for (const v of runnable) {
        const kind = runsAtSharedOffer(m, v, options, !!p.clients?.length);
        if (kind) offer.set(v.id, kind);
      }
      plans.push({ suite, result, runnable, offer });
    }
    const named = (kind: SharedOfferKind) => plans.flatMap((x) => x.runnable.filter((v) => x.offer.get(v.id) === kind).map((v) => `${x.suite.manifest.id}/${v.id}`));
    const planLine = sharedOfferPlan(named('always'), named('if-client-bound'));
    if (planLine) progress.log(planLine);
    progress.start(plans.reduce((a, x) => a + x.runnable.length * options.runs, 0));

    for (const plan of plans) {
      if (plan.runnable.length === 0) continue;
      const id = plan.suite.manifest.id;
      await runSuite(env, plan, record, runDir, io, p.adaptive, p.referenceLoad && ((variant: string) => p.referenceLoad!(id, variant)));
    }
    record.status = record.errors.length ? 'incomplete' : 'complete';
  } catch (e) {
    record.status = signal.aborted ? 'interrupted' : 'incomplete';
    if (!signal.aborted) record.errors.push(describeError(e));
    throw signal.aborted ? interruptedError(`interrupted; partial run kept in ${runDir}`) : e;
  } finally {
    record.finishedAt = new Date().toISOString();
    progress.stop();
    if (target.consoleLog) {
      // The serial console (boot and run) belongs with the evidence.
      await copyFile(target.consoleLog, path.join(runDir, 'console.log')).then(
        () => (record.target.console = 'console.log'),
        () => {},
      );
    }
    record.restoreFailures.push(...(await runStack.unwind((l) => progress.log(l))));
    if (lock) await lock.release().catch((e) => record.restoreFailures.push(`release the lock on ${target.name}: ${describeError(e)}`));
    await saveRun(runDir, record);
  }
  return { record, runDir };
}

async function runSuite(
  env: RunEnvironment,
  plan: { suite: Suite; result: SuiteResult; runnable: VariantDef[]; offer: Map<string, SharedOfferKind> },
  record: RunRecord,
  runDir: string,
  io: RunIo,
  adaptive?: AdaptiveParams,
  referenceLoad?: (variant: string) => ReferenceLoad,
) {
  const { suite, result } = plan;
  const { options, signal, progress, fingerprint } = env;
  const suiteStack = new CleanupStack();
  const variantResult = (id: string) => result.variants.find((v) => v.id === id)!;
  const fail = (v: VariantDef, e: unknown) => {
    const vr = variantResult(v.id);
    vr.status = 'error';
    vr.reason = describeError(e);
    record.errors.push(`${suite.manifest.id}/${v.id}: ${vr.reason}`);
    progress.log(`ERROR ${suite.manifest.id}/${v.id}: ${vr.reason}`);
  };
  const ctx = new HarnessContext(env, suite.manifest.id, suiteStack, (variant, files) => {
    // Artifacts live under the target's run directory; remote ones are downloaded to the same layout.
    Object.assign(variantResult(variant).artifacts, Object.fromEntries(Object.entries(files).map(([k, f]) => [k, path.posix.relative(env.targetRunDir, f)])));
  }, suite.manifest.counters, suite.manifest.probes, manifestKnobs(suite.manifest)[fingerprint.os]);
  const rethrowIfFatal = (e: unknown) => {
    if (signal.aborted) throw interruptedError();
    if (isHeadgateError(e) && e.kind === 'input') throw e;
  };
  const applyKnobs = async (v: VariantDef) => {
    for (const [k, val] of variantKnobs(v, fingerprint.os)) await ctx.setKnob(k, val);
  };
  // Every warm-up and repetition gets a deadline: a hung step becomes an infrastructure error
  // with the target restored, instead of a CI job that never ends.
  const step = async <T>(label: string, loadSec: number, fn: () => Promise<T>): Promise<T> => {
    const limitSec = loadSec + (options.stepTimeoutSec ?? DEFAULT_STEP_GRACE_SEC);
    const deadline = new AbortController();
    const timedOut = new Promise<never>((_, reject) =>
      deadline.signal.addEventListener('abort', () => reject(infraError(`${suite.manifest.id}/${label} did not finish within ${limitSec} s (step timeout)`)), { once: true }),
    );
    const cancel = io.setTimer(limitSec * 1000, () => deadline.abort());
    ctx.stepSignal = AbortSignal.any([signal, deadline.signal]);
    try {
      return await Promise.race([fn(), timedOut]);
    } finally {
      cancel();
      ctx.stepSignal = undefined;
    }
  };
  const restoreKnobs = async () => {
    record.restoreFailures.push(...(await ctx.knobStack.unwind((l) => progress.log(l))));
  };

  const sessions = new Map<string, VariantSession>();
  // One repetition of a variant: knobs, deadline, verification and proof, saved at once.
  // The rate of this suite's fixed-rate variants (--load-model auto) and which they are, once the warm-ups chose.
  let sharedGbps: number | undefined;
  let atRate = new Set<string>();
  const repeat = async (v: VariantDef, r: number) => {
    if (!sessions.has(v.id)) return;
    if (signal.aborted) throw interruptedError();
    if (plan.offer.size) ctx.offeredGbps = atRate.has(v.id) ? sharedGbps : undefined;
    const startedAt = new Date().toISOString();
    const m = await attempt(v, `${v.id} #${r + 1}`, options.durationSec, (s) => s.repetition(r));
    if (m) {
      // A suite's own proof (m.proofFailures, e.g. unmapped-mbufs) adds to the manifest's.
      const missed = [...(m.proofFailures ?? []), ...proofFailures(v.expect?.[fingerprint.os], m.counters)];
      if (missed.length) m.proofFailures = missed;
      variantResult(v.id).repetitions.push({ index: r, startedAt, ...m });
      const ver = m.verification.failed ? ` ${m.verification.failed} VERIFICATION FAILURES` : '';
      const proof = missed.length ? ` FEATURE NOT ENGAGED: ${missed[0]}` : '';
      progress.done(`${suite.manifest.id}/${v.id} #${r + 1}: ${headline(suite.manifest.metrics, m.metrics)}${ver}${proof}${m.clientBound ? ' (client-bound)' : ''}`);
    }
    await saveRun(runDir, record);
  };
  // One warm-up or repetition: the variant's knobs set, a deadline, the knobs restored whatever
  // happens; an infrastructure failure retires the variant, the others go on.
  const attempt = async <T>(v: VariantDef, label: string, loadSec: number, fn: (s: VariantSession) => Promise<T>): Promise<T | undefined> => {
    const s = sessions.get(v.id);
    if (!s) return undefined;
    try {
      await applyKnobs(v);
      return await step(label, loadSec, () => fn(s));
    } catch (e) {
      rethrowIfFatal(e);
      fail(v, e);
      sessions.delete(v.id);
      return undefined;
    } finally {
      await restoreKnobs();
    }
  };
  // Adaptive repetitions: after each look, undecided variants get another batch of interleaved
  // rounds, until every one is settled or the budget (count, then wall time) is spent.
  const addRepetitions = async (a: AdaptiveParams) => {
    for (const v of plan.runnable) {
      const vr = variantResult(v.id);
      if (sessions.has(v.id) && vr.repetitions.length) vr.adaptive = { looks: [vr.repetitions.length], stoppedBy: options.runs >= a.maxRuns ? 'budget' : 'settled' };
    }
    const byId = new Map(plan.runnable.map((v) => [v.id, v]));
    await lookLoop({
      start: options.runs,
      maxRuns: a.maxRuns,
      batch: a.batch,
      maxExtraSec: a.maxExtraSec,
      now: io.now,
      undecided: () => {
        const want = new Set(a.undecided(record, suite.manifest.id));
        return plan.runnable.filter((v) => want.has(v.id) && sessions.has(v.id)).map((v) => v.id);
      },
      add: async (ids, k, n) => {
        progress.log(`${suite.manifest.id}: ${ids.join(', ')} undecided after ${n} repetitions: adding ${k}`);
        progress.extend(k * ids.length);
        for (let r = n; r < n + k; r++) for (const id of ids) await repeat(byId.get(id)!, r);
        return k;
      },
      onLook: async (ids, _n, stoppedBy) => {
        for (const id of ids) {
          const ad = variantResult(id).adaptive!;
          ad.looks.push(variantResult(id).repetitions.length);
          ad.stoppedBy = stoppedBy;
        }
        await saveRun(runDir, record);
      },
      onTimeStop: (ids) => {
        for (const id of ids) variantResult(id).adaptive!.stoppedBy = 'time';
        progress.log(`${suite.manifest.id}: adaptive repetitions stopped by the ${a.maxExtraSec} s budget with ${ids.join(', ')} undecided`);
      },
    });
  };
  try {
    for (const v of plan.runnable) {
      try {
        if (suite.probe) {
          const c = await suite.probe(ctx, v);
          if (!c.ok) {
            Object.assign(variantResult(v.id), { status: 'skipped', reason: c.reason ?? 'probe failed' });
            continue;
          }
        }
        sessions.set(v.id, await suite.prepare(ctx, v));
      } catch (e) {
        rethrowIfFatal(e);
        fail(v, e);
      }
    }
    const fixed = options.fixedThroughput ? parseFixedThroughput(options.fixedThroughput) : null;
    // A fixed rate is offered from the warm-up on; a share of the capacity needs the warm-ups (closed model) first.
    if (fixed && 'gbps' in fixed) ctx.offeredGbps = fixed.gbps;
    const warmupGbps: number[] = [];
    const warmed: WarmedCandidate[] = [];
    for (const v of plan.runnable) {
      const w = await attempt(v, `${v.id} warm-up`, options.warmupSec, (s) => s.warmup());
      if (w && w.metrics.throughput_gbps !== undefined) warmupGbps.push(w.metrics.throughput_gbps);
      const kind = plan.offer.get(v.id);
      if (kind && sessions.has(v.id)) {
        const reference = referenceLoad?.(v.id);
        // A cold set joins the rate only when its full-load warm-up was client-bound (or the reference ran it at a rate).
        if (kind === 'if-client-bound' && reference === undefined && !w?.clientBound) continue;
        const demand = w?.metrics.client_demand_pct;
        warmed.push({ id: v.id, gbps: w?.metrics.throughput_gbps, reference, ...(demand !== undefined ? { clientDemand: demand / 100 } : {}) });
      }
    }
    if (warmed.length) {
      const choice = chooseSharedOffer(warmed);
      sharedGbps = choice.gbps;
      atRate = new Set(choice.fixed);
      for (const id of choice.fixed) variantResult(id).offeredGbps = choice.gbps;
      if (choice.fixed.length) progress.log(`${suite.manifest.id}: ${choice.fixed.join(', ')} offered ${choice.gbps!.toFixed(3)} Gb/s = ${choice.from}`);
      if (choice.closed.length) progress.log(`${suite.manifest.id}: ${choice.closed.join(', ')} at full load (${warmed.some((c) => c.reference !== undefined) ? 'as the reference ran them' : 'no warm-up measured a throughput to take a rate from'})`);
    }
    if (fixed) {
      const gbps = offeredGbps(fixed, warmupGbps);
      if (gbps === null) {
        // Measuring at full load instead would gate CPU % of a different load: those variants fail.
        for (const v of plan.runnable.filter((x) => sessions.has(x.id) && variantProbes(suite.manifest, x).some((p) => p.id === 'http'))) {
          fail(v, infraError(`--fixed-throughput ${options.fixedThroughput}: no warm-up measured a throughput to take that share of`));
          sessions.delete(v.id);
        }
      } else {
        ctx.offeredGbps = gbps;
        result.offeredGbps = gbps;
        if ('capacityShare' in fixed) progress.log(`${suite.manifest.id}: fixed throughput ${gbps.toFixed(3)} Gb/s = ${(fixed.capacityShare * 100).toFixed(0)}% of the lowest warm-up throughput (${warmupGbps.map((x) => x.toFixed(3)).join(', ')} Gb/s)`);
      }
    }
    for (let r = 0; r < options.runs; r++) for (const v of plan.runnable) await repeat(v, r);
    if (adaptive) await addRepetitions(adaptive);
    // A gating metric the variant should have produced but did not would silently shrink the
    // verdict's family: the variant is an error instead (fail closed).
    for (const v of plan.runnable) {
      const vr = variantResult(v.id);
      if (vr.status !== 'ran' || vr.repetitions.length === 0) continue;
      const none = expectedGating({ ...suite.manifest, metrics: result.metrics }, v).filter((id) => metricSamples(vr, id).length === 0);
      if (none.length) fail(v, infraError(`gating metric${none.length > 1 ? 's' : ''} ${none.join(', ')} produced no samples in ${vr.repetitions.length} repetitions`));
    }
  } finally {
    record.restoreFailures.push(...(await suiteStack.unwind((l) => progress.log(l))));
    if (env.targetRunDir !== runDir) {
      // Server configs and logs for the report; a target that is gone loses only these. A suite
      // that started no server (io-sched, tcp-stack) has none to fetch.
      const servers = path.posix.join(env.targetRunDir, 'servers');
      const has = await env.target.exec(['test', '-d', servers], { allowFail: true }).then((r) => r.code === 0, () => true);
      if (has) await env.target.download(servers, path.join(runDir, 'servers')).catch((e) => progress.log(`note: artifacts of ${suite.manifest.id} not downloaded: ${describeError(e)}`));
    }
    if (result.variants.every((v) => v.status !== 'ran')) {
      result.status = result.variants.some((v) => v.status === 'error') ? 'error' : 'skipped';
    }
  }
}

/** Rejects options that cannot work before any load is generated. */
export function checkOptions(o: RunOptions): void {
  if (!Number.isInteger(o.runs) || o.runs < 2) throw inputError(`--runs ${o.runs}: need at least 2 repetitions per variant`);
  if (!(o.durationSec > 0)) throw inputError(`--duration ${o.durationSec}: must be a positive number of seconds`);
  if (!(o.connections >= 1)) throw inputError(`--connections ${o.connections}: must be at least 1`);
  if (o.rate !== undefined && !(o.rate > 0)) throw inputError(`--rate ${o.rate}: must be a positive number of requests per second`);
  if (o.fixedThroughput !== undefined) {
    const f = parseFixedThroughput(o.fixedThroughput);
    if (o.rate !== undefined) throw inputError(`--fixed-throughput ${o.fixedThroughput} with --rate ${o.rate}: both set the open model's rate; drop one`);
    if ('capacityShare' in f && !(o.warmupSec > 0)) throw inputError(`--fixed-throughput ${o.fixedThroughput}: a share of the capacity is measured in the warm-up, but --warmup is 0`);
  }
  if (o.serverUrl && !/^https?:\/\/[^/]+/.test(o.serverUrl)) throw inputError(`--server-url ${o.serverUrl}: must be an http:// or https:// URL`);
}

