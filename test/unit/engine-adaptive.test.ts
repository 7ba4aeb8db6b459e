import { describe, expect, it } from 'vitest';
import { lookLoop } from '../../harness/engine/adaptive.js';

/** A loop over ids that settle after a given number of repetitions, with a fake clock that advances per repetition. */
function run(settleAt: Record<string, number>, o: { start: number; maxRuns: number; batch: number; maxExtraSec?: number; secPerRep?: number }) {
  let clock = 0;
  const taken: Record<string, number> = Object.fromEntries(Object.keys(settleAt).map((k) => [k, o.start]));
  const batches: [string[], number][] = [];
  const times: string[] = [];
  const p = lookLoop({
    start: o.start,
    maxRuns: o.maxRuns,
    batch: o.batch,
    maxExtraSec: o.maxExtraSec ?? Infinity,
    now: () => clock,
    undecided: () => Object.keys(settleAt).filter((k) => taken[k] < settleAt[k]),
    add: async (ids, k) => {
      batches.push([ids, k]);
      for (const id of ids) taken[id] += k;
      clock += k * ids.length * (o.secPerRep ?? 1) * 1000;
      return k;
    },
    onTimeStop: (ids) => times.push(...ids),
  });
  return p.then((r) => ({ ...r, batches, taken, times }));
}

describe('the adaptive look loop', () => {
  it('adds batches to what is undecided only, until it settles', async () => {
    const r = await run({ a: 6, b: 10 }, { start: 6, maxRuns: 24, batch: 3 });
    expect(r.stoppedBy).toBe('settled');
    expect(r.batches).toEqual([[['b'], 3], [['b'], 3]]);
    expect(r.taken).toEqual({ a: 6, b: 12 });
  });

  it('stops at the count budget, never past it (the last batch is cut to fit)', async () => {
    const r = await run({ a: 100 }, { start: 6, maxRuns: 10, batch: 3 });
    expect(r.stoppedBy).toBe('budget');
    expect(r.batches.map(([, k]) => k)).toEqual([3, 1]);
    expect(r.taken.a).toBe(10);
  });

  it('stops at the time budget with the undecided ids named', async () => {
    const r = await run({ a: 100, b: 100 }, { start: 4, maxRuns: 100, batch: 2, maxExtraSec: 10, secPerRep: 2 });
    expect(r.stoppedBy).toBe('time');
    // Each batch costs 2 ids x 2 reps x 2 s = 8 s: one batch fits under 10 s, the second crosses it.
    expect(r.batches).toHaveLength(2);
    expect(r.times).toEqual(['a', 'b']);
  });

  it('takes no batch when everything is decided at the first look, or the budget is already spent', async () => {
    expect((await run({ a: 1 }, { start: 6, maxRuns: 18, batch: 3 })).batches).toEqual([]);
    const spent = await run({ a: 100 }, { start: 8, maxRuns: 8, batch: 3 });
    expect(spent).toMatchObject({ stoppedBy: 'budget', batches: [] });
  });
});
