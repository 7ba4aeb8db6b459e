import { InvalidArgumentError, Option, type Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { loadDoc } from '../model/validate.js';
import { ExitCode, HeadgateError, inputError, isHeadgateError } from '../model/errors.js';
import type { RunRecord } from '../model/types.js';

/** Parses a positive integer flag value; commander reports the flag name on failure (exit 2). */
export function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative whole number');
  return n;
}

/** Parses a positive number flag value (seconds, MiB, ...). */
export function numArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number');
  return n;
}

/** Parses a CPU list such as "1" or "2,3". */
export function cpuList(v: string): number[] {
  const cpus = v.split(',').map((s) => Number(s.trim()));
  if (cpus.length === 0 || cpus.some((c) => !Number.isInteger(c) || c < 0)) throw new InvalidArgumentError('must be CPU numbers, e.g. 1 or 2,3');
  return cpus;
}

/** Collects a repeatable flag into an array; also splits comma lists (--suite a,b). */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** Collects a repeatable flag without splitting (values may contain commas, e.g. nginx directives). */
export function collectRaw(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** The --on-inconclusive policy flag shared by gate and compare. */
export function onInconclusiveOption(): Option {
  return new Option('--on-inconclusive <policy>', 'exit code policy when the evidence is inconclusive: exit4, pass (0) or fail (1)').choices(['exit4', 'pass', 'fail']).default('exit4');
}

/** Adds the flags shared by run and gate. */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option('--target <spec>', 'target(s): local (default), ssh:[user@]host[:port], netns[:NAME], vagrant:NAME, qemu:NAME, an inventory name, group:G, tag:T, or a comma list')
    .option('--inventory <file>', 'inventory of targets and clients (default: inventory.yaml if present)')
    .option('--parallel <n>', 'with several targets: how many run at once (default 4)', intArg)
    .option('--shard <i/n>', 'run only shard i of n of the target x suite work (CI agents split a gate; `headgate merge` joins the runs)')
    .option('--client <spec>', 'run the load on these client hosts (inventory clients, local, ssh:[user@]host[:port]; repeatable or comma-separated); results merge exactly; --connections is per client', collect)
    .option('--suite <id>', 'suite to run; repeatable or comma-separated (default: all)', collect)
    .option('--variant <id>', 'variant to run; repeatable or comma-separated (default: each suite\'s default variants)', collect)
    .option('--runs <n>', 'measured repetitions per variant (default 8; --quick 6)', intArg)
    .option('--duration <sec>', 'seconds of load per repetition (default 10; --quick 2)', numArg)
    .option('--warmup <sec>', 'seconds of warm-up load per variant (default 3; --quick 1)', numArg)
    .option('--connections <n>', 'concurrent keep-alive connections (default 8)', intArg)
    .option('--rate <req/s>', 'open model: requests arrive at this fixed rate and latency counts from their due time (default: closed model)', numArg)
    .option('--quick', 'short form for smoke tests and CI')
    .option('--block-device <dev>', 'block device the io-sched suite may OVERWRITE (refused if mounted); default: a loop device it creates')
    .option('--step-timeout <sec>', 'seconds a warm-up or repetition may take beyond its load before it is an infrastructure error (default 60)', numArg)
    .option('--server-url <url>', 'use an existing HTTP(S) server that serves `headgate objects` output instead of starting nginx')
    .option('--server-workers <n>', 'nginx worker_processes (default 1)', intArg)
    .option('--server-cpus <list>', 'pin nginx workers to these CPUs, e.g. 1 or 2,3 (worker_cpu_affinity)', cpuList)
    .option('--server-directive <text>', 'extra nginx http-block directive, replacing a variant directive of the same name; repeatable', collectRaw)
    .option('--objects-mib <n>', 'total size of the object set in MiB (default 96; --quick 32)', numArg)
    .option('--cold-objects-mib <n>', 'size of the separate object set cold-cache variants read, in MiB: larger than one repetition reads (default 2048; --quick 1024)', numArg)
    .option('--seed <n>', 'seed of the object set (default 1)', intArg)
    .option('--out <dir>', 'reports directory (default: reports)')
    .option('--baselines <dir>', 'baselines directory (default: baselines)')
    .option('--profile <name>', 'profile name (default: derived from the target fingerprint)')
    .option('--config <file>', 'configuration file (default: headgate.config.{yaml,yml,json} if present)')
    .option('--json', 'print a machine-readable result on stdout')
    .option('--quiet', 'no progress output');
}

/** Flags of the comparison: adaptive repetitions and thresholds (gate, ab, bisect). */
export function addVerdictFlags(cmd: Command): Command {
  return cmd
    .option('--alpha <p>', 'false-alarm budget of the whole gate over all metrics and looks (default 0.01)', numArg)
    .option('--max-runs <n>', 'adaptive repetitions: most repetitions per variant while a comparison is undecided (default 3 x --runs)', intArg)
    .option('--adaptive-batch <n>', 'adaptive repetitions: repetitions added per look (default half of --runs, at least 2)', intArg)
    .option('--max-extra-sec <sec>', 'adaptive repetitions: most seconds of added repetitions per suite (default 900; --quick 180)', numArg)
    .option('--no-adaptive', 'one look at --runs repetitions: no added repetitions')
    .option('--min-effect <fraction>', 'smallest relative change a calibrated metric can regress by (default 0.01 = 1%)', numArg)
    .addOption(onInconclusiveOption());
}

/** Finds a run by directory, run.json path, or run id inside the reports directory. */
export function resolveRunPath(spec: string, reportsDir = 'reports'): string {
  const candidates = [spec, path.join(spec, 'run.json'), path.join(reportsDir, spec, 'run.json')];
  const file = candidates.find((c) => c.endsWith('.json') && existsSync(c));
  if (!file) throw inputError(`${spec}: no run found (looked for ${candidates.filter((c) => c.endsWith('.json')).join(', ')})`);
  return file;
}

/** Loads and validates a run record; returns it with its directory. */
export async function loadRun(spec: string, reportsDir?: string): Promise<{ run: RunRecord; runDir: string; file: string }> {
  const file = resolveRunPath(spec, reportsDir);
  const run = await loadDoc<RunRecord>('run', file);
  return { run, runDir: path.dirname(path.resolve(file)), file };
}

/**
 * Runs a command body and turns its outcome into the documented exit code. Expected errors
 * print one line naming the file, key or host; unexpected ones are reported as bugs.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number;
    try {
      code = (await fn(...args)) ?? ExitCode.Pass;
    } catch (e) {
      code = reportError(e);
    }
    process.exitCode = code;
  };
}

/** Prints an error as one line (plus a hint line) and returns its exit code. */
export function reportError(e: unknown, prefix = ''): number {
  if (isHeadgateError(e)) {
    process.stderr.write(`${prefix}headgate: ${e.message}\n`);
    if (e.hint) process.stderr.write(`${prefix}  hint: ${e.hint}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`headgate: internal error (please report): ${err?.message ?? String(e)}\n`);
  if (process.env.HEADGATE_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  return ExitCode.Infrastructure;
}

export { HeadgateError };
