import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadDocInfo } from '../../model/validate.js';
import type { GateOptions } from '../../model/options.js';
import { inputError } from '../../model/errors.js';

/** A user hook: a shell command run on this machine. */
export interface Hook {
  command: string;
  timeoutSec?: number;
}

/** What a verdict can do to a rollout. */
export type Blocker = 'regression' | 'inconclusive' | 'infrastructure';

/** One phase of a rollout plan. */
export interface PlanPhase {
  name: string;
  targets: string;
  suites?: string[];
  variants?: string[];
  policy?: { block?: Blocker[]; soakSec?: number };
}

/** A rollout plan (schemas/rollout.schema.json). */
export interface RolloutPlan {
  schemaVersion: 2;
  name: string;
  build: string;
  deploy: Hook;
  rollback?: Hook;
  /** Run options for every phase's gate, by the same names as flags and config keys (docs/options.md). */
  gate?: Partial<GateOptions>;
  phases: PlanPhase[];
}

/** Loads and checks a plan; its digest ties a saved state to the exact plan it ran. */
export async function loadPlan(file: string): Promise<{ plan: RolloutPlan; digest: string; upgradedFrom?: number }> {
  const { doc: plan, upgradedFrom } = await loadDocInfo<RolloutPlan>('rollout', file);
  const names = plan.phases.map((p) => p.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw inputError(`${file}: phase ${dup} named twice`);
  const digest = createHash('sha256').update(await readFile(file)).digest('hex').slice(0, 16);
  return { plan, digest, upgradedFrom };
}

/** The blockers of a phase (default: every kind of bad verdict stops the rollout). */
export function blockersOf(p: PlanPhase): Blocker[] {
  return p.policy?.block ?? ['regression', 'inconclusive', 'infrastructure'];
}

/**
 * What a gate exit code means for a rollout, or null for a pass. Exit 2 is invalid input (a
 * missing baseline, a bad suite or variant id in the plan): a mistake, not a broken machine, so it
 * is never counted as infrastructure and it stops the rollout whatever the phase's policy says.
 */
export function blockerOfExit(code: number): Blocker | 'invalid-input' | null {
  if (code === 0) return null;
  if (code === 1) return 'regression';
  if (code === 2) return 'invalid-input';
  if (code === 4) return 'inconclusive';
  return 'infrastructure';
}

/** Whether a gate's exit code stops a phase with this policy (invalid input always does). */
export function blocksPhase(code: number, p: PlanPhase): boolean {
  const b = blockerOfExit(code);
  return b === 'invalid-input' || (b !== null && blockersOf(p).includes(b));
}
