import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveTargets } from '../drivers/targets/index.js';
import { newRunId } from '../engine/runner.js';
import { writeJsonAtomic } from '../lib/atomic.js';
import { appendJsonLine, readJsonLines } from '../lib/jsonl.js';
import { runCommand, runShellHook } from '../lib/exec.js';
import { ExitCode, infraError, inputError, isHeadgateError } from '../model/errors.js';
import type { GateOptions } from '../model/options.js';
import type { RunRecord } from '../model/types.js';
import { loadRunRecord } from '../store/runs.js';
import { runAsReference } from '../verdict/compare.js';
import type { AppContext } from './common.js';
import { gateOnTarget, preflight, type TargetOutcome } from './gate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** git bisect run's reading of a step's exit code. */
export const BisectCode = { Good: 0, Bad: 1, Skip: 125, Abort: 255 } as const;

/** What a bisection needs besides the run options. */
export interface BisectSpec {
  repo: string;
  good: string;
  bad: string;
  buildCmd: string;
  deployCmd?: string;
  /** Deadline of each build or deploy, seconds. */
  cmdTimeout: number;
  /** A run to compare every commit with (default: the good commit, measured first). */
  reference?: string;
  /** Fresh gate sessions for a commit that stays inconclusive, before it is skipped. */
  repeats: number;
}

/** What the step processes share with the bisect command (written before `git bisect run`). */
interface BisectState {
  /** The directory headgate was started in: relative paths (--out, --config) resolve from it. */
  cwd: string;
  repo: string;
  buildCmd: string;
  deployCmd?: string;
  cmdTimeoutSec: number;
  referenceRun: string;
  log: string;
  repeats: number;
  /** The resolved run options: a step gates with exactly these, nothing is resolved again. */
  options: GateOptions;
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

/** How a bisection ended. */
export interface BisectResult {
  code: number;
  steps: BisectStep[];
  firstBad?: { commit: string; subject: string };
  candidates?: string[];
  minutes: number;
  log: string;
}

async function git(repo: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const r = await runCommand(['git', '-C', repo, ...args]);
  return { code: r.code ?? 128, out: r.stdout + r.stderr };
}

/** Runs a user hook (build or deploy) at the checked-out commit, in its own process group; false when it fails. */
async function hook(kind: string, cmd: string, repo: string, commit: string, timeoutSec: number, ctx: AppContext): Promise<{ ok: boolean; detail: string }> {
  ctx.log(`bisect: ${kind} ${commit.slice(0, 12)}: ${cmd}`);
  const r = await runShellHook(cmd, { cwd: repo, env: { HEADGATE_COMMIT: commit, HEADGATE_REPO: repo }, timeoutMs: timeoutSec * 1000, signal: ctx.signal, onOutput: (t) => process.stderr.write(t) });
  const code = r.code ?? (r.timedOut ? 137 : 128);
  const last = (r.stdout + r.stderr).trim().split('\n').at(-1) ?? '';
  return { ok: code === 0, detail: code === 0 ? '' : `${kind} failed (exit ${code}${r.timedOut ? ', timed out' : ''})${last ? `: ${last.slice(0, 200)}` : ''}` };
}

/** Finds the first commit that regressed with `git bisect run`, gating each commit against the good one. */
export async function runBisect(g: GateOptions, f: BisectSpec, ctx: AppContext): Promise<BisectResult> {
  await preflight(g);
  const repo = path.resolve(f.repo);
  if (!existsSync(repo) || (await git(repo, 'rev-parse', '--git-dir')).code !== 0) throw inputError(`--repo ${f.repo}: not a git checkout`);
  const sha = async (ref: string, flag: string) => {
    if (ref.startsWith('-')) throw inputError(`${flag} ${ref}: not a commit`);
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
  const hosts = await resolveTargets(g.target, g.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${g.target}: bisect gates one target (got ${hosts.length})`);
  const original = (await git(repo, 'symbolic-ref', '--quiet', '--short', 'HEAD')).out.trim() || (await git(repo, 'rev-parse', 'HEAD')).out.trim();
  const id = newRunId();
  const stateFile = path.resolve(g.out, `bisect-${id}.json`);
  const log = path.resolve(g.out, `bisect-${id}.jsonl`);
  const t0 = Date.now();
  let started = false;
  try {
    // The reference: the good commit measured now, on this target, with these options.
    let referenceRun = f.reference;
    if (!referenceRun) {
      await git(repo, 'checkout', '--quiet', '--detach', good);
      for (const [kind, cmd] of [['build', f.buildCmd], ['deploy', f.deployCmd]] as const) {
        if (!cmd) continue;
        const h = await hook(kind, cmd, repo, good, f.cmdTimeout, ctx);
        if (!h.ok) throw infraError(`--good ${f.good}: ${h.detail}; the reference cannot be measured`);
      }
      ctx.log(`bisect: measuring the good commit ${good.slice(0, 12)} as the reference`);
      const out = await gateOnTarget(hosts[0], g, { gate: false }, ctx, '[good] ');
      if (out.code !== ExitCode.Pass || !out.runDir) throw infraError(`--good ${f.good}: the reference run failed (exit ${out.code})`);
      referenceRun = out.runDir;
    }
    await loadRunRecord(referenceRun, g.out); // fails early (exit 2) on a bad --reference
    const state: BisectState = { cwd: process.cwd(), repo, buildCmd: f.buildCmd, deployCmd: f.deployCmd, cmdTimeoutSec: f.cmdTimeout, referenceRun: path.resolve(referenceRun), log, repeats: f.repeats, options: g };
    await writeJsonAtomic(stateFile, state);
    if ((await git(repo, 'bisect', 'start', bad, good)).code !== 0) throw infraError(`git bisect start ${f.bad} ${f.good} failed in ${f.repo}`);
    started = true;
    const run = await runCommand(['git', '-C', repo, 'bisect', 'run', process.execPath, path.join(ROOT, 'bin', 'headgate.js'), 'bisect-step', '--state', stateFile], { signal: ctx.signal, onOutput: (t) => process.stderr.write(t) });
    const out = run.stdout + run.stderr;
    const steps = await readSteps(log, ctx.log);
    const minutes = (Date.now() - t0) / 60000;
    if (ctx.signal.aborted) return { code: ExitCode.Interrupted, steps, minutes, log };
    const first = /^([0-9a-f]{40}) is the first bad commit/m.exec(out)?.[1];
    if (first) {
      const subject = (await git(repo, 'log', '-1', '--format=%s', first)).out.trim();
      return { code: ExitCode.Pass, steps, firstBad: { commit: first, subject }, minutes, log };
    }
    if (/only 'skip'ped commits left/.test(out)) {
      return { code: ExitCode.Inconclusive, steps, candidates: [...out.matchAll(/^([0-9a-f]{40})$/gm)].map((m) => m[1]), minutes, log };
    }
    throw infraError(`git bisect run ended without a first bad commit: ${out.trim().split('\n').slice(-2).join(' / ')}`);
  } finally {
    // Back to where the tree was, whatever happened; say so if git would not.
    const reset = started ? await git(repo, 'bisect', 'reset', original) : await git(repo, 'checkout', '--quiet', original);
    if (reset.code !== 0) ctx.log(`bisect: warning: could not return ${f.repo} to ${original}: ${reset.out.trim().split('\n').at(-1)}`);
    else ctx.log(`bisect: ${f.repo} back at ${original}; the target still runs the last commit deployed`);
  }
}

/** One commit: build, deploy, gate against the reference; the exit code tells git bisect what it is. */
export async function bisectStep(stateFile: string, ctx: AppContext): Promise<number> {
  const st = JSON.parse(await readFile(stateFile, 'utf8')) as BisectState;
  // git bisect run starts us in the OS tree; the user's relative paths are from where bisect began.
  process.chdir(st.cwd);
  const commit = (await git(st.repo, 'rev-parse', 'HEAD')).out.trim();
  const subject = (await git(st.repo, 'log', '-1', '--format=%s', commit)).out.trim();
  const record = async (outcome: BisectStep['outcome'], reason: string, runIds: string[] = []) => {
    const step: BisectStep = { commit, subject, outcome, reason, runIds, at: new Date().toISOString() };
    // fsynced; a line torn by an earlier crash is cut off first, and said.
    const { repaired } = await appendJsonLine(st.log, step);
    if (repaired !== null) ctx.log(`bisect: ${st.log}: dropped a torn last line (${repaired.length} bytes) left by a crash`);
    ctx.log(`bisect: ${commit.slice(0, 12)} ${subject}: ${outcome.toUpperCase()} (${reason})`);
    return outcome === 'good' ? BisectCode.Good : outcome === 'bad' ? BisectCode.Bad : BisectCode.Skip;
  };
  for (const [kind, cmd] of [['build', st.buildCmd], ['deploy', st.deployCmd]] as const) {
    if (!cmd) continue;
    const h = await hook(kind, cmd, st.repo, commit, st.cmdTimeoutSec, ctx);
    if (!h.ok) return record('skip', h.detail);
  }
  const { run: ref } = await loadRunRecord(st.referenceRun);
  const g = st.options;
  const [host] = await resolveTargets(g.target, g.inventory);
  const runIds: string[] = [];
  for (let attempt = 0; attempt <= st.repeats; attempt++) {
    let out: TargetOutcome;
    try {
      out = await gateOnTarget(host, g, { gate: true }, ctx, '', { reference: runAsReference(ref as RunRecord), recordHistory: false });
    } catch (e) {
      if (isHeadgateError(e) && e.kind === 'input') throw e;
      // A kernel that lost hardware before any load (a pinned machine's CPUs) is bad, not undecided.
      if (isHeadgateError(e) && e.kind === 'regression') return record('bad', e.message.split('\n')[0], runIds);
      return record('skip', `gate failed: ${(e as Error).message.split('\n')[0]}`, runIds);
    }
    if (out.record) runIds.push(out.record.runId);
    const c = out.record?.comparison;
    // Decided by the verdict, not the exit code: --on-inconclusive pass (or HEADGATE_ON_INCONCLUSIVE)
    // turns an undecided gate into exit 0, and an undecided step must never be "good".
    if (c?.verdict === 'pass') return record('good', c.summary, runIds);
    if (c?.verdict === 'fail' || out.code === ExitCode.Regression) return record('bad', c?.summary ?? 'regression', runIds);
    if (c?.verdict === 'inconclusive') {
      ctx.log(`bisect: ${commit.slice(0, 12)} inconclusive (${c.summary})${attempt < st.repeats ? ': another session' : ''}`);
      continue;
    }
    if (out.code === ExitCode.Infrastructure) return record('skip', `infrastructure: ${c?.summary ?? 'run failed'}`, runIds);
    if (out.code !== ExitCode.Inconclusive) return BisectCode.Abort;
    ctx.log(`bisect: ${commit.slice(0, 12)} inconclusive${attempt < st.repeats ? ': another session' : ''}`);
  }
  return record('skip', `inconclusive after ${st.repeats + 1} sessions`, runIds);
}

/** The steps logged so far; a torn last line (a step killed while it wrote) is skipped and said. */
export async function readSteps(log: string, say: (l: string) => void): Promise<BisectStep[]> {
  const { entries, torn } = await readJsonLines<BisectStep>(log);
  if (torn !== undefined) say(`bisect: ${log}: skipped a torn last line (${torn.length} bytes) left by a crash`);
  return entries;
}
