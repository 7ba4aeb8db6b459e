import type { Command } from 'commander';
import Table from 'cli-table3';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../lib/atomic.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { runAsReference } from '../verdict/compare.js';
import { ExitCode, infraError, inputError, isHeadgateError } from '../model/errors.js';
import { newRunId } from '../engine/runner.js';
import type { RunRecord } from '../model/types.js';
import { resolveTargets } from '../drivers/targets/index.js';
import { action, addRunFlags, addVerdictFlags, intArg, loadRun, reportError } from './common.js';
import { resolveRun, runOnTarget, type Flags } from './run.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** git bisect run's reading of a step's exit code. */
export const BisectCode = { Good: 0, Bad: 1, Skip: 125, Abort: 255 } as const;

/** What the step processes share with the bisect command (written before `git bisect run`). */
interface BisectState {
  /** The directory headgate was started in: relative flags (--out, --config) resolve from it. */
  cwd: string;
  repo: string;
  buildCmd: string;
  deployCmd?: string;
  cmdTimeoutSec: number;
  referenceRun: string;
  log: string;
  repeats: number;
  flags: Flags;
}

/** One tested commit, as the step logs it (JSON lines). */
export interface BisectStep {
  commit: string;
  subject: string;
  outcome: 'good' | 'bad' | 'skip';
  reason: string;
  runIds: string[];
  at: string;
}

type BisectFlags = Flags & { repo: string; good: string; bad: string; buildCmd: string; deployCmd?: string; cmdTimeout: number; reference?: string; repeats: number };

/** Runs a command, returning exit code and output (never throws on a non-zero exit). */
function exec(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutSec?: number; echo?: boolean } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (d: Buffer) => {
      out += d.toString();
      if (opts.echo) process.stderr.write(d);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    const timer = opts.timeoutSec ? setTimeout(() => p.kill('SIGKILL'), opts.timeoutSec * 1000) : null;
    p.on('error', reject);
    p.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 + 9 : 1), out });
    });
  });
}

const git = (repo: string, ...args: string[]) => exec('git', ['-C', repo, ...args]);

/** Runs a user hook (build or deploy) at the checked-out commit; false when it fails. */
async function hook(kind: string, cmd: string, repo: string, commit: string, timeoutSec: number): Promise<{ ok: boolean; detail: string }> {
  process.stderr.write(`bisect: ${kind} ${commit.slice(0, 12)}: ${cmd}\n`);
  const r = await exec('sh', ['-c', cmd], { cwd: repo, env: { ...process.env, HEADGATE_COMMIT: commit, HEADGATE_REPO: repo }, timeoutSec, echo: true });
  const last = r.out.trim().split('\n').at(-1) ?? '';
  return { ok: r.code === 0, detail: r.code === 0 ? '' : `${kind} failed (exit ${r.code}${r.code === 137 ? ', timed out' : ''})${last ? `: ${last.slice(0, 200)}` : ''}` };
}

/** Registers `bisect` and its hidden per-commit step. */
export function registerBisect(program: Command): void {
  addVerdictFlags(
    addRunFlags(
      program
        .command('bisect')
        .description(
          'find the first commit that regressed: `git bisect run` in the OS source tree, building and deploying each commit with your hooks and gating it against the good commit; a commit whose build, deploy or run fails is skipped (infrastructure, not bad)',
        ),
    ),
  )
    .requiredOption('--repo <dir>', 'the OS source tree (a git checkout with a clean work tree)')
    .requiredOption('--good <ref>', 'a commit without the regression')
    .requiredOption('--bad <ref>', 'a commit with it')
    .requiredOption('--build-cmd <cmd>', 'builds the checked-out commit (sh -c in --repo; env HEADGATE_COMMIT); non-zero: skip the commit')
    .option('--deploy-cmd <cmd>', 'installs the build on the target and reboots it (sh -c in --repo); non-zero: skip the commit')
    .option('--cmd-timeout <sec>', 'deadline of each build or deploy (default 3600)', intArg, 3600)
    .option('--reference <run>', 'run to compare every commit with (default: build, deploy and run --good first)')
    .option('--repeats <n>', 'fresh gate sessions for a commit whose verdict stays inconclusive, before it is skipped (default 1)', intArg, 1)
    .action(action((flags: BisectFlags) => runBisect(flags)));

  program
    .command('bisect-step', { hidden: true })
    .requiredOption('--state <file>')
    .action(async (o: { state: string }) => {
      // git bisect run reads the exit code: 0 good, 1 bad, 125 skip, >127 abort.
      try {
        process.exitCode = await bisectStep(o.state);
      } catch (e) {
        reportError(e);
        process.exitCode = BisectCode.Abort;
      }
    });
}

async function runBisect(f: BisectFlags): Promise<number> {
  const repo = path.resolve(f.repo);
  if (!existsSync(repo) || (await git(repo, 'rev-parse', '--git-dir')).code !== 0) throw inputError(`--repo ${f.repo}: not a git checkout`);
  const sha = async (ref: string, flag: string) => {
    const r = await git(repo, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
    if (r.code !== 0) throw inputError(`${flag} ${ref}: no such commit in ${f.repo}`);
    return r.out.trim();
  };
  const good = await sha(f.good, '--good');
  const bad = await sha(f.bad, '--bad');
  if ((await git(repo, 'merge-base', '--is-ancestor', good, bad)).code !== 0) throw inputError(`--good ${f.good} is not an ancestor of --bad ${f.bad}`);
  if ((await git(repo, 'status', '--porcelain', '--untracked-files=no')).out.trim()) throw inputError(`--repo ${f.repo}: the work tree has changes; bisect checks out commits, so commit or stash them first`);
  const bisectStart = (await git(repo, 'rev-parse', '--git-path', 'BISECT_START')).out.trim();
  if (existsSync(path.resolve(repo, bisectStart))) throw inputError(`--repo ${f.repo}: a bisection is already in progress (git bisect reset to end it)`);
  const r = await resolveRun(f);
  const hosts = await resolveTargets(r.settings.target, f.inventory ?? r.settings.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${r.settings.target}: bisect gates one target (got ${hosts.length})`);
  const original = (await git(repo, 'symbolic-ref', '--quiet', '--short', 'HEAD')).out.trim() || (await git(repo, 'rev-parse', 'HEAD')).out.trim();
  const id = newRunId();
  const stateFile = path.resolve(r.settings.reportsDir, `bisect-${id}.json`);
  const log = path.resolve(r.settings.reportsDir, `bisect-${id}.jsonl`);
  const { signal, dispose } = abortOnSignals();
  const t0 = Date.now();
  let started = false;
  try {
    // The reference: the good commit measured now, on this target, with these options.
    let referenceRun = f.reference;
    if (!referenceRun) {
      await git(repo, 'checkout', '--quiet', '--detach', good);
      for (const [kind, cmd] of [['build', f.buildCmd], ['deploy', f.deployCmd]] as const) {
        if (!cmd) continue;
        const h = await hook(kind, cmd, repo, good, f.cmdTimeout);
        if (!h.ok) throw infraError(`--good ${f.good}: ${h.detail}; the reference cannot be measured`);
      }
      process.stderr.write(`bisect: measuring the good commit ${good.slice(0, 12)} as the reference\n`);
      const out = await runOnTarget(hosts[0], { ...f, quiet: f.quiet }, false, r, signal, '[good] ');
      if (out.code !== ExitCode.Pass || !out.runDir) throw infraError(`--good ${f.good}: the reference run failed (exit ${out.code})`);
      referenceRun = out.runDir;
    }
    await loadRun(referenceRun, r.settings.reportsDir); // fails early (exit 2) on a bad --reference
    const state: BisectState = { cwd: process.cwd(), repo, buildCmd: f.buildCmd, deployCmd: f.deployCmd, cmdTimeoutSec: f.cmdTimeout, referenceRun: path.resolve(referenceRun), log, repeats: f.repeats, flags: { ...f, quiet: true } };
    await writeJsonAtomic(stateFile, state);
    if ((await git(repo, 'bisect', 'start', bad, good)).code !== 0) throw infraError(`git bisect start ${f.bad} ${f.good} failed in ${f.repo}`);
    started = true;
    const run = await exec('git', ['-C', repo, 'bisect', 'run', process.execPath, path.join(ROOT, 'bin', 'headgate.js'), 'bisect-step', '--state', stateFile], { echo: true });
    if (signal.aborted) return ExitCode.Interrupted;
    const steps = await readSteps(log);
    printSteps(steps);
    const first = /^([0-9a-f]{40}) is the first bad commit/m.exec(run.out)?.[1];
    const minutes = ((Date.now() - t0) / 60000).toFixed(1);
    if (first) {
      const subject = (await git(repo, 'log', '-1', '--format=%s', first)).out.trim();
      process.stdout.write(`first bad commit: ${first} ${subject}\n(${steps.length} commits tested, ${steps.filter((s) => s.outcome === 'skip').length} skipped, ${minutes} min; log ${path.relative(process.cwd(), log)})\n`);
      return ExitCode.Pass;
    }
    if (/only 'skip'ped commits left/.test(run.out)) {
      const cands = [...run.out.matchAll(/^([0-9a-f]{40})$/gm)].map((m) => m[1]);
      process.stdout.write(`inconclusive: the first bad commit is one of ${cands.length ? cands.join(', ') : 'several skipped commits'} (their builds, deploys or verdicts failed)\n`);
      return ExitCode.Inconclusive;
    }
    throw infraError(`git bisect run ended without a first bad commit: ${run.out.trim().split('\n').slice(-2).join(' / ')}`);
  } finally {
    dispose();
    // Back to where the tree was, whatever happened; say so if git would not.
    const reset = started ? await git(repo, 'bisect', 'reset', original) : await git(repo, 'checkout', '--quiet', original);
    if (reset.code !== 0) process.stderr.write(`bisect: warning: could not return ${f.repo} to ${original}: ${reset.out.trim().split('\n').at(-1)}\n`);
    else process.stderr.write(`bisect: ${f.repo} back at ${original}; the target still runs the last commit deployed\n`);
  }
}

/** One commit: build, deploy, gate against the reference; the exit code tells git bisect what it is. */
async function bisectStep(stateFile: string): Promise<number> {
  const st = JSON.parse(await readFile(stateFile, 'utf8')) as BisectState;
  // git bisect run starts us in the OS tree; the user's relative paths are from where bisect began.
  process.chdir(st.cwd);
  const commit = (await git(st.repo, 'rev-parse', 'HEAD')).out.trim();
  const subject = (await git(st.repo, 'log', '-1', '--format=%s', commit)).out.trim();
  const record = async (outcome: BisectStep['outcome'], reason: string, runIds: string[] = []) => {
    const step: BisectStep = { commit, subject, outcome, reason, runIds, at: new Date().toISOString() };
    await appendFile(st.log, JSON.stringify(step) + '\n');
    process.stderr.write(`bisect: ${commit.slice(0, 12)} ${subject}: ${outcome.toUpperCase()} (${reason})\n`);
    return outcome === 'good' ? BisectCode.Good : outcome === 'bad' ? BisectCode.Bad : BisectCode.Skip;
  };
  for (const [kind, cmd] of [['build', st.buildCmd], ['deploy', st.deployCmd]] as const) {
    if (!cmd) continue;
    const h = await hook(kind, cmd, st.repo, commit, st.cmdTimeoutSec);
    if (!h.ok) return record('skip', h.detail);
  }
  const { run: ref } = await loadRun(st.referenceRun);
  const r = await resolveRun(st.flags);
  const [host] = await resolveTargets(r.settings.target, st.flags.inventory ?? r.settings.inventory);
  const { signal, dispose } = abortOnSignals();
  const runIds: string[] = [];
  try {
    for (let attempt = 0; attempt <= st.repeats; attempt++) {
      let out: Awaited<ReturnType<typeof runOnTarget>>;
      try {
        out = await runOnTarget(host, st.flags, true, r, signal, '', { reference: runAsReference(ref as RunRecord), recordHistory: false });
      } catch (e) {
        if (isHeadgateError(e) && e.kind === 'input') throw e;
        return record('skip', `gate failed: ${(e as Error).message.split('\n')[0]}`, runIds);
      }
      if (out.record) runIds.push(out.record.runId);
      const c = out.record?.comparison;
      if (out.code === ExitCode.Pass) return record('good', c?.summary ?? 'pass', runIds);
      if (out.code === ExitCode.Regression) return record('bad', c?.summary ?? 'regression', runIds);
      if (out.code === ExitCode.Infrastructure) return record('skip', `infrastructure: ${c?.summary ?? 'run failed'}`, runIds);
      if (out.code !== ExitCode.Inconclusive) return BisectCode.Abort;
      process.stderr.write(`bisect: ${commit.slice(0, 12)} inconclusive${attempt < st.repeats ? ': another session' : ''}\n`);
    }
    return record('skip', `inconclusive after ${st.repeats + 1} sessions`, runIds);
  } finally {
    dispose();
  }
}

async function readSteps(log: string): Promise<BisectStep[]> {
  if (!existsSync(log)) return [];
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as BisectStep);
}

function printSteps(steps: BisectStep[]) {
  const t = new Table({ head: ['commit', 'subject', 'outcome', 'why', 'runs'], style: { head: [], border: [] }, colWidths: [14, 30, 9, 60, 26], wordWrap: true });
  for (const s of steps) t.push([s.commit.slice(0, 12), s.subject, s.outcome, s.reason, s.runIds.join(' ')]);
  process.stdout.write(t.toString() + '\n');
}
