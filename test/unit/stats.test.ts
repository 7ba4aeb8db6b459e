import { describe, expect, it } from 'vitest';
import { decide, metricStats } from '../../harness/stats/compare.js';
import { mannWhitneyU, normalCdf, shiftIntervalRank } from '../../harness/stats/mannwhitney.js';
import { holmAdjust } from '../../harness/stats/multiple.js';
import { alphaSpent, lookAlpha, lookSchedule } from '../../harness/stats/sequential.js';
import { hodgesLehmann, mulberry32, relativeShift, relativeShiftCI } from '../../harness/stats/shift.js';
import { median, quantile } from '../../harness/stats/summary.js';

/** Reference implementation: exact two-sided permutation p-value of the U statistic by enumeration. */
function bruteForceP(x: number[], y: number[]): number {
  const all = [...x, ...y];
  const n = all.length;
  const m = x.length;
  const u = (idx: number[]) => {
    const xs = idx.map((i) => all[i]);
    const ys = all.filter((_, i) => !idx.includes(i));
    let s = 0;
    for (const a of xs) for (const b of ys) s += a > b ? 1 : a === b ? 0.5 : 0;
    return s;
  };
  const observed = u(x.map((_, i) => i));
  const center = (m * (n - m)) / 2;
  let extreme = 0;
  let total = 0;
  const rec = (start: number, chosen: number[]) => {
    if (chosen.length === m) {
      total++;
      if (Math.abs(u(chosen) - center) >= Math.abs(observed - center) - 1e-9) extreme++;
      return;
    }
    for (let i = start; i < n; i++) rec(i + 1, [...chosen, i]);
  };
  rec(0, []);
  return extreme / total;
}

describe('Mann-Whitney U', () => {
  it('exact p-values agree with brute-force enumeration on random samples without ties', () => {
    const rnd = mulberry32(42);
    for (let t = 0; t < 20; t++) {
      const m = 3 + Math.floor(rnd() * 4);
      const n = 3 + Math.floor(rnd() * 4);
      const x = Array.from({ length: m }, () => rnd() * 10);
      const y = Array.from({ length: n }, () => rnd() * 10 + rnd() * 3);
      const r = mannWhitneyU(x, y);
      expect(r.method).toBe('exact');
      expect(r.pValue).toBeCloseTo(bruteForceP(x, y), 10);
    }
  });

  it('complete separation of 6 vs 6 gives the smallest possible p, 2 / C(12,6)', () => {
    const r = mannWhitneyU([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]);
    expect(r.pValue).toBeCloseTo(2 / 924, 12);
  });

  it('with ties, one-sided p-values are the exact permutation tails (brute-force enumeration of the labellings)', () => {
    /** P(U_x <= observed) over all labellings: y tends to be larger. */
    const bruteGreater = (x: number[], y: number[]) => {
      const all = [...x, ...y];
      const u = (idx: number[]) => idx.reduce((s, i) => s + all.reduce((t, b, j) => t + (idx.includes(j) ? 0 : all[i] > b ? 1 : all[i] === b ? 0.5 : 0), 0), 0);
      const observed = u(x.map((_, i) => i));
      let hit = 0;
      let total = 0;
      const rec = (start: number, chosen: number[]) => {
        if (chosen.length === x.length) {
          total++;
          if (u(chosen) <= observed + 1e-9) hit++;
          return;
        }
        for (let i = start; i < all.length; i++) rec(i + 1, [...chosen, i]);
      };
      rec(0, []);
      return hit / total;
    };
    const rnd = mulberry32(7);
    for (let t = 0; t < 15; t++) {
      const m = 3 + Math.floor(rnd() * 5);
      const n = 3 + Math.floor(rnd() * 5);
      // Small integers, so ties are frequent.
      const x = Array.from({ length: m }, () => Math.floor(rnd() * 5));
      const y = Array.from({ length: n }, () => Math.floor(rnd() * 5 + rnd() * 2));
      const r = mannWhitneyU(x, y);
      if (new Set([...x, ...y]).size === 1) continue;
      expect(r.pGreater).toBeCloseTo(bruteGreater(x, y), 10);
      expect(r.pLess).toBeCloseTo(bruteGreater(y, x), 10);
    }
  });

  it('complete separation is as strong with ties inside one group: a fixed rate carried by every reference repetition', () => {
    // Six reference repetitions that all carried the offered rate, six that carried a third less.
    const r = mannWhitneyU([9.5, 9.5, 9.5, 9.5, 9.51, 9.5], [6.37, 6.39, 6.4, 6.35, 6.36, 6.42]);
    expect(r.method).toBe('exact');
    expect(r.pLess).toBeCloseTo(1 / 924, 12);
  });

  it('identical samples are not significant', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5, 5]).pValue).toBe(1);
  });

  it('normal CDF matches known quantiles', () => {
    expect(normalCdf(1.959963985)).toBeCloseTo(0.975, 6);
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(-1.644853627)).toBeCloseTo(0.05, 6);
  });
});

describe('shift estimates', () => {
  it('Hodges-Lehmann recovers a pure shift exactly and is robust to one outlier', () => {
    const x = [10, 11, 12, 13, 14, 15];
    expect(hodgesLehmann(x, x.map((v) => v + 2.5))).toBeCloseTo(2.5, 12);
    const withOutlier = [...x.map((v) => v + 2.5).slice(0, 5), 1000];
    expect(hodgesLehmann(x, withOutlier)).toBeLessThan(4);
  });

  it('relative shift is the HL shift of log values, exponentiated; HL over the baseline median when a value is not positive', () => {
    const x = [100, 101, 99, 100, 102, 98];
    const y = x.map((v) => v * 0.7);
    // A pure ratio is recovered exactly on the log scale.
    expect(relativeShift(x, y)).toBeCloseTo(-0.3, 12);
    const z = [100, 80, 120, 90, 110, 95];
    expect(relativeShift(x, z)).toBeCloseTo(Math.expm1(hodgesLehmann(x.map(Math.log), z.map(Math.log))), 12);
    const withZero = [0, 101, 99, 100, 102, 98];
    expect(relativeShift(withZero, y)).toBeCloseTo(hodgesLehmann(withZero, y) / median(withZero), 12);
  });

  it('the shift interval cuts k pairwise differences from each end, k from the exact U distribution', () => {
    // 6 vs 6 at 95%: P(U <= 5) = 0.0206 <= 0.025 < P(U <= 6) = 0.0325, so k = 6 (tables: U_crit 5).
    expect(shiftIntervalRank(6, 6)).toBe(6);
    const x = [100, 101, 102, 103, 104, 105];
    const y = [90, 91, 92, 93, 94, 95];
    // On the log scale: the 6th smallest and 6th largest log ratio, exponentiated.
    const d = x.flatMap((a) => y.map((b) => Math.log(b / a))).sort((a, b) => a - b);
    const [lo, hi] = relativeShiftCI(x, y);
    expect(lo).toBeCloseTo(Math.expm1(d[5]), 12);
    expect(hi).toBeCloseTo(Math.expm1(d[30]), 12);
  });

  it('the shift interval covers a true 5% drop in about 95% of skewed, outlier-ridden samples', () => {
    const rnd = mulberry32(11);
    // Log-normal-ish noise with a 5% chance of a 30% outlier: nothing like a normal distribution.
    const draw = () => 100 * Math.exp(0.03 * (rnd() + rnd() + rnd() - 1.5) * 2) * (rnd() < 0.05 ? 0.7 : 1);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: 8 }, draw);
      const y = Array.from({ length: 8 }, () => draw() - 5);
      const [lo, hi] = relativeShiftCI(x, y);
      const truth = -5 / median(x);
      if (lo <= truth && truth <= hi) covered++;
    }
    // Exact for a pure shift; the relative scale adds a little play: 95% +- 1.5%.
    expect(covered / trials).toBeGreaterThan(0.935);
    expect(covered / trials).toBeLessThan(0.985);
  });

  it('quantile interpolates like R type 7', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
  });
});

describe('Holm correction', () => {
  it('matches the step-down definition computed independently', () => {
    const p = [0.01, 0.04, 0.03, 0.005, 0.2];
    const m = p.length;
    const order = [...p.keys()].sort((a, b) => p[a] - p[b]);
    const expected = new Array<number>(m);
    let run = 0;
    order.forEach((i, k) => {
      run = Math.max(run, Math.min(1, (m - k) * p[i]));
      expected[i] = run;
    });
    expect(holmAdjust(p)).toEqual(expected);
    // Adjusted values never fall below the raw ones and keep the ranking.
    holmAdjust(p).forEach((q, i) => expect(q).toBeGreaterThanOrEqual(p[i]));
  });
});

describe('decide', () => {
  // A 30% drop with a tight interval, and p-values a test would give for it.
  const base = { direction: 'higher' as const, threshold: 0.05, alpha: 0.01, identical: false, final: true, pBetter: 1 };
  const drop = { ...base, relChange: -0.3, ciLow: -0.35, ciHigh: -0.25, pWorse: 0.001 };
  it('regressed needs significance and an effect beyond the threshold in the bad direction', () => {
    expect(decide(drop).verdict).toBe('regressed');
    expect(decide({ ...base, relChange: 0.3, ciLow: 0.25, ciHigh: 0.35, pWorse: 1, pBetter: 0.001 }).verdict).toBe('improved');
    // Significant but small: the interval lies inside the threshold, so equivalent.
    expect(decide({ ...base, relChange: -0.02, ciLow: -0.03, ciHigh: -0.01, pWorse: 0.001 }).verdict).toBe('unchanged');
    expect(decide({ ...drop, pWorse: 0.03, ciLow: -0.6, ciHigh: 0.1 }).verdict).toBe('inconclusive');
    // Not even suggestive (p above 5 x alpha): no evidence of a regression, so unchanged.
    expect(decide({ ...drop, pWorse: 0.2, ciLow: -0.6, ciHigh: 0.1 }).verdict).toBe('unchanged');
    expect(decide({ ...base, relChange: -0.01, ciLow: -0.08, ciHigh: 0.06, pWorse: 0.5 }).verdict).toBe('unchanged');
  });
  it('for lower-is-better metrics an increase is the bad direction', () => {
    expect(decide({ ...drop, direction: 'lower', relChange: 0.3, ciLow: 0.25, ciHigh: 0.35 }).verdict).toBe('regressed');
    expect(decide({ ...base, direction: 'lower', relChange: -0.3, ciLow: -0.35, ciHigh: -0.25, pWorse: 1, pBetter: 0.001 }).verdict).toBe('improved');
    // The bad side of a lower-is-better interval is its upper bound.
    expect(decide({ ...base, direction: 'lower', relChange: 0.01, ciLow: -0.02, ciHigh: 0.04, pWorse: 0.3 }).rule).toMatch(/^equivalent: at worst 4\.0% worse/);
  });
  it('a significant change is not a regression at this look when p exceeds the look alpha', () => {
    expect(decide({ ...drop, pWorse: 0.004, alpha: 0.003 }).verdict).toBe('inconclusive');
    expect(decide({ ...drop, pWorse: 0.004, alpha: 0.005 }).verdict).toBe('regressed');
  });
  it('before the final look an undecided metric asks for repetitions instead of a verdict', () => {
    const wide = { ...base, relChange: -0.06, ciLow: -0.15, ciHigh: 0.02, pWorse: 0.03 };
    const interim = decide({ ...wide, final: false });
    expect(interim.settled).toBe(false);
    expect(interim.rule).toMatch(/add repetitions/);
    expect(decide(wide)).toMatchObject({ verdict: 'inconclusive', settled: true });
    // An interval wholly inside the threshold settles early as unchanged.
    expect(decide({ ...base, relChange: 0, ciLow: -0.02, ciHigh: 0.02, pWorse: 0.4, final: false })).toMatchObject({ verdict: 'unchanged', settled: true });
    // Data pointing the other way settle as futile: more repetitions would not find a regression.
    expect(decide({ ...base, relChange: 0.01, ciLow: -0.1, ciHigh: 0.12, pWorse: 0.6, final: false })).toMatchObject({ verdict: 'unchanged', settled: true, rule: expect.stringMatching(/^no sign of a regression/) });
  });
  it('a drop too large to miss on too few repetitions is inconclusive, never a pass', () => {
    // 3 vs 3, complete separation: the smallest one-sided p is 1/20, which cannot reach 0.01.
    const d = decide({ ...drop, pWorse: 0.15, ciLow: -0.6, ciHigh: 0.1, separatedWorse: true });
    expect(d.verdict).toBe('inconclusive');
    expect(d.rule).toMatch(/every repetition worse than every reference one, but too few repetitions/);
  });
  it('the rule text names what decided', () => {
    expect(decide(drop).rule).toMatch(/30\.0% worse, significant \(p_adj=0\.001 <= alpha 0\.01\) and beyond the 5\.0% threshold/);
  });
});

describe('metricStats', () => {
  it('detects a 30% throughput drop between separated samples', () => {
    const b = [10.1, 10.4, 9.9, 10.2, 10.0, 10.3];
    const c = b.map((v) => v * 0.7);
    const s = metricStats(b, c, 'higher');
    expect(s.pValue).toBeLessThan(0.01);
    // One-sided: all of the evidence is on the "worse" side for a higher-is-better metric.
    expect(s.pWorse).toBeCloseTo(1 / 924, 12);
    expect(s.pBetter).toBeCloseTo(1, 12);
    expect(metricStats(b, c, 'lower').pBetter).toBeCloseTo(1 / 924, 12);
    expect(s.relChange).toBeCloseTo(hodgesLehmann(b, c) / median(b), 10);
    expect(s.ciHigh).toBeLessThan(0);
  });
  it('identical constant samples are marked identical', () => {
    expect(metricStats([0, 0, 0], [0, 0, 0], 'higher').identical).toBe(true);
  });
});

describe('Mann-Whitney one-sided p-values', () => {
  it('exact tails are P(U <= u) and P(U >= u) and add to 1 + P(U = u)', () => {
    // x = 1..3, y = 4..6: every y beats every x; U_x = 0.
    const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
    expect(r.pGreater).toBeCloseTo(1 / 20, 12);
    expect(r.pLess).toBeCloseTo(1, 12);
    const m = mannWhitneyU([1, 4, 5], [2, 3, 6]);
    // P(U = u) for u = 4 in 3 vs 3: 3 of 20 arrangements.
    expect(m.pGreater + m.pLess).toBeCloseTo(1 + 3 / 20, 12);
  });
  it('normal tails agree with the exact ones on larger samples', () => {
    const rnd = mulberry32(9);
    const x = Array.from({ length: 30 }, () => rnd());
    const y = Array.from({ length: 30 }, () => rnd() + 0.2);
    const exact = mannWhitneyU(x, y);
    const withTie = mannWhitneyU([...x, 0.5], [...y, 0.5]);
    expect(exact.method).toBe('exact');
    expect(withTie.method).toBe('normal');
    expect(Math.abs(Math.log(withTie.pGreater / exact.pGreater))).toBeLessThan(0.5);
    expect(exact.pValue).toBeCloseTo(2 * Math.min(exact.pGreater, exact.pLess), 12);
  });
});

describe('alpha spending over looks', () => {
  const plan = { alpha: 0.01, nStart: 8, batch: 4, nMax: 24, rho: 2 };
  it('looks at 8, 12, ..., 24 and their alphas add up to exactly alpha', () => {
    const looks = lookSchedule(plan);
    expect(looks).toEqual([8, 12, 16, 20, 24]);
    const total = looks.reduce((a, n, i) => a + lookAlpha(plan, i ? looks[i - 1] : 0, n), 0);
    expect(total).toBeCloseTo(0.01, 15);
    // rho = 2: the first look gets (8/24)^2 of alpha.
    expect(lookAlpha(plan, 0, 8)).toBeCloseTo(0.01 / 9, 15);
  });
  it('a look that ends the budget early (wall time) gets what is left', () => {
    expect(lookAlpha(plan, 12, 16, true)).toBeCloseTo(0.01 - alphaSpent(plan, 12), 15);
  });
});
