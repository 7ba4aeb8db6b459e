import type { HistorySource, RunRecord } from '../model/types.js';

/** What every reporter gets: the run (with its comparison, if any) and where to write. */
export interface ReportContext {
  run: RunRecord;
  runDir: string;
  reportsDir: string;
  log(line: string): void;
  /** The profile's history of a metric, for trend charts (absent: no history store). */
  history?: HistorySource;
}

/** A metric's history for charts (declared in the model, where the history store reads it too). */
export type { HistorySource };

/** A reporter renders; it never decides the verdict or the exit code. */
export interface Reporter {
  name: string;
  /** Writes its output and returns the files written. */
  render(ctx: ReportContext): Promise<string[]>;
}

/**
 * Fans a run out to every reporter. A crashing reporter is logged and skipped: one broken
 * output never costs the others, nor the verdict.
 */
export async function renderAll(reporters: Reporter[], ctx: ReportContext): Promise<{ files: string[]; failures: string[] }> {
  const files: string[] = [];
  const failures: string[] = [];
  for (const r of reporters) {
    try {
      files.push(...(await r.render(ctx)));
    } catch (e) {
      const msg = `${r.name} reporter failed: ${(e as Error).message.split('\n')[0]}`;
      failures.push(msg);
      ctx.log(`warning: ${msg}`);
    }
  }
  return { files, failures };
}
