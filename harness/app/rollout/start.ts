import { resolveTargets } from '../../drivers/targets/index.js';
import { resolveGateOptions, type GateOptions, type OptionSources } from '../../model/options.js';
import type { AppContext } from '../common.js';
import { gatePhaseHost, runRolloutHook } from './gate.js';
import { loadPlan, type RolloutPlan } from './plan.js';
import { runRollout } from './run.js';
import { loadState, rolloutPaths, type RolloutState } from './state.js';

/** A rollout plan read and placed: the options every phase's gate shares, and where its state and audit log go. */
export interface OpenedRollout {
  file: string;
  plan: RolloutPlan;
  digest: string;
  /** The caller's option sources (config, env, flags); each phase's gate adds the plan's gate block and suites. */
  base: OptionSources;
  g: GateOptions;
  paths: ReturnType<typeof rolloutPaths>;
}

/** Resolves the shared options and reads the plan (an older plan version is read with today's keys, with a note). */
export async function openRollout(
  file: string,
  base: OptionSources,
  log: (line: string) => void,
): Promise<OpenedRollout> {
  const g = resolveGateOptions(base);
  const { plan, digest, upgradedFrom } = await loadPlan(file);
  if (upgradedFrom) {
    log(
      `note: ${file} is rollout plan version ${upgradedFrom}; read with today's key names (rewrite it: headgate migrate --kind rollout ${file})`,
    );
  }
  return { file, plan, digest, base, g, paths: rolloutPaths(g.out, plan.name) };
}

/**
 * Runs (or resumes) an opened rollout with the real parts: hosts from the inventory, each phase
 * host gated with the phase's options, the plan's hooks in their own process groups. Returns the
 * exit code and the state it ended in.
 */
export async function runRolloutPlan(
  r: OpenedRollout,
  resume: boolean,
  ctx: AppContext,
  onError: (e: unknown, prefix: string) => number,
): Promise<{ code: number; state: RolloutState }> {
  const code = await runRollout(r.plan, r.digest, r.paths, resume, {
    resolveHosts: (spec) => resolveTargets(spec, r.g.inventory),
    gate: (host, phase) => gatePhaseHost(host, phase, r.plan, r.file, r.base, ctx, onError),
    runHook: (hook, env) => runRolloutHook(hook, env, ctx),
    log: (l) => ctx.log(`rollout ${r.plan.name}: ${l}`),
    signal: ctx.signal,
  });
  return { code, state: (await loadState(r.paths.state))! };
}
