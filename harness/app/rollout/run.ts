import { mkdir } from 'node:fs/promises';
import { sleep } from '../../lib/cleanup.js';
import { ExitCode, inputError } from '../../model/errors.js';
import type { InventoryHost } from '../../drivers/targets/inventory.js';
import { blockerOfExit, blocksPhase, type Hook, type PlanPhase, type RolloutPlan } from './plan.js';
import { audit, loadState, readAudit, repairAudit, saveState, type HostState, type RolloutState } from './state.js';

/** What the rollout needs from the rest of headgate (injected, so the state machine stays testable). */
export interface RolloutDeps {
  resolveHosts(spec: string): Promise<InventoryHost[]>;
  /** Gates one host with the phase's suites; resolves with the gate's exit code and what decided it. */
  gate(host: InventoryHost, phase: PlanPhase): Promise<{ code: number; runId?: string; verdict?: string; detail: string }>;
  runHook(hook: Hook, env: Record<string, string>): Promise<{ code: number; output: string }>;
  log(line: string): void;
  signal: AbortSignal;
}

/**
 * Runs (or resumes) a rollout: phase by phase, deploy every host with the user hook, soak, gate
 * every host, and go on only when no verdict the phase's policy blocks on came back. A blocking
 * verdict stops the rollout at that phase and runs the rollback hook on the phase's hosts; later
 * phases are never touched. The state is saved after every step and every action is audited, so
 * a rollout killed at any point resumes where it stopped without redeploying a host.
 */
export async function runRollout(
  plan: RolloutPlan,
  digest: string,
  paths: { dir: string; state: string; audit: string },
  resume: boolean,
  deps: RolloutDeps,
): Promise<number> {
  await mkdir(paths.dir, { recursive: true });
  let state = await loadState(paths.state);
  if (state && !resume) {
    throw inputError(`rollout ${plan.name} already ${state.status === 'running' ? 'started' : state.status} (${paths.state}): use --resume to continue it, or give the plan a new name to start over`);
  }
  if (!state && resume) throw inputError(`rollout ${plan.name}: nothing to resume (no ${paths.state})`);
  if (state && state.planDigest !== digest) throw inputError(`rollout ${plan.name}: the plan changed since the rollout started (${paths.state}); a rollout resumes only with the plan it started with`);
  if (state && state.status !== 'running') {
    throw inputError(`rollout ${plan.name} is ${state.status}${state.status === 'stopped' ? ` at phase ${state.phases.find((p) => p.status === 'stopped')?.name}` : ''}: nothing to resume`);
  }
  if (!state) {
    state = {
      schemaVersion: 1,
      plan: plan.name,
      planDigest: digest,
      build: plan.build,
      status: 'running',
      startedAt: new Date().toISOString(),
      updatedAt: '',
      phases: plan.phases.map((p) => ({ name: p.name, status: 'pending', hosts: {} })),
    };
    await saveState(paths.state, state);
    await audit(paths.audit, { action: 'start', detail: `build ${plan.build}, ${plan.phases.length} phases: ${plan.phases.map((p) => p.name).join(', ')}` });
  } else {
    // A kill in the middle of an append leaves a torn last line: cut it off (and say so) before appending again.
    const torn = await repairAudit(paths.audit);
    if (torn !== null) {
      deps.log(`audit log ${paths.audit}: the last line was torn by a crash and is dropped (${torn.length} bytes: ${torn.slice(0, 80)})`);
      await audit(paths.audit, { action: 'repaired', detail: `dropped a torn last line of ${torn.length} bytes: ${torn.slice(0, 200)}` });
    }
    await audit(paths.audit, { action: 'resume', detail: `at phase ${state.phases.find((p) => p.status !== 'passed')?.name ?? '(none)'}` });
  }
  const s: RolloutState = state;
  const save = () => saveState(paths.state, s);
  const stop = async (code: number) => {
    s.status = 'stopped';
    s.exitCode = code;
    await save();
    await audit(paths.audit, { action: 'stopped', reason: blockerOfExit(code) ?? 'pass', detail: `exit ${code}` });
    return code;
  };

  for (const phase of plan.phases) {
    const ps = s.phases.find((p) => p.name === phase.name)!;
    if (ps.status === 'passed') {
      deps.log(`phase ${phase.name}: passed earlier, skipped`);
      continue;
    }
    const hosts = await deps.resolveHosts(phase.targets);
    const env = (h: InventoryHost): Record<string, string> => ({
      HEADGATE_PLAN: plan.name,
      HEADGATE_BUILD: plan.build,
      HEADGATE_PHASE: phase.name,
      HEADGATE_HOST: h.name,
      HEADGATE_ADDRESS: h.address ?? h.host ?? '',
    });

    ps.status = 'deploying';
    await save();
    for (const h of hosts) {
      ps.hosts[h.name] ??= { deployed: false };
      if (ps.hosts[h.name].deployed) {
        deps.log(`phase ${phase.name}: ${h.name} already runs ${plan.build}, not redeployed`);
        continue;
      }
      if (deps.signal.aborted) return ExitCode.Interrupted;
      deps.log(`phase ${phase.name}: deploying ${plan.build} to ${h.name}`);
      await audit(paths.audit, { action: 'deploy', phase: phase.name, host: h.name, detail: plan.build });
      const r = await deps.runHook(plan.deploy, env(h));
      if (r.code !== 0) {
        await audit(paths.audit, { action: 'deploy-failed', phase: phase.name, host: h.name, detail: `exit ${r.code}: ${r.output.trim().split('\n').pop() ?? ''}` });
        ps.status = 'stopped';
        ps.stoppedBy = { host: h.name, verdict: 'deploy failed', exitCode: ExitCode.Infrastructure, detail: `deploy hook exited ${r.code}` };
        deps.log(`phase ${phase.name}: deploy hook failed on ${h.name} (exit ${r.code}); rollout stopped`);
        return stop(ExitCode.Infrastructure);
      }
      ps.hosts[h.name] = { deployed: true, deployedAt: new Date().toISOString() };
      await save();
      await audit(paths.audit, { action: 'deployed', phase: phase.name, host: h.name });
    }

    const soak = phase.policy?.soakSec ?? 0;
    if (soak > 0) {
      ps.status = 'soaking';
      await save();
      deps.log(`phase ${phase.name}: soaking ${soak} s before gating`);
      await Promise.race([sleep(soak * 1000), new Promise((r) => deps.signal.addEventListener('abort', r, { once: true }))]);
    }

    ps.status = 'gating';
    await save();
    for (const h of hosts) {
      if (ps.hosts[h.name].exitCode !== undefined) continue; // gated before an interruption
      if (deps.signal.aborted) return ExitCode.Interrupted;
      await audit(paths.audit, { action: 'gate', phase: phase.name, host: h.name });
      const g = await deps.gate(h, phase);
      if (deps.signal.aborted) return ExitCode.Interrupted;
      Object.assign(ps.hosts[h.name], { runId: g.runId, exitCode: g.code, verdict: g.verdict });
      await save();
      await audit(paths.audit, { action: 'gated', phase: phase.name, host: h.name, run: g.runId, exitCode: g.code, outcome: blockerOfExit(g.code) ?? 'pass', detail: g.detail });
      deps.log(`phase ${phase.name}: ${h.name}: ${g.verdict ?? 'error'} (exit ${g.code})${g.detail ? `: ${g.detail}` : ''}`);
    }

    // Invalid input (exit 2) stops first: it is a mistake in the plan or the baselines, whatever else failed.
    const gated = hosts.map((h) => ({ h, st: ps.hosts[h.name] }));
    const codeOf = (st: HostState) => st.exitCode ?? ExitCode.Infrastructure;
    const blocking =
      gated.find(({ st }) => codeOf(st) === ExitCode.InvalidInput) ?? gated.find(({ st }) => blocksPhase(codeOf(st), phase));
    if (blocking) {
      const code = codeOf(blocking.st);
      const reason = blockerOfExit(code)!;
      const g = await auditDetail(paths.audit, phase.name, blocking.h.name, deps.log);
      const verdict = reason === 'invalid-input' ? 'invalid input' : (blocking.st.verdict ?? 'error');
      ps.status = 'stopped';
      ps.stoppedBy = { host: blocking.h.name, verdict, exitCode: code, reason, detail: g };
      await save();
      deps.log(`rollout stopped at phase ${phase.name}: ${blocking.h.name} ${verdict} (exit ${code})${g ? `: ${g}` : ''}`);
      if (plan.rollback) {
        for (const h of hosts.filter((x) => ps.hosts[x.name]?.deployed)) {
          await audit(paths.audit, { action: 'rollback', phase: phase.name, host: h.name });
          const r = await deps.runHook(plan.rollback, env(h));
          ps.hosts[h.name].rolledBack = r.code === 0;
          await save();
          await audit(paths.audit, { action: r.code === 0 ? 'rolled-back' : 'rollback-failed', phase: phase.name, host: h.name, detail: r.code === 0 ? undefined : `exit ${r.code}` });
          deps.log(`phase ${phase.name}: rollback on ${h.name} ${r.code === 0 ? 'done' : `FAILED (exit ${r.code})`}`);
        }
      }
      return stop(code);
    }
    ps.status = 'passed';
    await save();
    await audit(paths.audit, { action: 'phase-passed', phase: phase.name });
    deps.log(`phase ${phase.name}: passed`);
  }
  s.status = 'complete';
  s.exitCode = ExitCode.Pass;
  await save();
  await audit(paths.audit, { action: 'complete' });
  return ExitCode.Pass;
}

/** The detail recorded with a host's last gate in the audit log (which metric stopped it). */
async function auditDetail(file: string, phase: string, host: string, log: (l: string) => void): Promise<string> {
  try {
    const { entries } = await readAudit(file);
    return (entries.reverse().find((l) => l.action === 'gated' && l.phase === phase && l.host === host)?.detail as string | undefined) ?? '';
  } catch (e) {
    // The detail only explains the stop; an unreadable log must not keep the rollout from stopping.
    log(`audit log: ${(e as Error).message}`);
    return '';
  }
}
