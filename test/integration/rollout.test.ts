import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { createLab, type NetnsLab } from '../../harness/drivers/net/lab.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { cli, ROOT, startCli } from '../helpers/cli.js';

// A four-phase rollout over four hosts in network namespaces, reached by ssh, with a deploy hook
// that switches each host's build; the "v2-slow" build really slows the canary's NIC.
const PHASES = [
  ['lab', 'h-lab'],
  ['canary', 'h-canary'],
  ['1pct', 'h-1pct'],
  ['fleet', 'h-fleet'],
] as const;
// One look per gate (maxRuns = runs): these tests are about phases, not statistical power.
const GATE = { quick: true, runs: 6, durationSec: 1, warmupSec: 0, connections: 4, objectsMiB: 8, maxRuns: 6 };
const stack = new CleanupStack();
let work: string;
let inv: string;
let env: Record<string, string>;
const labs = new Map<string, NetnsLab>();

const lines = async (f: string) => ((await readFile(f, 'utf8').catch(() => '')) as string).trim().split('\n').filter(Boolean);
const auditOf = async (f: string) => (await lines(f)).map((l) => JSON.parse(l) as { action: string; phase?: string; host?: string; detail?: string });

/**
 * A plan over the four phases. The lab phase is informational (only infrastructure blocks), the
 * others block on `block`. How often a gate cries wolf is the verdict-quality issue's subject;
 * these tests are about the rollout's mechanics, so a plan can block on infrastructure only.
 */
async function planFile(name: string, build: string, block: string[] = ['regression', 'inconclusive', 'infrastructure']): Promise<string> {
  const f = path.join(work, `${name}.yaml`);
  const fixtures = path.join(ROOT, 'test', 'fixtures', 'rollout');
  await writeFile(
    f,
    stringify({
      schemaVersion: 1,
      name,
      build,
      deploy: { command: `${fixtures}/deploy.sh`, timeoutSec: 60 },
      rollback: { command: `${fixtures}/rollback.sh`, timeoutSec: 60 },
      gate: GATE,
      phases: PHASES.map(([phase]) => ({
        name: phase,
        targets: `group:${phase}`,
        suites: ['sendfile'],
        variants: ['boxart-sendfile-on'],
        policy: { block: phase === 'lab' ? ['infrastructure'] : block },
      })),
    }),
  );
  return f;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hg-rollout-'));
  const targets = [];
  const hosts: string[] = [];
  for (const [phase, name] of PHASES) {
    const lab = await createLab(new LocalTarget(), { dir: path.join(work, `lab-${name}`), sshd: true }, stack);
    labs.set(name, lab);
    targets.push({ name, kind: 'ssh', host: lab.serverAddress, user: 'root', identityFile: lab.ssh!.identityFile, knownHostsFile: lab.ssh!.knownHostsFile, workDir: path.join(work, `remote-${name}`), groups: [phase] });
    hosts.push(`${name} ${lab.serverNs} ${phase === 'canary' ? 'affected' : 'fine'}`);
  }
  inv = path.join(work, 'inventory.json');
  await writeFile(inv, JSON.stringify({ schemaVersion: 1, targets }));
  await writeFile(path.join(work, 'hosts'), hosts.join('\n') + '\n');
  env = { HG_HOSTS: path.join(work, 'hosts'), HG_DEPLOYS: path.join(work, 'deploys'), HG_ROLLBACKS: path.join(work, 'rollbacks') };
  // The reviewed baseline: the current build, gated on the lab host with the plan's settings.
  const base = await cli(['gate', '--inventory', inv, '--target', 'h-lab', '--suite', 'sendfile', '--variant', 'boxart-sendfile-on', '--quick', '--runs', '6', '--duration', '1', '--warmup', '0', '--connections', '4', '--objects-mib', '8', '--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines'), '--json']);
  if (base.code !== 0) throw new Error(`baseline gate failed: ${base.stderr}`);
  const p = await cli(['baseline', 'promote', JSON.parse(base.stdout).runDir, '--reason', 'v1 on the lab', '--baselines', path.join(work, 'baselines')]);
  if (p.code !== 0) throw new Error(`promote failed: ${p.stderr}`);
}, 300_000);

afterAll(async () => {
  await stack.unwind();
  await rm(work, { recursive: true, force: true });
});

const rollout = (plan: string, extra: string[] = []) => ['rollout', plan, '--inventory', inv, '--out', path.join(work, 'reports'), '--baselines', path.join(work, 'baselines'), ...extra];

describe('headgate rollout', () => {
  it('a regression at the canary stops the rollout there, rolls the canary back, and never touches later phases', async () => {
    const plan = await planFile('v2-slow-rollout', 'v2-slow');
    const r = await cli([...rollout(plan), '--json'], env);
    expect(r.code, r.stderr).toBe(1);
    const { state, audit } = JSON.parse(r.stdout);
    expect(state.phases.map((p: { status: string }) => p.status)).toEqual(['passed', 'stopped', 'pending', 'pending']);
    expect(state.phases[1].stoppedBy).toMatchObject({ host: 'h-canary', verdict: 'fail', exitCode: 1 });
    expect(state.phases[1].stoppedBy.detail).toMatch(/sendfile\/boxart-sendfile-on throughput_gbps .* -> .* Gb\/s/);
    process.stderr.write(`canary stopped the rollout: ${state.phases[1].stoppedBy.detail}\n`);
    expect(await lines(env.HG_DEPLOYS)).toEqual(['lab h-lab v2-slow', 'canary h-canary v2-slow']);
    expect(await lines(env.HG_ROLLBACKS)).toEqual(['canary h-canary']);
    const log = await auditOf(audit);
    expect(log.some((e) => e.host === 'h-1pct' || e.host === 'h-fleet')).toBe(false);
    expect(log.map((e) => e.action)).toEqual(['start', 'deploy', 'deployed', 'gate', 'gated', 'phase-passed', 'deploy', 'deployed', 'gate', 'gated', 'rollback', 'rolled-back', 'stopped']);
    // The rollback really removed the canary's limit.
    expect(execFileSync('ip', ['netns', 'exec', labs.get('h-canary')!.serverNs, 'tc', 'qdisc', 'show'], { encoding: 'utf8' })).not.toMatch(/tbf/);
    // A stopped rollout does not resume.
    const again = await cli([...rollout(plan), '--resume'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/rollout v2-slow-rollout is stopped at phase canary: nothing to resume/);
  }, 600_000);

  it('--resume after a kill in the middle of a phase completes without redeploying finished hosts', async () => {
    await rm(env.HG_DEPLOYS, { force: true });
    const plan = await planFile('v2-rollout', 'v2', ['infrastructure']);
    const auditFile = path.join(work, 'reports', 'rollouts', 'v2-rollout', 'audit.log');
    const run = startCli(rollout(plan), env);
    // Kill it while phase 1pct is being gated: its host is deployed, its verdict not yet in.
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      if ((await auditOf(auditFile)).some((e) => e.action === 'gate' && e.phase === '1pct')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1500));
    run.child.kill('SIGKILL');
    const killed = await run.done;
    const before = await auditOf(auditFile);
    expect(before.at(-1)!.action, JSON.stringify(before, null, 1) + killed.stderr.slice(-3000)).toBe('gate');
    expect(existsSync(path.join(work, 'reports', 'rollouts', 'v2-rollout', 'state.json'))).toBe(true);

    const r = await cli([...rollout(plan, ['--resume']), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const { state } = JSON.parse(r.stdout);
    expect(state.status).toBe('complete');
    expect(state.phases.every((p: { status: string }) => p.status === 'passed')).toBe(true);
    // Every host was deployed exactly once, across the kill.
    expect((await lines(env.HG_DEPLOYS)).sort()).toEqual(['1pct h-1pct v2', 'canary h-canary v2', 'fleet h-fleet v2', 'lab h-lab v2']);
    const after = await auditOf(auditFile);
    expect(after.filter((e) => e.action === 'resume')).toHaveLength(1);
    expect(after.filter((e) => e.action === 'deploy' && e.host === 'h-1pct')).toHaveLength(1);
    expect(r.stderr).toMatch(/phase lab: passed earlier, skipped/);
    expect(r.stderr).toMatch(/phase 1pct: h-1pct already runs v2, not redeployed/);
  }, 600_000);

  it('an invalid plan is exit 2 naming the file and the key', async () => {
    const bad = path.join(work, 'bad.yaml');
    await writeFile(bad, 'schemaVersion: 1\nname: x\nbuild: v\ndeploy: {command: "true"}\nphases:\n  - {name: lab, target: group:lab}\n');
    const r = await cli(['rollout', bad, '--out', path.join(work, 'reports')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: invalid rollout: /phases/0/targets: required key missing; /phases/0/target: unknown key`);
  });
});
