import { infraError, inputError } from '../model/errors.js';
import type { RunRecord } from '../model/types.js';

/** A run left out of a merge, and why. */
export interface IgnoredAttempt {
  runId: string;
  target: string;
  shard: number;
  status: RunRecord['status'];
  startedAt: string;
  reason: string;
}

/**
 * Picks one attempt per (target, shard index) when CI retried a shard and both attempts reached
 * the merge: the newest complete run (by startedAt, then run id); older attempts and incomplete,
 * interrupted or still-running ones are returned as ignored, each with why. A shard with no
 * complete attempt is refused (exit 3: its attempts failed on infrastructure; merging the rest
 * would compare less than the gate was asked to). Runs without a shard pass through unchanged.
 */
export function latestCompleteAttempts(runs: RunRecord[]): { runs: RunRecord[]; ignored: IgnoredAttempt[] } {
  const groups = new Map<string, RunRecord[]>();
  const out: RunRecord[] = [];
  for (const r of runs) {
    if (!r.shard) {
      out.push(r);
      continue;
    }
    const k = JSON.stringify([r.target.name, r.shard.index]);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const ignored: IgnoredAttempt[] = [];
  const newestFirst = (a: RunRecord, b: RunRecord) => b.startedAt.localeCompare(a.startedAt) || b.runId.localeCompare(a.runId);
  for (const attempts of groups.values()) {
    const { index, count } = attempts[0].shard!;
    const target = attempts[0].target.name;
    const chosen = attempts.filter((r) => r.status === 'complete').sort(newestFirst)[0];
    if (!chosen) {
      const list = attempts.map((r) => `${r.runId} (${r.status}${r.errors[0] ? `: ${r.errors[0]}` : ''})`).join(', ');
      throw infraError(`merge: shard ${index}/${count} of target ${target} has no complete run (attempts: ${list}); retry the shard`);
    }
    out.push(chosen);
    for (const r of attempts.sort(newestFirst)) {
      if (r === chosen) continue;
      const reason = r.status !== 'complete' ? `${r.status} attempt` : `older than ${chosen.runId}`;
      ignored.push({ runId: r.runId, target, shard: index, status: r.status, startedAt: r.startedAt, reason: `${reason}; ${chosen.runId} is the newest complete run of shard ${index}/${count}` });
    }
  }
  // Keep the order the runs were given in (suite order is restored by mergeRuns anyway).
  return { runs: runs.filter((r) => out.includes(r)), ignored };
}

/**
 * Combines the runs of one target's shards into one run: the suites side by side (in the order
 * the unsplit run would have had them), errors and restore failures together, the status the
 * worst of them. Shards must come from the same target, profile and kernel build, with the same
 * options; a suite may appear in only one shard. The comparison is left for the caller to redo.
 */
export function mergeRuns(runs: RunRecord[], newRunId: string): RunRecord {
  if (runs.length === 0) throw inputError('merge: no runs given');
  const first = runs[0];
  const same = (what: string, f: (r: RunRecord) => unknown) => {
    for (const r of runs.slice(1)) {
      if (JSON.stringify(f(r)) !== JSON.stringify(f(first))) {
        throw inputError(`merge: run ${r.runId} has a different ${what} than run ${first.runId} (${JSON.stringify(f(r))} vs ${JSON.stringify(f(first))}); shards must come from one target, build and command line`);
      }
    }
  };
  same('target', (r) => r.target.name);
  same('profile', (r) => r.profile);
  same('kernel', (r) => [r.fingerprint.os, r.fingerprint.kernelRelease, r.fingerprint.kernelVersion]);
  same('options', (r) => ({ ...r.options }));
  same('shard count', (r) => r.shard?.count ?? null);
  const seen = new Map<string, string>();
  for (const r of runs) {
    for (const s of r.suites) {
      if (seen.has(s.id)) throw inputError(`merge: suite ${s.id} is in both run ${seen.get(s.id)} and run ${r.runId}`);
      seen.set(s.id, r.runId);
    }
  }
  const shards = runs.map((r) => r.shard?.index).filter((x): x is number => x !== undefined);
  if (new Set(shards).size !== shards.length) throw inputError(`merge: shard ${shards.find((x, i) => shards.indexOf(x) !== i)} given twice`);
  const count = first.shard?.count;
  // The shards that gate this target: all of them when targets were split by suite, one when
  // whole targets were dealt to shards (runs from before targetShards existed: all).
  const expected = first.shard ? (first.shard.targetShards ?? Array.from({ length: count! }, (_, i) => i + 1)) : [];
  const missing = expected.filter((i) => !shards.includes(i));
  if (missing.length) {
    throw inputError(`merge: ${runs.length} of ${expected.length} shards of target ${first.target.name} given; missing shard ${missing.join(', ')}`);
  }
  const stray = shards.filter((i) => !expected.includes(i));
  if (stray.length) throw inputError(`merge: run of shard ${stray[0]}/${count} for target ${first.target.name}, which that shard does not gate (shards ${expected.join(', ')} do)`);
  const order = first.options.suites.length ? first.options.suites : [...seen.keys()].sort();
  const suites = runs.flatMap((r) => r.suites).sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  const rank = { complete: 0, incomplete: 1, interrupted: 2, running: 3 } as const;
  const status = runs.map((r) => r.status).sort((a, b) => rank[b] - rank[a])[0];
  const times = runs.map((r) => r.startedAt).sort();
  const ends = runs.map((r) => r.finishedAt ?? r.startedAt).sort();
  const merged: RunRecord = {
    ...first,
    runId: newRunId,
    status,
    startedAt: times[0],
    finishedAt: ends[ends.length - 1],
    suites,
    errors: runs.flatMap((r) => r.errors),
    restoreFailures: runs.flatMap((r) => r.restoreFailures),
    mergedFrom: runs.map((r) => r.runId),
  };
  delete merged.shard;
  delete merged.comparison;
  return merged;
}

/**
 * Joins interleaved blocks of one configuration (A/B mode: A B B A ...) into one run: the same
 * suites and variants, repetitions appended in time order and renumbered. Blocks must come from
 * one target and option set; the newest block's status and errors are kept with all others'.
 */
export function concatRuns(blocks: RunRecord[], newRunId: string): RunRecord {
  if (blocks.length === 0) throw inputError('concat: no runs given');
  const first = blocks[0];
  const merged: RunRecord = structuredClone({ ...first, runId: newRunId, mergedFrom: blocks.map((b) => b.runId) });
  delete merged.comparison;
  for (const b of blocks.slice(1)) {
    if (b.target.name !== first.target.name) throw inputError(`concat: run ${b.runId} is from target ${b.target.name}, not ${first.target.name}`);
    for (const s of b.suites) {
      const ms = merged.suites.find((x) => x.id === s.id);
      if (!ms) continue;
      for (const v of s.variants) {
        const mv = ms.variants.find((x) => x.id === v.id);
        if (!mv) continue;
        if (v.status === 'error' && mv.status === 'ran') Object.assign(mv, { status: 'error', reason: v.reason });
        for (const r of v.repetitions) mv.repetitions.push({ ...structuredClone(r), index: mv.repetitions.length });
      }
    }
    merged.errors.push(...b.errors);
    merged.restoreFailures.push(...b.restoreFailures);
    if (b.status !== 'complete') merged.status = b.status;
    merged.finishedAt = b.finishedAt;
  }
  return merged;
}
