import { existsSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { saveRun, newRunId } from '../engine/runner.js';
import { ExitCode, inputError } from '../model/errors.js';
import type { GateOptions } from '../model/options.js';
import type { RunRecord } from '../model/types.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { baselinesAsReference, loadBaselines } from '../store/baselines.js';
import { loadNoise } from '../store/noise.js';
import { loadRunRecord, runsIn } from '../store/runs.js';
import { compareRun } from '../verdict/compare.js';
import { latestCompleteAttempts, mergeRuns, type IgnoredAttempt } from '../verdict/merge.js';
import { combineExitCodes, compareOptionsOf, type AppContext } from './common.js';

/** One merged run per target. */
export interface MergedRun {
  target: string;
  parts: string[];
  record: RunRecord;
  runDir: string;
  files: string[];
  /** Attempts of a retried shard left out (an older or incomplete run), with why. */
  ignored: IgnoredAttempt[];
}

/**
 * The runs `merge` names, loaded once each: a shard's directory stands for every run in it (a
 * retried shard holds the failed attempt too); a directory without run.json is skipped and logged.
 */
export async function loadShardRuns(specs: string[], out: string, log: (line: string) => void): Promise<{ run: RunRecord; runDir: string }[]> {
  const found = specs.map((s) => runsIn(s, out));
  for (const d of found.flatMap((f) => f.skipped)) log(`merge: ignored ${d}: no run.json in it`);
  const all = await Promise.all(found.flatMap((f) => f.specs).map((s) => loadRunRecord(s, out)));
  return all.filter((x, i) => all.findIndex((y) => y.file === x.file) === i);
}

/** Joins the shard runs of a gate into one run per target, compares each with the baseline, writes its reports. */
export async function mergeShards(loaded: { run: RunRecord; runDir: string }[], g: GateOptions, ctx: AppContext): Promise<{ code: number; merged: MergedRun[] }> {
  // One merged run per target: a sharded multi-target gate has shards of several targets.
  const byTarget = new Map<string, typeof loaded>();
  for (const l of loaded) byTarget.set(l.run.target.name, [...(byTarget.get(l.run.target.name) ?? []), l]);
  // Targets dealt whole to shards: a target whose every shard run is absent would otherwise not be
  // missed at all (M8). Each run names every target of its gate.
  const gated = new Set(loaded.flatMap((l) => l.run.shard?.targets ?? []));
  const absent = [...gated].filter((t) => !byTarget.has(t));
  if (absent.length) {
    throw inputError(`merge: target ${absent.join(', ')} of the sharded gate has no run among those given (the runs name ${[...gated].join(', ')})`, 'give every shard\'s run directory, or rerun the shard that gated it');
  }
  const merged: MergedRun[] = [];
  for (const [target, all] of byTarget) {
    // A retried shard: its directory may still hold the failed attempt; the newest complete run counts.
    const { runs: chosen, ignored } = latestCompleteAttempts(all.map((x) => x.run));
    for (const i of ignored) ctx.log(`merge: ignored run ${i.runId} (target ${i.target}, shard ${i.shard}, ${i.status}, started ${i.startedAt}): ${i.reason}`);
    const group = all.filter((x) => chosen.includes(x.run));
    const record = mergeRuns(group.map((x) => x.run), newRunId());
    const runDir = path.resolve(g.out, record.runId);
    await mkdir(runDir, { recursive: true });
    // Artifacts are relative to each shard's run directory; suites are disjoint, so their files are too.
    for (const x of group) {
      if (existsSync(path.join(x.runDir, 'servers'))) await cp(path.join(x.runDir, 'servers'), path.join(runDir, 'servers'), { recursive: true });
    }
    const files = await loadBaselines(g.baselines, record.profile, record.suites.map((s) => s.id));
    const ref = baselinesAsReference(files, g.baselines, record.profile);
    // Shards that added repetitions were planned with the same budget; decide at their last looks.
    const plan = group.map((x) => x.run.comparison?.plan).find(Boolean);
    const noise = await loadNoise(g.baselines, record.profile);
    // merge is a CI gate's last step: a baseline is required (the Quick start's first-run pass
    // belongs to `gate` on a target that never had one). The merged run is still written, so it
    // can be reviewed and promoted.
    record.comparison = compareRun(record, ref, { ...compareOptionsOf(g, noise), plan, requireReference: `${g.baselines}/` });
    await saveRun(runDir, record);
    const { files: written } = await renderAll(defaultReporters, { run: record, runDir, reportsDir: path.resolve(g.out), log: ctx.log });
    merged.push({ target, parts: group.map((x) => x.run.runId), record, runDir, files: written, ignored });
  }
  const code = merged.length ? combineExitCodes(merged.map((m) => m.record.comparison!.exitCode)) : ExitCode.InvalidInput;
  return { code, merged };
}
