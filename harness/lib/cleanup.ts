import { describeError } from '../model/errors.js';

type Undo = { label: string; fn: () => Promise<void> | void };

/**
 * A LIFO stack of undo actions (restore a knob, stop a server, remove a temp dir).
 * unwind() runs every action in reverse order even if some fail, and reports failures
 * instead of throwing, so one broken restore never prevents the others.
 */
export class CleanupStack {
  private stack: Undo[] = [];
  private unwinding = false;

  /** Registers an undo action; it runs before the ones registered earlier. */
  push(label: string, fn: () => Promise<void> | void): void {
    this.stack.push({ label, fn });
  }

  /** Number of pending undo actions. */
  get size(): number {
    return this.stack.length;
  }

  /** Runs all pending actions in reverse order; returns the ones that failed. */
  async unwind(log: (line: string) => void = () => {}): Promise<string[]> {
    if (this.unwinding) return [];
    this.unwinding = true;
    const failures: string[] = [];
    try {
      while (this.stack.length > 0) {
        const { label, fn } = this.stack.pop()!;
        try {
          await fn();
          log(`restored: ${label}`);
        } catch (e) {
          failures.push(`${label}: ${describeError(e)}`);
          log(`FAILED to restore: ${label}: ${describeError(e)}`);
        }
      }
    } finally {
      this.unwinding = false;
    }
    return failures;
  }
}

/**
 * Turns SIGINT/SIGTERM/SIGHUP (a dropped terminal or ssh session) into an AbortSignal for the current command, so long work stops at the
 * next step and the cleanup stack still runs. A second signal is reported but still waits
 * for restores: leaving knobs changed on a target is worse than a slow exit.
 */
export function abortOnSignals(onSecond?: () => void): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count += 1;
    if (count === 1) {
      // After SIGHUP the terminal may be gone: a failed write must not stop the restore.
      try {
        process.stderr.write(`\nheadgate: ${sig} received, stopping and restoring the target...\n`);
      } catch {
        /* no terminal */
      }
      controller.abort(new Error(`interrupted by ${sig}`));
    } else {
      process.stderr.write(`headgate: still restoring the target, please wait\n`);
      onSecond?.();
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    },
  };
}

/** Resolves after ms, or rejects as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
