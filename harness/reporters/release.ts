import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunRecord } from '../model/types.js';
import { writeAtomic } from '../lib/atomic.js';
import { checkRunRecordPaths } from '../store/runs.js';
import { generateAllureHtml, writeAllureResults } from './allure.js';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The release summary: one line per run (phase or merge), oldest first. */
export function renderReleaseSummary(title: string, runs: RunRecord[]): string {
  const out = [`# headgate release review: ${title}`, '', `${runs.length} runs, ${runs[0].startedAt} to ${runs.at(-1)!.finishedAt ?? runs.at(-1)!.startedAt}.`, ''];
  out.push('| # | run | target | kernel | profile | status | verdict | regressed (gating) |', '| ---: | --- | --- | --- | --- | --- | --- | --- |');
  runs.forEach((r, i) => {
    const regressed = (r.comparison?.comparisons ?? []).filter((m) => m.gating && m.verdict === 'regressed').map((m) => `${m.suite}/${m.variant} ${m.metric}`);
    out.push(`| ${i + 1} | ${r.runId} | ${cell(r.target.name)} (${r.target.kind}) | ${cell(r.fingerprint.kernelRelease)} | ${r.profile} | ${r.status} | ${r.comparison?.verdict ?? 'no comparison'} | ${cell(regressed.join(', ') || '-')} |`);
  });
  out.push('', 'The Allure report in this directory shows the last run with the history of all of them (trend graphs, and each test\'s History tab).', '');
  return out.join('\n');
}

/**
 * One Allure report over several runs (the phases of a rollout, or the merges of a release): the
 * runs are generated oldest first, each with the history of the ones before it, so the final
 * report carries the trend across the whole release. Also writes summary.md.
 */
export async function renderReleaseReport(runs: { run: RunRecord; runDir: string }[], outDir: string, title: string): Promise<string[]> {
  // Every run's names, artifacts and console path are checked (exit 2) before anything is written or read.
  for (const { run, runDir } of runs) checkRunRecordPaths(run, runDir);
  const ordered = [...runs].sort((a, b) => a.run.startedAt.localeCompare(b.run.startedAt));
  const work = path.join(outDir, '.generations');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  let history: string | null = null;
  for (const [i, { run, runDir }] of ordered.entries()) {
    const last = i === ordered.length - 1;
    const results = last ? path.join(outDir, 'allure-results') : path.join(work, `${i}`, 'results');
    await writeAllureResults(run, runDir, results);
    if (history) await cp(history, path.join(results, 'history'), { recursive: true });
    const report = last ? path.join(outDir, 'allure-report') : path.join(work, `${i}`, 'report');
    // Earlier generations only carry the history forward: no single-file report for them.
    await generateAllureHtml(results, report, last ? path.join(outDir, 'allure-report-single') : null);
    history = path.join(report, 'history');
    if (!existsSync(history)) history = null;
  }
  await rm(work, { recursive: true, force: true });
  const summary = path.join(outDir, 'summary.md');
  await writeAtomic(summary, renderReleaseSummary(title, ordered.map((r) => r.run)));
  await writeFile(path.join(outDir, 'runs.txt'), ordered.map((r) => r.runDir).join('\n') + '\n');
  return [summary, path.join(outDir, 'allure-report', 'index.html'), path.join(outDir, 'allure-report-single', 'index.html')];
}
