import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InventoryHost } from '../../harness/drivers/targets/inventory.js';
import { phaseOptions } from '../../harness/app/rollout/gate.js';
import { blockerOfExit, blocksPhase, type PlanPhase, type RolloutPlan } from '../../harness/app/rollout/plan.js';
import { runRollout, type RolloutDeps } from '../../harness/app/rollout/run.js';
import { loadState, readAudit, repairAudit, rolloutPaths } from '../../harness/app/rollout/state.js';
import { tempDir } from '../helpers/temp.js';

// The rollout state machine with fake deps: hosts, gates and hooks are scripted, nothing runs.

function plan(name: string, over: Partial<RolloutPlan> = {}): RolloutPlan {
  return {
    schemaVersion: 2,
    name,
    build: 'v2',
    deploy: { command: 'deploy' },
    rollback: { command: 'rollback' },
    phases: [
      { name: 'lab', targets: 'group:lab' },
      { name: 'canary', targets: 'group:canary' },
      { name: 'fleet', targets: 'group:fleet' },
    ],
    ...over,
  };
}

const host = (name: string): InventoryHost => ({ name, kind: 'ssh', host: `${name}.lab` });

/** Fake deps: each phase has one host h-<phase>; gate codes are scripted per host (default pass). */
function fakeDeps(codes: Record<string, number> = {}) {
  const calls: string[] = [];
  const logs: string[] = [];
  const deps: RolloutDeps = {
    resolveHosts: async (spec) => [host(`h-${spec.replace(/^group:/, '')}`)],
    gate: async (h) => {
      calls.push(`gate ${h.name}`);
      const code = codes[h.name] ?? 0;
      return {
        code,
        runId: `run-${h.name}`,
        verdict: code === 0 ? 'pass' : code === 2 ? 'error' : 'fail',
        detail: code === 2 ? 'no baseline for profile p in baselines/' : '',
      };
    },
    runHook: async (hook, env) => {
      calls.push(`${hook.command} ${env.HEADGATE_HOST}`);
      return { code: 0, output: '' };
    },
    log: (l) => logs.push(l),
    signal: new AbortController().signal,
  };
  return { deps, calls, logs };
}

function setup(name: string) {
  const reports = tempDir('hg-rollout-unit-');
  return rolloutPaths(reports, name);
}

describe('rollout: exit codes of a phase gate', () => {
  it('exit 2 is invalid input, never infrastructure, and blocks whatever the policy says', () => {
    expect(blockerOfExit(0)).toBeNull();
    expect(blockerOfExit(1)).toBe('regression');
    expect(blockerOfExit(2)).toBe('invalid-input');
    expect(blockerOfExit(3)).toBe('infrastructure');
    expect(blockerOfExit(4)).toBe('inconclusive');
    const informational: PlanPhase = { name: 'lab', targets: 'group:lab', policy: { block: [] } };
    expect(blocksPhase(2, informational)).toBe(true);
    expect(blocksPhase(3, informational)).toBe(false);
    expect(blocksPhase(1, informational)).toBe(false);
  });

  it('a gate that exits 2 stops the rollout with reason invalid-input, even in a phase that blocks only on infrastructure', async () => {
    const p = plan('bad-input', {
      phases: [
        { name: 'lab', targets: 'group:lab', policy: { block: ['infrastructure'] } },
        { name: 'canary', targets: 'group:canary' },
      ],
    });
    const paths = setup(p.name);
    const { deps, calls } = fakeDeps({ 'h-lab': 2 });
    expect(await runRollout(p, 'd1', paths, false, deps)).toBe(2);
    const state = (await loadState(paths.state))!;
    expect(state.status).toBe('stopped');
    expect(state.exitCode).toBe(2);
    expect(state.phases.map((x) => x.status)).toEqual(['stopped', 'pending']);
    expect(state.phases[0].stoppedBy).toMatchObject({
      host: 'h-lab',
      verdict: 'invalid input',
      exitCode: 2,
      reason: 'invalid-input',
    });
    expect(state.phases[0].stoppedBy!.detail).toMatch(/no baseline/);
    expect(calls).toEqual(['deploy h-lab', 'gate h-lab', 'rollback h-lab']);
    const { entries } = await readAudit(paths.audit);
    expect(entries.find((e) => e.action === 'gated')).toMatchObject({ exitCode: 2, outcome: 'invalid-input' });
    expect(entries.at(-1)).toMatchObject({ action: 'stopped', reason: 'invalid-input' });
    expect(JSON.stringify(entries)).not.toMatch(/infrastructure/);
  });

  it('infrastructure (exit 3) still follows the policy: an informational phase goes on', async () => {
    const p = plan('infra', {
      phases: [
        { name: 'lab', targets: 'group:lab', policy: { block: ['regression'] } },
        { name: 'canary', targets: 'group:canary' },
      ],
    });
    const paths = setup(p.name);
    const { deps } = fakeDeps({ 'h-lab': 3 });
    expect(await runRollout(p, 'd1', paths, false, deps)).toBe(0);
    const { entries } = await readAudit(paths.audit);
    expect(entries.find((e) => e.action === 'gated' && e.host === 'h-lab')).toMatchObject({
      exitCode: 3,
      outcome: 'infrastructure',
    });
  });

  it('a regression at the canary stops there, rolls it back and never touches the fleet', async () => {
    const p = plan('regress');
    const paths = setup(p.name);
    const { deps, calls } = fakeDeps({ 'h-canary': 1 });
    expect(await runRollout(p, 'd1', paths, false, deps)).toBe(1);
    expect(calls).toEqual(['deploy h-lab', 'gate h-lab', 'deploy h-canary', 'gate h-canary', 'rollback h-canary']);
    const state = (await loadState(paths.state))!;
    expect(state.phases.map((x) => x.status)).toEqual(['passed', 'stopped', 'pending']);
    expect(state.phases[1].stoppedBy).toMatchObject({ reason: 'regression', exitCode: 1 });
  });
});

describe('rollout: a baseline is required by default', () => {
  const base = { env: {}, flags: {} };
  const phase: PlanPhase = { name: 'lab', targets: 'group:lab', suites: ['sendfile'] };
  it('requireBaseline is true unless the plan says false; config and HEADGATE_* do not turn it off', () => {
    expect(phaseOptions(plan('a'), 'plan.yaml', phase, base).requireBaseline).toBe(true);
    expect(phaseOptions(plan('a', { gate: { runs: 6 } }), 'plan.yaml', phase, base).requireBaseline).toBe(true);
    expect(
      phaseOptions(plan('a'), 'plan.yaml', phase, { ...base, env: { HEADGATE_REQUIRE_BASELINE: 'false' } })
        .requireBaseline,
    ).toBe(true);
    expect(
      phaseOptions(plan('a'), 'plan.yaml', phase, {
        ...base,
        config: { file: 'c.yaml', values: { requireBaseline: false } },
      }).requireBaseline,
    ).toBe(true);
    expect(
      phaseOptions(plan('a', { gate: { requireBaseline: false } }), 'plan.yaml', phase, base).requireBaseline,
    ).toBe(false);
    expect(phaseOptions(plan('a', { gate: { runs: 6 } }), 'plan.yaml', phase, base).runs).toBe(6);
    expect(phaseOptions(plan('a'), 'plan.yaml', phase, base).suite).toEqual(['sendfile']);
  });
});

describe('rollout: a torn last line of the audit log', () => {
  it('readAudit skips it and returns it; a torn line in the middle is an error naming the line', async () => {
    const f = path.join(tempDir('hg-rollout-unit-'), 'audit.log');
    writeFileSync(f, '{"action":"start"}\n{"action":"deploy","host":"h-la');
    const r = await readAudit(f);
    expect(r.entries).toEqual([{ action: 'start' }]);
    expect(r.torn).toBe('{"action":"deploy","host":"h-la');
    writeFileSync(f, '{"action":"start"}\n{"act\n{"action":"x"}\n');
    await expect(readAudit(f)).rejects.toThrow(/audit\.log:2: unreadable line/);
    writeFileSync(f, '{"action":"start"}\n');
    expect(await repairAudit(f)).toBeNull();
    expect(readFileSync(f, 'utf8')).toBe('{"action":"start"}\n');
  });

  it('does not stop a resume: the fragment is cut off, the repair is logged and audited, and the rollout completes', async () => {
    const p = plan('torn');
    const paths = setup(p.name);
    // First run: killed (aborted) while the canary is gated.
    const ac = new AbortController();
    const first = fakeDeps();
    first.deps.signal = ac.signal;
    const gate = first.deps.gate;
    first.deps.gate = async (h, ph) => {
      const g = await gate(h, ph);
      if (h.name === 'h-canary') ac.abort();
      return g;
    };
    expect(await runRollout(p, 'd1', paths, false, first.deps)).toBe(130);
    // The crash tore the last append in half.
    appendFileSync(paths.audit, '{"time":"2026-11-26T00:00:00.000Z","action":"gate","phase":"can');
    const second = fakeDeps();
    expect(await runRollout(p, 'd1', paths, true, second.deps)).toBe(0);
    expect(
      second.logs.some((l) =>
        /audit log .*audit\.log: the last line was torn by a crash and is dropped \(\d+ bytes/.test(l),
      ),
    ).toBe(true);
    const text = readFileSync(paths.audit, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const { entries, torn } = await readAudit(paths.audit);
    expect(torn).toBeUndefined();
    const actions = entries.map((e) => e.action);
    expect(actions.slice(actions.indexOf('repaired'), actions.indexOf('repaired') + 2)).toEqual(['repaired', 'resume']);
    expect(entries.find((e) => e.action === 'repaired')!.detail).toMatch(/"phase":"can/);
    expect(actions.at(-1)).toBe('complete');
    // Nothing was redeployed across the kill.
    expect(second.calls.filter((c) => c.startsWith('deploy'))).toEqual(['deploy h-fleet']);
    expect((await loadState(paths.state))!.status).toBe('complete');
  });
});
