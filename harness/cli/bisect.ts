import type { Command } from 'commander';
import Table from 'cli-table3';
import path from 'node:path';
import { BisectCode, bisectStep, runBisect, type BisectSpec, type BisectStep } from '../app/bisect.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { action, intArg, reportError } from './common.js';
import { addOptions, GROUPS, resolveCommandOptions } from './options.js';

/** Registers `bisect` and its hidden per-commit step. */
export function registerBisect(program: Command): void {
  addOptions(
    program
      .command('bisect')
      .description(
        'find the first commit that regressed: `git bisect run` in the OS source tree, building and deploying each commit with your hooks and gating it against the good commit; a commit whose build, deploy or run fails is skipped (infrastructure, not bad)',
      ),
    GROUPS.bisect,
  )
    .requiredOption('--repo <dir>', 'the OS source tree (a git checkout with a clean work tree)')
    .requiredOption('--good <ref>', 'a commit without the regression')
    .requiredOption('--bad <ref>', 'a commit with it')
    .requiredOption('--build-cmd <cmd>', 'builds the checked-out commit (sh -c in --repo; env HEADGATE_COMMIT); non-zero: skip the commit')
    .option('--deploy-cmd <cmd>', 'installs the build on the target and reboots it (sh -c in --repo); non-zero: skip the commit')
    .option('--cmd-timeout <sec>', 'deadline of each build or deploy (default 3600)', intArg, 3600)
    .option('--reference <run>', 'run to compare every commit with (default: build, deploy and run --good first)')
    .option('--repeats <n>', 'fresh gate sessions for a commit whose verdict stays inconclusive, before it is skipped (default 1)', intArg, 1)
    .action(
      action(async (o: BisectSpec, cmd: Command) => {
        const g = await resolveCommandOptions(cmd);
        const json = !!cmd.optsWithGlobals().json;
        const { signal, dispose } = abortOnSignals();
        try {
          const spec: BisectSpec = { repo: o.repo, good: o.good, bad: o.bad, buildCmd: o.buildCmd, deployCmd: o.deployCmd, cmdTimeout: o.cmdTimeout, reference: o.reference, repeats: o.repeats };
          const r = await runBisect(g, spec, { signal, quiet: !!cmd.optsWithGlobals().quiet, log: (l) => process.stderr.write(l + '\n') });
          if (json) {
            process.stdout.write(JSON.stringify(r, null, 2) + '\n');
            return r.code;
          }
          printSteps(r.steps);
          const skipped = r.steps.filter((s) => s.outcome === 'skip').length;
          if (r.firstBad) {
            process.stdout.write(`first bad commit: ${r.firstBad.commit} ${r.firstBad.subject}\n(${r.steps.length} commits tested, ${skipped} skipped, ${r.minutes.toFixed(1)} min; log ${path.relative(process.cwd(), r.log)})\n`);
          } else if (r.candidates) {
            process.stdout.write(`inconclusive: the first bad commit is one of ${r.candidates.length ? r.candidates.join(', ') : 'several skipped commits'} (their builds, deploys or verdicts failed)\n`);
          }
          return r.code;
        } finally {
          dispose();
        }
      }),
    );

  program
    .command('bisect-step', { hidden: true })
    .requiredOption('--state <file>')
    .action(async (o: { state: string }) => {
      // git bisect run reads the exit code: 0 good, 1 bad, 125 skip, >127 abort.
      const { signal, dispose } = abortOnSignals();
      try {
        process.exitCode = await bisectStep(o.state, { signal, quiet: true, log: (l) => process.stderr.write(l + '\n') });
      } catch (e) {
        reportError(e);
        process.exitCode = BisectCode.Abort;
      } finally {
        dispose();
      }
    });
}

function printSteps(steps: BisectStep[]) {
  const t = new Table({ head: ['commit', 'subject', 'outcome', 'why', 'runs'], style: { head: [], border: [] }, colWidths: [14, 30, 9, 60, 26], wordWrap: true });
  for (const s of steps) t.push([s.commit.slice(0, 12), s.subject, s.outcome, s.reason, s.runIds.join(' ')]);
  process.stdout.write(t.toString() + '\n');
}
