import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import type { HttpLoadResult } from '../../harness/probes/http.js';
import { mergeLoadResults } from '../../harness/probes/merge.js';
import { latencySummary } from '../../harness/probes/verify.js';
import { mulberry32 } from '../../harness/stats/shift.js';
import { latestCompleteAttempts, mergeRuns } from '../../harness/verdict/merge.js';
import { saveRun } from '../../harness/engine/runner.js';
import { runsIn } from '../../harness/store/runs.js';
import type { RunRecord } from '../../harness/model/types.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

const build = (highestTrackableValue = 120_000_000) => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue, numberOfSignificantValueDigits: 3 });

/** An open-model client's result (probes/open.ts histograms: up to an hour, queueing included) at this offered rate. */
function openClientResult(samples: number[], offeredRate: number): HttpLoadResult {
  const h = build(3_600_000_000);
  for (const s of samples) h.recordValue(s);
  return { ...clientResult([], 0.5), requests: samples.length, latencyUs: latencySummary(h), offeredRate, histograms: { latency: hdr.encodeIntoCompressedBase64(h) } };
}

/** A client's result whose latencies are the given samples. */
function clientResult(samples: number[], cpu: number): HttpLoadResult {
  const h = build();
  for (const s of samples) h.recordValue(s);
  return {
    durationSec: 2,
    requests: samples.length,
    bodyBytes: samples.length * 1000,
    wireBytes: samples.length * 1100,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    verification: { verified: samples.length, failed: 0, failures: [] },
    latencyUs: latencySummary(h),
    clientCpu: cpu,
    clientBound: cpu >= 0.9,
    histograms: { latency: hdr.encodeIntoCompressedBase64(h) },
  };
}

describe('merging load clients', () => {
  // Two clients with very different (skewed, heavy-tailed) latency: an average of their
  // percentiles would be wrong; the merged histogram must equal one histogram of all samples.
  const rnd = mulberry32(7);
  const fast = Array.from({ length: 5000 }, () => Math.round(200 + 100 * -Math.log(1 - rnd())));
  const slow = Array.from({ length: 500 }, () => Math.round(5000 + 20000 * -Math.log(1 - rnd())));

  it('gives exactly the percentiles of all samples together', () => {
    const merged = mergeLoadResults([{ name: 'a', result: clientResult(fast, 0.5) }, { name: 'b', result: clientResult(slow, 0.4) }]);
    const all = build();
    for (const s of [...fast, ...slow]) all.recordValue(s);
    expect(merged.latencyUs).toEqual(latencySummary(all));
    const avgOfP99 = (clientResult(fast, 0).latencyUs.p99 + clientResult(slow, 0).latencyUs.p99) / 2;
    expect(merged.latencyUs.p99).not.toBe(avgOfP99);
    expect(merged.requests).toBe(fast.length + slow.length);
    expect(merged.verification.verified).toBe(fast.length + slow.length);
  });

  it('names a client that saturated its core', () => {
    const merged = mergeLoadResults([{ name: 'idle', result: clientResult(fast, 0.3) }, { name: 'busy', result: clientResult(slow, 0.97) }]);
    expect(merged.clientBound).toBe(true);
    expect(merged.clients?.filter((c) => c.clientBound).map((c) => c.name)).toEqual(['busy']);
  });

  it('says how far apart the clients\' windows started (the start barrier), only when every client said when', () => {
    const at = (r: HttpLoadResult, startedAtMs?: number) => ({ ...r, ...(startedAtMs !== undefined ? { startedAtMs } : {}) });
    const both = mergeLoadResults([
      { name: 'a', result: at(clientResult(fast, 0.3), 1_700_000_000_120) },
      { name: 'b', result: at(clientResult(slow, 0.3), 1_700_000_000_100) },
    ]);
    expect(both.clientSkewMs).toBe(20);
    expect(both.clients?.map((c) => c.startedAtMs)).toEqual([1_700_000_000_120, 1_700_000_000_100]);
    const one = mergeLoadResults([
      { name: 'a', result: at(clientResult(fast, 0.3), 1_700_000_000_120) },
      { name: 'old', result: at(clientResult(slow, 0.3)) },
    ]);
    expect(one.clientSkewMs).toBeUndefined();
  });
});

describe('merging open-model clients', () => {
  // One client behind a backlog: latency from the due time reaches minutes, past the closed
  // model's two-minute histogram range.
  const rnd = mulberry32(11);
  const prompt = Array.from({ length: 4000 }, () => Math.round(300 + 200 * -Math.log(1 - rnd())));
  const queued = Array.from({ length: 400 }, () => Math.round(60_000_000 + 90_000_000 * rnd()));

  it('gives the percentiles of all samples together, a queueing tail included, and adds up the offers', () => {
    const merged = mergeLoadResults([
      { name: 'a', result: openClientResult(prompt, 150) },
      { name: 'b', result: openClientResult(queued, 150) },
    ]);
    const all = build(3_600_000_000);
    for (const s of [...prompt, ...queued]) all.recordValue(s);
    expect(merged.latencyUs).toEqual(latencySummary(all));
    expect(merged.latencyUs.max).toBeGreaterThan(120_000_000);
    expect(merged.offeredRate).toBe(300);
  });

  it('refuses to merge an open-model client with a closed-model one', () => {
    expect(() => mergeLoadResults([{ name: 'open', result: openClientResult(prompt, 100) }, { name: 'closed', result: clientResult(prompt, 0.4) }])).toThrow(
      /some clients ran the open model and some the closed one/,
    );
  });

  it('a closed-model merge has no offered rate', () => {
    expect(mergeLoadResults([{ name: 'a', result: clientResult(prompt, 0.4) }]).offeredRate).toBeUndefined();
  });
});

describe('merging shards when CI retried one', () => {
  const xs = { throughput_gbps: [10, 11, 10.5], latency_p99_ms: [5, 6, 5.5], errors: [0, 0, 0] };
  /** Shard i of 2 of target t: suite s<i>, started at minute m. */
  const shard = (runId: string, index: number, m: number, extra: Partial<RunRecord> = {}): RunRecord => {
    const r = makeRun({ 'sendfile-on': xs }, { runId, shard: { index, count: 2 }, startedAt: `2026-11-26T00:${String(m).padStart(2, '0')}:00.000Z`, ...extra });
    r.suites[0].id = `s${index}`;
    return r;
  };

  it('takes the newest complete run per (target, shard), ignores the failed and older attempts and says which', () => {
    const failed = shard('s2-try1', 2, 1, { status: 'incomplete', errors: ['nginx did not start'] });
    const older = shard('s1-old', 1, 0);
    const runs = [shard('s1-new', 1, 5), failed, older, shard('s2-try2', 2, 3)];
    const { runs: chosen, ignored } = latestCompleteAttempts(runs);
    expect(chosen.map((r) => r.runId)).toEqual(['s1-new', 's2-try2']);
    expect(ignored.map((i) => [i.runId, i.shard, i.status])).toEqual([
      ['s1-old', 1, 'complete'],
      ['s2-try1', 2, 'incomplete'],
    ]);
    expect(ignored[0].reason).toMatch(/^older than s1-new; s1-new is the newest complete run of shard 1\/2$/);
    expect(ignored[1].reason).toMatch(/^incomplete attempt; s2-try2 is the newest complete run of shard 2\/2$/);
    // The chosen runs merge as before: one suite each, status complete.
    const merged = mergeRuns(chosen, 'm1');
    expect(merged.suites.map((s) => s.id)).toEqual(['s1', 's2']);
    expect(merged.status).toBe('complete');
    expect(merged.mergedFrom).toEqual(['s1-new', 's2-try2']);
    // Without the selection the failed attempt would make the merge refuse (suite in two runs).
    expect(() => mergeRuns(runs, 'm2')).toThrow(/suite s1 is in both run s1-new and run s1-old/);
  });

  it('a newer incomplete attempt does not displace an older complete one; shards of other targets are separate', () => {
    const other = { kind: 'local' as const, name: 'other' };
    const runs = [shard('a1', 1, 0), shard('a1-retry', 1, 9, { status: 'interrupted' }), shard('b1', 1, 2, { target: other }), shard('a2', 2, 1), shard('b2', 2, 2, { target: other })];
    const { runs: chosen, ignored } = latestCompleteAttempts(runs);
    expect(chosen.map((r) => r.runId)).toEqual(['a1', 'b1', 'a2', 'b2']);
    expect(ignored.map((i) => i.runId)).toEqual(['a1-retry']);
  });

  it('refuses only when a shard has no complete run: exit 3 naming the shard, target and attempts', () => {
    const runs = [shard('a1', 1, 0), shard('a2-try1', 2, 1, { status: 'incomplete', errors: ['target dropped'] }), shard('a2-try2', 2, 2, { status: 'interrupted' })];
    const e = (() => {
      try {
        latestCompleteAttempts(runs);
      } catch (x) {
        return x as HeadgateError;
      }
    })()!;
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe('merge: shard 2/2 of target local has no complete run (attempts: a2-try1 (incomplete: target dropped), a2-try2 (interrupted)); retry the shard');
  });

  it('runs without a shard pass through unchanged', () => {
    const a = makeRun({ x: xs }, { runId: 'u1' });
    expect(latestCompleteAttempts([a])).toEqual({ runs: [a], ignored: [] });
  });

  it('a shard directory (its --out) stands for every run in it; a directory without run.json is skipped and named', async () => {
    const out = tempDir('hg-merge-');
    const dir = path.join(out, 'shard-2');
    await saveRun(path.join(dir, '20261126-000100-aaaa'), shard('s2-try1', 2, 1, { status: 'incomplete' }));
    await saveRun(path.join(dir, '20261126-000300-bbbb'), shard('s2-try2', 2, 3));
    mkdirSync(path.join(dir, 'crashed-before-run-json'));
    const found = runsIn(dir);
    expect(found.specs.map((s) => path.basename(s))).toEqual(['20261126-000100-aaaa', '20261126-000300-bbbb']);
    expect(found.skipped.map((s) => path.basename(s))).toEqual(['crashed-before-run-json']);
    // A run directory is itself, as before.
    expect(runsIn(found.specs[1]).specs).toEqual([found.specs[1]]);
    expect(() => runsIn(path.join(dir, 'crashed-before-run-json'))).toThrow(/no run found/);
  });
});

describe('merge knows the targets of a sharded gate (M8)', () => {
  it('a target whose every shard run is absent is exit 2 naming it, before anything is written', async () => {
    const { mergeShards } = await import('../../harness/app/merge.js');
    const { tempDir } = await import('../helpers/temp.js');
    const out = tempDir('hg-m8-');
    const a = makeRun({ on: { throughput_gbps: [1, 2] } }, { runId: 'a1', target: { kind: 'ssh', name: 'lab-a' }, shard: { index: 1, count: 2, targetShards: [1], targets: ['lab-a', 'lab-b'] } });
    let err: unknown;
    try {
      await mergeShards([{ run: a, runDir: path.join(out, 'a1') }], { out, baselines: path.join(out, 'b') } as never, { signal: new AbortController().signal, log: () => {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HeadgateError);
    expect((err as HeadgateError).exitCode).toBe(2);
    expect((err as Error).message).toBe('merge: target lab-b of the sharded gate has no run among those given (the runs name lab-a, lab-b)');
    expect(readdirSync(out)).toEqual([]);
  });
});
