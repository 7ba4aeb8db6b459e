import { describe, expect, it } from 'vitest';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { mergeRuns } from '../../harness/verdict/merge.js';
import { parseShard, shardWork, targetShards } from '../../harness/engine/shard.js';
import type { RunRecord } from '../../harness/model/types.js';
import { mulberry32 } from '../../harness/stats/shift.js';
import { makeRun } from '../helpers/records.js';

/** A run of several suites whose samples come from a seeded generator; `slower` scales one suite's throughput. */
function runOf(ids: string[], seed: number, slower: Record<string, number> = {}): RunRecord {
  const rnd = mulberry32(seed);
  const suites = ids.map((id) => {
    const one = makeRun({
      on: { throughput_gbps: Array.from({ length: 8 }, () => (10 + rnd()) * (slower[id] ?? 1)), latency_p99_ms: Array.from({ length: 8 }, () => 50 + 5 * rnd()), errors: Array(8).fill(0) },
      off: { throughput_gbps: Array.from({ length: 8 }, () => 8 + rnd()), latency_p99_ms: Array.from({ length: 8 }, () => 60 + 5 * rnd()), errors: Array(8).fill(0) },
    }).suites[0];
    return { ...one, id, title: id };
  });
  return makeRun({}, { suites, runId: `run-${seed}` });
}

describe('--shard i/n', () => {
  it('parses i/n and refuses anything else', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/3', '4/3', '3', 'a/b', '1/0']) expect(() => parseShard(bad)).toThrow(`--shard ${bad}: expected i/n`);
  });
  it('covers every target x suite unit exactly once, the same way on every agent', () => {
    const targets = ['lab-01', 'lab-02', 'lab-03'];
    const suites = ['io-sched', 'ktls', 'pbuf', 'sendfile', 'tcp-stack'];
    const seen: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const w = shardWork(targets, suites, { index: i, count: 4 });
      expect(shardWork(targets, suites, { index: i, count: 4 })).toEqual(w);
      for (const [t, ss] of w) for (const s of ss) seen.push(`${t}/${s}`);
    }
    expect(seen.sort()).toEqual(targets.flatMap((t) => suites.map((s) => `${t}/${s}`)).sort());
    // Fewer targets than shards: units dealt round-robin, balanced (15 units over 4 shards is 4, 4, 4, 3).
    expect([1, 2, 3, 4].map((i) => [...shardWork(targets, suites, { index: i, count: 4 }).values()].flat().length)).toEqual([4, 4, 4, 3]);
    expect(targetShards(targets, suites, 4).get('lab-01')).toEqual([1, 2, 3, 4]);
  });
  it('with at least as many targets as shards, no two shards share a host', () => {
    const targets = ['lab-01', 'lab-02', 'lab-03', 'lab-04', 'lab-05'];
    const suites = ['io-sched', 'ktls', 'sendfile'];
    const owner = new Map<string, number>();
    for (let i = 1; i <= 3; i++) {
      for (const [t, ss] of shardWork(targets, suites, { index: i, count: 3 })) {
        expect(owner.has(t), `${t} in shard ${owner.get(t)} and ${i}`).toBe(false);
        owner.set(t, i);
        expect(ss).toEqual(suites);
      }
    }
    expect([...owner.keys()].sort()).toEqual(targets);
    expect([...targetShards(targets, suites, 3).values()]).toEqual([[1], [2], [3], [1], [2]]);
  });
});

describe('headgate merge', () => {
  const ids = ['io-sched', 'ktls', 'sendfile'];
  const unsplit = runOf(ids, 11, { ktls: 0.9 });
  const baseline = runAsReference(runOf(ids, 12));
  const split = (r: RunRecord): RunRecord[] =>
    [1, 2, 3].map((i) => {
      const mine = shardWork([r.target.name], ids, { index: i, count: 3 }).get(r.target.name) ?? [];
      return { ...r, runId: `shard-${i}`, shard: { index: i, count: 3 }, suites: r.suites.filter((s) => mine.includes(s.id)) };
    });

  it('three shards merged give the same verdicts as the unsplit run', () => {
    const opts = { alpha: 0.05 };
    const whole = compareRun(unsplit, baseline, opts);
    const merged = mergeRuns(split(unsplit).reverse(), 'merged');
    const parts = compareRun(merged, baseline, opts);
    expect(merged.suites.map((s) => s.id)).toEqual(ids);
    expect(merged.mergedFrom).toEqual(['shard-3', 'shard-2', 'shard-1']);
    expect(parts.comparisons).toEqual(whole.comparisons);
    expect(parts.verdict).toBe(whole.verdict);
    expect(whole.verdict).toBe('fail'); // the 10% slower ktls throughput is caught either way
    expect(whole.comparisons.filter((x) => x.verdict === 'regressed').map((x) => `${x.suite}/${x.variant}/${x.metric}`)).toEqual(['ktls/on/throughput_gbps']);
  });

  it('refuses shards of another kernel, a missing shard, or a suite twice', () => {
    const [a, b, c] = split(unsplit);
    expect(() => mergeRuns([a, b], 'm')).toThrow('merge: 2 of 3 shards of target local given; missing shard 3');
    // A target dealt whole to one shard is complete with that shard alone; another shard's run of it is refused.
    const whole = { ...unsplit, runId: 'shard-2', shard: { index: 2, count: 3, targetShards: [2] } };
    expect(mergeRuns([whole], 'm').suites.map((x) => x.id)).toEqual(ids);
    expect(() => mergeRuns([{ ...whole, suites: [] }, { ...a, shard: { index: 1, count: 3, targetShards: [2] } }], 'm')).toThrow(/shard 1\/3 for target local, which that shard does not gate/);
    expect(() => mergeRuns([a, b, { ...c, fingerprint: { ...c.fingerprint, kernelRelease: '6.2.0' } }], 'm')).toThrow(/run shard-3 has a different kernel/);
    expect(() => mergeRuns([a, { ...b, suites: a.suites }, c], 'm')).toThrow(/suite io-sched is in both run shard-1 and run shard-2/);
  });
});
