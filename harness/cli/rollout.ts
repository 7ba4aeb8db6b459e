import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { resolveOptions } from '../model/options.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { ExitCode } from '../model/errors.js';
import { checkOptions } from '../engine/runner.js';
import { loadPlan, type Hook, type PlanPhase } from '../app/rollout/plan.js';
import { runRollout } from '../app/rollout/run.js';
import { loadState, rolloutPaths } from '../app/rollout/state.js';
import { resolveTargets } from '../drivers/targets/index.js';
import type { InventoryHost } from '../drivers/targets/inventory.js';
import { action, reportError } from './common.js';
import { runOnTarget, type Flags } from './run.js';

/** Runs a hook with sh -c on this machine, bounded in time; output is echoed with a prefix. */
function runHook(hook: Hook, env: Record<string, string>, signal: AbortSignal): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const c = spawn('sh', ['-c', hook.command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (b: Buffer) => {
      output += b.toString();
      for (const l of b.toString().split('\n').filter(Boolean)) process.stderr.write(`  [hook ${env.HEADGATE_HOST}] ${l}\n`);
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    const timer = setTimeout(() => c.kill('SIGTERM'), (hook.timeoutSec ?? 1800) * 1000);
    const onAbort = () => c.kill('SIGTERM');
    signal.addEventListener('abort', onAbort, { once: true });
    c.on('error', (e) => (output += e.message));
    c.on('close', (code) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve({ code: code ?? 124, output });
    });
  });
}

/** Registers `rollout PLAN`. */
export function registerRollout(program: Command): void {
  program
    .command('rollout <plan>')
    .description('deploy a build phase by phase (user deploy hook per host), gate each phase, advance only on pass; state saved after every step, every action audited')
    .option('--resume', 'continue an interrupted rollout where it stopped (never redeploys a finished host)')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--out <dir>', 'reports directory: runs, and rollouts/NAME/{state.json,audit.log}', 'reports')
    .option('--baselines <dir>', 'baselines directory', 'baselines')
    .option('--json', 'print the final state as JSON')
    .action(
      action(async (file: string, o: { resume?: boolean; inventory?: string; out: string; baselines: string; json?: boolean }) => {
        const { plan, digest } = await loadPlan(file);
        const paths = rolloutPaths(o.out, plan.name);
        const { signal, dispose } = abortOnSignals();
        try {
          const gate = async (host: InventoryHost, phase: PlanPhase) => {
            const g = plan.gate ?? {};
            const flags: Flags = {
              suite: phase.suites,
              variant: phase.variants,
              quick: g.quick,
              runs: g.runs,
              duration: g.durationSec,
              warmup: g.warmupSec,
              connections: g.connections,
              objectsMib: g.objectsMiB,
              maxRuns: g.maxRuns,
              maxExtraSec: g.maxExtraSec,
              out: o.out,
              baselines: o.baselines,
              inventory: o.inventory,
            };
            const r = resolveOptions({ schemaVersion: 1 }, flags);
            checkOptions(r.options);
            try {
              const out = await runOnTarget(host, flags, true, r, signal, `[${phase.name}/${host.name}] `);
              const c = out.record?.comparison;
              const regressed = (c?.comparisons ?? []).filter((m) => m.gating && m.verdict === 'regressed');
              const detail = regressed.length
                ? regressed.map((m) => `${m.suite}/${m.variant} ${m.metric} ${m.baselineMedian.toPrecision(3)} -> ${m.currentMedian.toPrecision(3)} ${m.unit}`).join('; ')
                : (c?.summary ?? out.record?.status ?? '');
              return { code: out.code, runId: out.record?.runId, verdict: c?.verdict ?? out.record?.status, detail };
            } catch (e) {
              const code = reportError(e, `[${phase.name}/${host.name}] `);
              return { code, verdict: 'error', detail: (e as Error).message.split('\n')[0] };
            }
          };
          const code = await runRollout(plan, digest, paths, !!o.resume, {
            resolveHosts: (spec) => resolveTargets(spec, o.inventory),
            gate,
            runHook: (hook, env) => runHook(hook, env, signal),
            log: (l) => process.stderr.write(`rollout ${plan.name}: ${l}\n`),
            signal,
          });
          const state = (await loadState(paths.state))!;
          if (o.json) process.stdout.write(JSON.stringify({ exitCode: code, state, audit: paths.audit }, null, 2) + '\n');
          else {
            for (const p of state.phases) {
              const hosts = Object.entries(p.hosts as Record<string, { verdict?: string; exitCode?: number }>).map(([h, st]) => `${h} ${st.verdict ?? '-'}`).join(', ');
              process.stdout.write(`${p.name.padEnd(10)} ${String(p.status).padEnd(8)} ${hosts}${p.stoppedBy ? `  <- stopped: ${p.stoppedBy.host} ${p.stoppedBy.verdict}: ${p.stoppedBy.detail}` : ''}\n`);
            }
            process.stdout.write(`rollout ${plan.name}: ${state.status} (exit ${code}); state ${path.relative(process.cwd(), paths.state)}, audit ${path.relative(process.cwd(), paths.audit)}\n`);
          }
          return signal.aborted ? ExitCode.Interrupted : code;
        } finally {
          dispose();
        }
      }),
    );
}
