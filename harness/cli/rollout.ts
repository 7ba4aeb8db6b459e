import type { Command } from 'commander';
import path from 'node:path';
import { openRollout, runRolloutPlan } from '../app/rollout/start.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { ExitCode } from '../model/errors.js';
import { action, output, reportError } from './common.js';
import { addOptions, givenFlags, loadConfigFile } from './options.js';

/** Registers `rollout PLAN`. */
export function registerRollout(program: Command): void {
  addOptions(
    program
      .command('rollout <plan>')
      .description('deploy a build phase by phase (user deploy hook per host), gate each phase, advance only on pass; state saved after every step, every action audited'),
    [],
    ['inventory', 'out', 'baselines'],
  )
    .option('--resume', 'continue an interrupted rollout where it stopped (never redeploys a finished host)')
    .action(
      action(async (file: string, o: { resume?: boolean }, cmd: Command) => {
        const { json, quiet } = output(cmd);
        const cfg = await loadConfigFile(cmd.opts().config as string | undefined);
        // Sources every phase's gate shares; the plan's gate block and the phase's suites come on top.
        const base = { config: cfg && { file: cfg.file, values: cfg.values }, env: process.env, flags: givenFlags(cmd) };
        const log = (l: string) => process.stderr.write(l + '\n');
        const rollout = await openRollout(file, base, log);
        const { plan, paths } = rollout;
        const { signal, dispose } = abortOnSignals();
        const ctx = { signal, quiet, log };
        try {
          const { code, state } = await runRolloutPlan(rollout, !!o.resume, ctx, reportError);
          if (json) process.stdout.write(JSON.stringify({ exitCode: code, state, audit: paths.audit }, null, 2) + '\n');
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
