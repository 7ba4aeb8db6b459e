import type { InventoryHost } from '../../drivers/targets/inventory.js';
import { runShellHook } from '../../lib/exec.js';
import { resolveGateOptions, type OptionSources } from '../../model/options.js';
import type { AppContext } from '../common.js';
import { gateOnTarget } from '../gate.js';
import type { Hook, PlanPhase, RolloutPlan } from './plan.js';

/**
 * A phase's gate options: the caller's sources (config, env, --out ...), then the plan's gate block,
 * then the phase's suites. A rollout requires a baseline (a phase with nothing to compare against
 * must not pass and promote a build to the fleet) unless the plan's gate block says
 * `requireBaseline: false`; the config file and HEADGATE_* do not turn that off.
 */
export function phaseOptions(plan: RolloutPlan, planFile: string, phase: PlanPhase, base: OptionSources) {
  return resolveGateOptions({
    ...base,
    plan: { file: planFile, values: { requireBaseline: true, ...(plan.gate as Record<string, unknown> | undefined) } },
    flags: { ...base.flags, ...(phase.suites ? { suite: phase.suites } : {}), ...(phase.variants ? { variant: phase.variants } : {}) },
  });
}

/** Gates one host of a phase; what decided it is summarised for the rollout's state and audit log. */
export async function gatePhaseHost(host: InventoryHost, phase: PlanPhase, plan: RolloutPlan, planFile: string, base: OptionSources, ctx: AppContext, onError: (e: unknown, prefix: string) => number) {
  const prefix = `[${phase.name}/${host.name}] `;
  try {
    const g = phaseOptions(plan, planFile, phase, base);
    const out = await gateOnTarget(host, g, { gate: true }, ctx, prefix);
    const c = out.record?.comparison;
    const regressed = (c?.comparisons ?? []).filter((m) => m.gating && m.verdict === 'regressed');
    const detail = regressed.length
      ? regressed.map((m) => `${m.suite}/${m.variant} ${m.metric} ${m.baselineMedian.toPrecision(3)} -> ${m.currentMedian.toPrecision(3)} ${m.unit}`).join('; ')
      : (c?.summary ?? out.record?.status ?? '');
    return { code: out.code, runId: out.record?.runId, verdict: c?.verdict ?? out.record?.status, detail };
  } catch (e) {
    const code = onError(e, prefix);
    return { code, verdict: 'error', detail: (e as Error).message.split('\n')[0] };
  }
}

/** Runs a rollout hook with sh -c in its own process group; a timeout or Ctrl-C kills the whole group. */
export async function runRolloutHook(hook: Hook, env: Record<string, string>, ctx: AppContext): Promise<{ code: number; output: string }> {
  let output = '';
  const r = await runShellHook(hook.command, {
    env,
    timeoutMs: (hook.timeoutSec ?? 1800) * 1000,
    signal: ctx.signal,
    onOutput: (text) => {
      output += text;
      for (const l of text.split('\n').filter(Boolean)) ctx.log(`  [hook ${env.HEADGATE_HOST}] ${l}`);
    },
  });
  return { code: r.code ?? 124, output: output || r.stderr };
}
