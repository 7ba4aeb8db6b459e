import path from 'node:path';
import { newRunId } from '../engine/runner.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { renderReleaseReport } from '../reporters/release.js';
import { loadRunRecord } from '../store/runs.js';

/**
 * `report`: rebuilds one run's reports (Allure, summary.md, junit.xml) in its run directory, or,
 * given several runs (a rollout's phases, a release's merges), writes one release report over
 * all of them. Returns the files written and the reporters that failed (one run only).
 */
export async function reportRuns(
  specs: string[],
  o: { out: string; releaseOut?: string; title?: string },
  log: (line: string) => void,
): Promise<{ files: string[]; failures: string[] }> {
  if (specs.length > 1) {
    const runs = await Promise.all(specs.map((s) => loadRunRecord(s, o.out)));
    const dir = path.resolve(o.releaseOut ?? path.join(o.out, `release-${newRunId()}`));
    const files = await renderReleaseReport(runs, dir, o.title ?? `${runs[0].run.runId} .. ${runs.at(-1)!.run.runId}`);
    return { files, failures: [] };
  }
  const { run, runDir } = await loadRunRecord(specs[0], o.out);
  return renderAll(defaultReporters, { run, runDir, reportsDir: path.resolve(o.out), log });
}
