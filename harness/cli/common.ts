import { InvalidArgumentError, type Command } from 'commander';
import { ExitCode, HeadgateError, isHeadgateError } from '../model/errors.js';

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

/** The output flags every command takes (main.ts adds them): --json, --quiet, --no-color / NO_COLOR. */
export function output(cmd: Command): { json: boolean; quiet: boolean } {
  const o = cmd.optsWithGlobals();
  return { json: !!o.json, quiet: !!o.quiet };
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

/** The options of commands that take targets' machine locks (restore, locked): which targets, the inventory, how long to wait for a lock. */
export function targetLockOptions(cmd: Command, targetHelp: string): Command {
  return cmd
    .option('--target <spec>', targetHelp, 'local')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--wait-lock <sec>', 'wait this long for a target another run holds', (v) => Number(v), 0);
}
