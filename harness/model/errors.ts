/** Exit codes: a CI contract (DESIGN.md). Keep them stable. */
export const ExitCode = {
  Pass: 0,
  Regression: 1,
  InvalidInput: 2,
  Infrastructure: 3,
  Inconclusive: 4,
  Interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

type ErrorKind = 'regression' | 'input' | 'infra' | 'interrupted';

/** An expected failure with a one-line message for the user and the exit code it maps to. */
export class HeadgateError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HeadgateError';
  }
  /** The documented exit code for this error. */
  get exitCode(): ExitCodeValue {
    return this.kind === 'regression'
      ? ExitCode.Regression
      : this.kind === 'input'
      ? ExitCode.InvalidInput
      : this.kind === 'infra'
        ? ExitCode.Infrastructure
        : ExitCode.Interrupted;
  }
}

/** The kernel under test lost something before any load could show it (hardware it no longer brings up): exit 1. */
export const regressionError = (message: string, hint?: string) => new HeadgateError('regression', message, hint);
/** Bad flags, config, suite or baseline file (exit 2). */
export const inputError = (message: string, hint?: string) => new HeadgateError('input', message, hint);
/** Target unreachable, server would not start, tool missing (exit 3). */
export const infraError = (message: string, hint?: string, cause?: unknown) =>
  new HeadgateError('infra', message, hint, { cause });
/** The run was interrupted by a signal (exit 130). */
export const interruptedError = (message = 'interrupted') => new HeadgateError('interrupted', message);

/** True for errors the harness raised on purpose (as opposed to bugs). */
export const isHeadgateError = (e: unknown): e is HeadgateError => e instanceof HeadgateError;

/** One line describing any thrown value, for logs and reports. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? String(e);
  return String(e);
}
