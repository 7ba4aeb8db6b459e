import path from 'node:path';
import { resolveTargets } from '../drivers/targets/index.js';
import type { InventoryHost } from '../drivers/targets/inventory.js';
import type { LoadClient } from '../engine/context.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { checkOptions, executeRun, saveRun } from '../engine/runner.js';
import { parseShard, shardWork, targetShards, type Shard } from '../engine/shard.js';
import { createProgress } from '../lib/progress.js';
import { ExitCode, infraError, inputError, regressionError } from '../model/errors.js';
import { readHardwareId } from '../drivers/targets/identity.js';
import { findPin, hardwareChanges, pinsFile } from '../store/pins.js';
import { runOptionsOf, settingsOf, type GateOptions } from '../model/options.js';
import type { RunRecord } from '../model/types.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { junitReporter } from '../reporters/junit.js';
import { markdownReporter } from '../reporters/markdown.js';
import { baselinesAsReference, loadBaselines } from '../store/baselines.js';
import { HistoryStore, historyPath } from '../store/history.js';
import { compareRun, integrityFailures, referenceLoad, undecidedVariants, type Reference } from '../verdict/compare.js';
import { adaptiveParams, combineExitCodes, compareOptionsFor, exitCodeOf, openClients, openTarget, type AppContext } from './common.js';

/** This checkout: the default headgate directory on load-client hosts. */

/** run (measure only) or gate (measure, compare with the reference, decide). */
export interface GateMode {
  gate: boolean;
  /** Also build the Allure report for a plain run. */
  report?: boolean;
}

/** What one target's run came to. */
export interface TargetOutcome {
  host: string;
  code: number;
  runDir?: string;
  record?: RunRecord;
  /** Report files written (summary.md, junit.xml, index.html, ...). */
  files: string[];
  /** The run's payload verification failures (what fails a run that has no comparison). */
  integrityFailures?: string[];
  /** The one-line error when the run could not even start. */
  error?: string;
  sec: number;
}

/** Work limits of one target's run: a shard's suites, a given reference (bisect), no history. */
export interface TargetWork {
  suites?: string[];
  shard?: Shard;
  reference?: Reference;
  recordHistory?: boolean;
}

/** Checks what can be checked before any target is contacted: options that relate, suites and variants that exist. */
export async function preflight(g: GateOptions): Promise<void> {
  checkOptions(runOptionsOf(g));
  const suites = selectSuites(await discoverSuites(), g.suite);
  const known = new Set(suites.flatMap((s) => s.manifest.variants.map((v) => v.id)));
  for (const v of g.variant) if (!known.has(v)) throw inputError(`--variant ${v}: no selected suite has this variant (known: ${[...known].join(', ')})`);
  // A misspelt reference variant would compare nothing and pass: refuse it before any load.
  if (g.baselineVariant && !known.has(g.baselineVariant)) {
    throw inputError(`--baseline-variant ${g.baselineVariant}: no selected suite has this variant (known: ${[...known].join(', ')})`);
  }
}

/** One target's run: open, gate or run, report, close. Its exit code is the run's verdict. */
export async function gateOnTarget(host: InventoryHost, g: GateOptions, mode: GateMode, ctx: AppContext, prefix = '', work: TargetWork = {}): Promise<TargetOutcome> {
  const s0 = Date.now();
  const options = runOptionsOf(g);
  const progress = createProgress({ quiet: ctx.quiet, prefix });
  const opened = await openTarget(host, g, (l) => ctx.log(prefix + l));
  const { target, fingerprint } = opened;
  const settings = { ...settingsOf(g), profile: opened.profile };
  const clients: LoadClient[] = [];
  let code: number = ExitCode.Infrastructure;
  try {
    // The machine is who the target is: a pinned machine is compared with its pinned profile's
    // baselines whatever its kernel reports, and a kernel that reports other hardware fails.
    const pin = await findPin(settings.baselinesDir, { machineId: target.machine.id, hardwareId: await readHardwareId(target), name: target.name });
    if (pin) {
      if (!g.profile && !host.profile) settings.profile = pin.profile;
      const changes = hardwareChanges(pin, fingerprint);
      if (changes.length && mode.gate) {
        throw regressionError(
          `target ${target.name}: its kernel reports other hardware than the machine pinned to profile ${pin.profile} (${pinsFile(settings.baselinesDir)}): ${changes.join('; ')}`,
          `a kernel that brings up fewer CPUs or less memory fails here; if the hardware really changed, measure it with \`headgate run\` (add --profile NEW for a new profile) and re-pin it: headgate baseline promote RUN --reason "hardware changed: ..."`,
        );
      }
      if (changes.length) ctx.log(`${prefix}warning: target ${target.name} reports other hardware than its pin: ${changes.join('; ')}`);
    }
    const opened = await openClients(g);
    clients.push(...opened.clients);
    const all = await discoverSuites();
    const suites = selectSuites(all, work.suites ?? options.suites);
    // Read baselines before any load so a broken baseline fails in seconds, not after the run.
    let reference: Reference | null = null;
    if (mode.gate && work.reference) {
      reference = work.reference; // bisect: the good commit's run instead of the stored baselines
    } else if (mode.gate) {
      const files = await loadBaselines(settings.baselinesDir, settings.profile, suites.map((s) => s.manifest.id));
      reference = baselinesAsReference(files, settings.baselinesDir, settings.profile);
      if (!reference && g.requireBaseline) {
        throw inputError(`no baseline for profile ${settings.profile} in ${settings.baselinesDir}/ (required by --require-baseline)`, 'run `headgate gate` once, then `headgate baseline promote RUN --reason ...`');
      }
    }
    // The profile's A/A calibration sets the thresholds; adaptive repetitions need a reference.
    const cmp = mode.gate ? await compareOptionsFor(g, settings.profile) : null;
    const adaptive = cmp && reference ? adaptiveParams(cmp, (rec, suiteId) => undecidedVariants(rec, suiteId, reference, cmp)) : undefined;
    const expectKernel = (when: string, fp: { kernelRelease: string; kernelVersion: string }) => {
      if (g.expectKernel && !`${fp.kernelRelease} ${fp.kernelVersion}`.includes(g.expectKernel)) {
        throw infraError(`target ${target.name} runs ${fp.kernelRelease} (${fp.kernelVersion}), not the build --expect-kernel ${JSON.stringify(g.expectKernel)} names (${when})`, 'deploy the build under test (under the target\'s lock), or fix --expect-kernel');
      }
    };
    expectKernel('before the first repetition', fingerprint);
    // --load-model auto: each variant runs as the reference ran it (its rate, or full load).
    const loads = reference ? (suite: string, variant: string) => referenceLoad(reference!, suite, variant) : undefined;
    const { record, runDir } = await executeRun({ waitLockSec: g.waitLock, target, options, settings, suites, signal: ctx.signal, progress, fingerprint, clients, shard: work.shard, selectedSuites: selectSuites(all, options.suites), adaptive, referenceLoad: loads });
    // Another pipeline's deploy may have swapped the kernel mid-run (H9): checked again at the end.
    if (g.expectKernel) {
      try {
        expectKernel('after the last repetition', await (await target.os()).fingerprint());
      } catch (e) {
        record.errors.push((e as Error).message);
        record.status = 'incomplete';
      }
    }
    if (cmp) {
      record.comparison = compareRun(record, reference, { ...cmp, plan: adaptive ? cmp.plan : undefined });
    }
    if (cmp || g.expectKernel) await saveRun(runDir, record);
    // Every gate run goes into the history (a failure to record is a warning, not a verdict).
    let history: HistoryStore | null = null;
    if (mode.gate && work.recordHistory !== false) {
      try {
        history = new HistoryStore(historyPath(settings.reportsDir));
        history.record(record);
      } catch (e) {
        ctx.log(`${prefix}warning: not recorded in ${historyPath(settings.reportsDir)}: ${(e as Error).message}`);
      }
    }
    const reporters = mode.gate || mode.report ? defaultReporters : [markdownReporter, junitReporter];
    let files: string[];
    try {
      ({ files } = await renderAll(reporters, { run: record, runDir, reportsDir: path.resolve(settings.reportsDir), log: (l) => ctx.log(prefix + l), history: history?.source(record.profile) }));
    } finally {
      history?.close();
    }
    code = exitCodeOf(record);
    return { host: host.name, code, runDir, record, files, integrityFailures: integrityFailures(record), sec: (Date.now() - s0) / 1000 };
  } finally {
    for (const c of clients) await c.target.close();
    await target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * How long a shard waits for a target that other shards of the same gate also gate (fewer
 * targets than shards): long enough for the other shards' suites (a full gate of all suites
 * takes about an hour), bounded so a dead holder still ends the job inside the pipelines' job
 * timeout (ci/: 360 minutes for a gate shard, the wait plus a gate of its own).
 */
export const SHARED_TARGET_WAIT_SEC = 2 * 3600;

/** The outcome of run or gate over every selected target. */
export interface GateResult {
  code: number;
  outcomes: TargetOutcome[];
  /** Hosts in the order the user named them. */
  hosts: string[];
  wallSec: number;
  /** What this shard does (for the operator), when --shard was given. */
  shardNote?: string;
}

/**
 * run or gate on every selected target (a shard's part of them), at most --parallel at a time.
 * `onOutcome` sees each target's outcome as soon as it is known (the CLI prints it then).
 */
export async function runGate(g: GateOptions, mode: GateMode, ctx: AppContext, onOutcome: (o: TargetOutcome, prefix: string) => void, onError: (e: unknown, prefix: string) => number): Promise<GateResult> {
  await preflight(g);
  const t0 = Date.now();
  let hosts = await resolveTargets(g.target, g.inventory);
  // --shard i/n: this agent's part of the target x suite work; the other agents compute the same split.
  const shard = g.shard ? parseShard(g.shard) : undefined;
  const work = new Map<string, string[] | undefined>(hosts.map((h) => [h.name, undefined]));
  const shards = new Map<string, Shard>();
  let shardNote: string | undefined;
  if (shard) {
    const suiteIds = selectSuites(await discoverSuites(), g.suite).map((x) => x.manifest.id);
    const names = hosts.map((h) => h.name);
    const mine = shardWork(names, suiteIds, shard);
    const owners = targetShards(names, suiteIds, shard.count);
    const units = hosts.length * suiteIds.length;
    shardNote = `shard ${shard.index}/${shard.count}: ${[...mine.entries()].map(([t, ss]) => `${t}: ${ss.join(', ')}`).join('; ') || 'nothing'} (${units} target x suite units in all)`;
    ctx.log(shardNote);
    if (mine.size === 0) return { code: ExitCode.Pass, outcomes: [], hosts: [], wallSec: 0, shardNote: `shard ${shard.index}/${shard.count} has no work: ${units} units over ${shard.count} shards` };
    hosts = hosts.filter((h) => mine.has(h.name));
    for (const h of hosts) {
      work.set(h.name, mine.get(h.name));
      const of = owners.get(h.name)!;
      shards.set(h.name, { ...shard, targetShards: of, targets: names });
      // A target shared by several shards: they take its lock in turn instead of the second one
      // failing with exit 3 (or gating while another agent's deploy hook reboots the box).
      if (of.length > 1 && g.waitLock < SHARED_TARGET_WAIT_SEC) {
        ctx.log(`${h.name} is gated by shards ${of.join(', ')} of ${shard.count}: waiting up to ${SHARED_TARGET_WAIT_SEC} s for its lock (more targets than shards gives each agent hosts of its own)`);
      }
    }
  }
  const waitFor = (h: string) => ((shards.get(h)?.targetShards?.length ?? 1) > 1 ? { ...g, waitLock: Math.max(g.waitLock, SHARED_TARGET_WAIT_SEC) } : g);
  if (hosts.length === 1) {
    const o = await gateOnTarget(hosts[0], waitFor(hosts[0].name), mode, ctx, '', { suites: work.get(hosts[0].name), shard: shards.get(hosts[0].name) });
    onOutcome(o, '');
    return { code: o.code, outcomes: [o], hosts: [hosts[0].name], wallSec: (Date.now() - t0) / 1000, shardNote };
  }
  // Many targets: each its own run, verdict and exit code, at most --parallel at a time.
  const limit = Math.max(1, g.parallel);
  ctx.log(`${hosts.length} targets, at most ${limit} at a time: ${hosts.map((h) => h.name).join(', ')}`);
  const outcomes: TargetOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < hosts.length && !ctx.signal.aborted) {
      const h = hosts[next++];
      const prefix = `[${h.name}] `;
      const s0 = Date.now();
      try {
        const o = await gateOnTarget(h, waitFor(h.name), mode, ctx, prefix, { suites: work.get(h.name), shard: shards.get(h.name) });
        outcomes.push(o);
        onOutcome(o, prefix);
      } catch (e) {
        const code = onError(e, prefix);
        outcomes.push({ host: h.name, code, files: [], error: (e as Error).message.split('\n')[0], sec: (Date.now() - s0) / 1000 });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, hosts.length) }, worker));
  const order = hosts.map((h) => h.name);
  outcomes.sort((a, b) => order.indexOf(a.host) - order.indexOf(b.host));
  return { code: combineExitCodes(outcomes.map((x) => x.code)), outcomes, hosts: order, wallSec: (Date.now() - t0) / 1000, shardNote };
}
