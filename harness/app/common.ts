import { localScope, replayFailure, replayJournal } from '../drivers/journal.js';
import { undoPolicy } from '../engine/policy.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openHost, resolveClients } from '../drivers/targets/index.js';
import type { LoadClient } from '../engine/context.js';
import { LocalTarget } from '../drivers/targets/local.js';
import { localJournal } from '../lib/journal.js';
import type { InventoryHost } from '../drivers/targets/inventory.js';
import type { Target } from '../drivers/targets/target.js';
import type { AdaptiveParams } from '../engine/runner.js';
import { ExitCode } from '../model/errors.js';
import type { GateOptions } from '../model/options.js';
import { deriveProfile } from '../model/profile.js';
import type { Fingerprint, RunRecord } from '../model/types.js';
import { DEFAULT_RHO } from '../stats/sequential.js';
import { loadNoise } from '../store/noise.js';
import { infrastructureErrors, integrityFailures, runVerdict, type CompareOptions } from '../verdict/compare.js';

/** The checkout this process runs from: a `local` load client's headgate. */
const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What a use case needs from its caller: the abort signal and where its lines go (the CLI prints them). */
export interface AppContext {
  signal: AbortSignal;
  /** A line for the operator (stderr at the CLI). */
  log(line: string): void;
  /** No progress output. */
  quiet?: boolean;
}

/** An open target with the facts every use case reads first. */
export interface OpenedTarget {
  target: Target;
  fingerprint: Fingerprint;
  /** --profile, else the inventory's, else derived from the fingerprint. */
  profile: string;
}

/** Opens a target, reads its fingerprint and settles its profile: the one way every use case starts. */
export async function openTarget(host: InventoryHost, g: Pick<GateOptions, 'profile'>, log: (line: string) => void = () => {}): Promise<OpenedTarget> {
  // What dead runs left on this machine (a lab's namespaces, a VM, knobs, loop devices) goes first;
  // what cannot be restored is exit 3 before anything is measured.
  const failed = replayFailure(`this machine (${localJournal().where})`, await replayJournal(localJournal(), localScope(new LocalTarget(), await undoPolicy()), log));
  if (failed) throw failed;
  const target = await openHost(host);
  try {
    const fingerprint = await (await target.os()).fingerprint();
    return { target, fingerprint, profile: g.profile ?? host.profile ?? deriveProfile(fingerprint) };
  } catch (e) {
    await target.close({ failed: true });
    throw e;
  }
}

/** The load clients of --client, open, and how to close them (an empty list without --client). */
export async function openClients(g: Pick<GateOptions, 'client' | 'inventory'>): Promise<{ clients: LoadClient[]; close: () => Promise<void> }> {
  const clients: LoadClient[] = [];
  const close = async () => {
    for (const c of clients) await c.target.close();
  };
  try {
    for (const c of g.client.length ? await resolveClients(g.client.join(','), g.inventory) : []) {
      clients.push({ name: c.name, target: await openHost(c), headgateDir: c.headgateDir ?? ROOT_DIR });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { clients, close };
}

/** The comparison options of resolved options (budget, rho, calibration); plan is absent with --no-adaptive. */
export function compareOptionsOf(g: GateOptions, noise: CompareOptions['noise']): CompareOptions {
  const maxRuns = g.maxRuns ?? g.runs * 3;
  const batch = g.adaptiveBatch ?? Math.max(2, Math.floor(g.runs / 2));
  const on = g.adaptive && maxRuns > g.runs;
  return {
    alpha: g.alpha,
    referenceVariant: g.baselineVariant,
    onInconclusive: g.onInconclusive,
    noise,
    minEffect: g.minEffect,
    ...(g.requireMde !== undefined ? { requireMde: g.requireMde } : {}),
    ...(on ? { plan: { batch, nMax: maxRuns, rho: DEFAULT_RHO, maxExtraSec: g.maxExtraSec } } : {}),
  };
}

/** compareOptionsOf with the profile's noise calibration read from the baselines directory. */
export async function compareOptionsFor(g: GateOptions, profile: string): Promise<CompareOptions> {
  return compareOptionsOf(g, await loadNoise(g.baselines, profile));
}

/** The runner's adaptive-repetition parameters for a comparison plan (none without a plan). */
export function adaptiveParams(cmp: CompareOptions, undecided: AdaptiveParams['undecided']): AdaptiveParams | undefined {
  if (!cmp.plan) return undefined;
  return { batch: cmp.plan.batch, maxRuns: cmp.plan.nMax, maxExtraSec: cmp.plan.maxExtraSec ?? Infinity, undecided };
}

/** The exit code a finished run stands for: its comparison's, or (without one) payload failures and infrastructure errors. */
export function exitCodeOf(record: RunRecord): number {
  if (record.comparison) return record.comparison.exitCode;
  return runVerdict({ comparisons: [], integrityFailures: integrityFailures(record), infraErrors: infrastructureErrors(record), hasReference: false }).exitCode;
}

/**
 * Which exit code stands for several targets: a regression (1) outranks infrastructure (3), which
 * outranks inconclusive (4): a retry cannot fix a regression, and an unfinished target is no pass.
 */
export function combineExitCodes(codes: number[]): number {
  for (const c of [ExitCode.Interrupted, ExitCode.InvalidInput, ExitCode.Regression, ExitCode.Infrastructure, ExitCode.Inconclusive]) if (codes.includes(c)) return c;
  return ExitCode.Pass;
}
