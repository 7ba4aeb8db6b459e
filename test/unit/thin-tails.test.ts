import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../harness/model/types.js';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { demoteThinTails, MIN_TAIL_SAMPLES, thinTail, type TailRow } from '../../harness/verdict/tail.js';
import { tailSamples } from '../../harness/probes/probe.js';
import { httpTailSamples } from '../../harness/probes/http.js';
import { blockIoTailSamples, parseFioJson } from '../../harness/probes/fio.js';
import { readFileSync } from 'node:fs';
import { makeRun } from '../helpers/records.js';
import { renderJunit } from '../../harness/reporters/junit.js';
import { renderMarkdown } from '../../harness/reporters/markdown.js';
import { verdictTable } from '../../harness/reporters/console.js';
import { validateDoc } from '../../harness/model/validate.js';

// A p99 of 400 responses is the 4th or 5th slowest of them: its scatter between repetitions is as
// large as the effects a gate looks for. The quick start's pbuf/hot-sendfile ttfb_p99_ms ended every
// second promote-and-gate cycle inconclusive that way. Such a percentile is "not estimated".

const OPTS = { alpha: 0.05 };
const steady = [10, 10.1, 9.9, 10, 10.2, 9.8];
// A p99 from a handful of tail samples: one reference repetition and three of this run caught a slow one.
const refP99 = [2, 2.1, 1.9, 2, 2, 2.9];
const curP99 = [2.9, 2.0, 3.0, 2.6, 2.8, 2.1];

/** A run whose repetitions recorded `tail` samples beyond latency_p99_ms (undefined: not recorded, as before). */
function run(id: string, p99: number[], tail?: number, extra: Partial<RunRecord> = {}): RunRecord {
  const r = makeRun(
    { none: { throughput_gbps: steady, latency_p99_ms: p99, errors: [0, 0, 0, 0, 0, 0] } },
    { runId: id, ...extra },
  );
  if (tail !== undefined)
    for (const rep of r.suites[0].variants[0].repetitions) rep.tailSamples = { latency_p99_ms: tail };
  return r;
}

describe('tail sample counts', () => {
  it('count x (1 - quantile), floored, only for percentile metrics with a count', () => {
    const ms = [
      { id: 'p99', unit: 'ms', direction: 'lower' as const, quantile: 0.99 },
      { id: 'p999', unit: 'ms', direction: 'lower' as const, quantile: 0.999 },
      { id: 'rate', unit: 'Gb/s', direction: 'higher' as const },
    ];
    expect(tailSamples(ms, { p99: 1000, p999: 1000, rate: 5 })).toEqual({ p99: 10, p999: 1 });
    expect(tailSamples(ms, { p99: 999 })).toEqual({ p99: 9 });
    expect(tailSamples(ms, { p99: undefined, p999: NaN })).toEqual({});
  });

  it('the http probe counts responses from its histograms, fio from clat_ns.N of its real JSON', () => {
    const lat = { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1, count: 412 };
    expect(httpTailSamples({ latencyUs: lat, ttfbUs: { ...lat, count: 400 } })).toEqual({
      latency_p50_ms: 206,
      latency_p99_ms: 4,
      latency_p999_ms: 0,
      ttfb_p50_ms: 200,
      ttfb_p99_ms: 4,
    });
    expect(httpTailSamples({ latencyUs: lat })).not.toHaveProperty('ttfb_p99_ms');
    const fio = parseFioJson(
      readFileSync(new URL('../fixtures/linux/fio-reader-writer.json', import.meta.url), 'utf8'),
    );
    expect(fio.reader.ios).toBeGreaterThan(0);
    const t = blockIoTailSamples(fio);
    expect(t.read_p99_ms).toBe(Math.floor(fio.reader.ios * 0.01 + 1e-9));
    expect(t.read_p999_ms).toBe(Math.floor(fio.reader.ios * 0.001 + 1e-9));
  });
});

describe('thinTail and demoteThinTails', () => {
  it('names each side that is short, the minimum, and whether only this run is thin', () => {
    expect(thinTail('m', [MIN_TAIL_SAMPLES, 50], [MIN_TAIL_SAMPLES])).toBeUndefined();
    expect(thinTail('m', [], [])).toBeUndefined();
    const cur = thinTail('m', [40, 4], [12])!;
    expect(cur.rule).toMatch(
      /^not estimated: m is a percentile with as few as 4 in a repetition of this run samples beyond it; .*\(a longer --duration\)$/,
    );
    expect(cur.currentOnly).toBe(true);
    const ref = thinTail('m', [40], [3], { current: 'B', reference: 'A' })!;
    expect(ref.rule).toMatch(/as few as 3 in one of A samples .*a baseline promoted from such a run/);
    expect(ref.currentOnly).toBe(false);
  });

  it('demotes a thin gating row only while the variant keeps a gating metric that can move', () => {
    const both = { rule: 'x', currentOnly: false };
    const row = (o: Partial<TailRow>): TailRow => ({
      gating: true,
      worseBeyondThreshold: false,
      pinnedByOffer: false,
      ...o,
    });
    const thin = row({ thin: both });
    const other = row({});
    expect(demoteThinTails([thin, other], undefined)).toEqual([thin]);
    expect(demoteThinTails([thin, other], 0.05)).toEqual([]);
    expect(demoteThinTails([thin, row({ gating: false })], undefined)).toEqual([]);
    // A throughput carried at a fixed offered rate cannot move: it does not count.
    expect(demoteThinTails([thin, row({ pinnedByOffer: true })], undefined)).toEqual([]);
    // Only this run thin and worse by estimate: fewer responses can be the regression itself.
    const worse = row({ thin: { rule: 'y', currentOnly: true }, worseBeyondThreshold: true });
    expect(demoteThinTails([worse, other], undefined)).toEqual([]);
    const better = row({ thin: { rule: 'y', currentOnly: true } });
    expect(demoteThinTails([better, other], undefined)).toEqual([better]);
  });
});

describe('a percentile from too few tail samples does not decide the gate', () => {
  it('the same samples without tail counts (older runs) are judged as before: inconclusive, exit 4', () => {
    const c = compareRun(run('today', curP99), runAsReference(run('base', refP99)), OPTS);
    expect(c.exitCode).toBe(4);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')?.gating).toBe(true);
  });

  it('both sides thin (a quick gate against a quick baseline): not gated, inconclusive with the reason, and the run passes on throughput', () => {
    const c = compareRun(run('today', curP99, 4), runAsReference(run('base', refP99, 5)), OPTS);
    const p99 = c.comparisons.find((x) => x.metric === 'latency_p99_ms')!;
    expect(p99.gating).toBe(false);
    expect(p99.verdict).toBe('inconclusive');
    expect(p99.notGating).toMatch(
      /^not estimated: latency_p99_ms is a percentile with as few as 4 in a repetition of this run and 5 in one of the reference run samples beyond it; judging it needs at least 10/,
    );
    expect(p99.notEstimated).toBe(p99.notGating);
    expect(p99.rule).toBe(p99.notGating);
    expect(c.exitCode).toBe(0);
    expect(c.summary).toMatch(
      /^pass: no gating metric regressed \(1 gating comparisons\); 1 gating percentile\(s\) not gated, too few samples beyond them \(sendfile\/none latency_p99_ms\)/,
    );
  });

  it('thin on the reference side only is set aside too', () => {
    const c = compareRun(run('today', curP99, 40), runAsReference(run('base', refP99, 2)), OPTS);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')?.notGating).toMatch(
      /as few as 2 in one of the reference run samples/,
    );
    expect(c.exitCode).toBe(0);
  });

  it('thin on this side only and worse by estimate: it keeps gating and is judged on its samples (fewer responses can be the regression)', () => {
    const c = compareRun(run('today', curP99, 4), runAsReference(run('base', refP99, 40)), OPTS);
    const p99 = c.comparisons.find((x) => x.metric === 'latency_p99_ms')!;
    expect(p99.gating).toBe(true);
    expect(p99.notGating).toBeUndefined();
    expect(p99.notEstimated).toMatch(/^not estimated: /);
    expect(p99.rule).toMatch(/; judged although latency_p99_ms is a percentile with as few as 4/);
    expect(c.exitCode).toBe(4);
  });

  it('at a fixed offered rate the carried throughput cannot move, so a thin p99 keeps gating', () => {
    const today = run('today', curP99, 4);
    const base = run('base', refP99, 5);
    for (const r of [today, base]) r.suites[0].variants[0].offeredGbps = 10;
    const c = compareRun(today, runAsReference(base), OPTS);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')?.gating).toBe(true);
    expect(c.exitCode).toBe(4);
  });

  it('samples that cannot speak at all (another offered load) say so first, thin or not', () => {
    const today = run('today', curP99, 4);
    today.suites[0].variants[0].offeredGbps = 10;
    const c = compareRun(today, runAsReference(run('base', refP99, 5)), OPTS);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')?.rule).toMatch(/^offered load differs/);
  });

  it('with enough tail samples on both sides the metric gates as before', () => {
    const c = compareRun(run('today', curP99, 10), runAsReference(run('base', refP99, 10)), OPTS);
    const before = compareRun(run('today', curP99), runAsReference(run('base', refP99)), OPTS);
    expect(c.comparisons.find((x) => x.metric === 'latency_p99_ms')?.gating).toBe(true);
    expect(c.exitCode).toBe(before.exitCode);
    expect(c.summary).toBe(before.summary);
  });

  it('a throughput regression still fails while the thin p99 is set aside', () => {
    const today = run('today', curP99, 4);
    for (const [i, rep] of today.suites[0].variants[0].repetitions.entries())
      rep.metrics.throughput_gbps = [8.9, 9, 8.8, 9.1, 9, 8.9][i];
    const c = compareRun(today, runAsReference(run('base', refP99, 5)), OPTS);
    expect(c.exitCode).toBe(1);
    expect(c.summary).toMatch(/throughput_gbps -1\d\.\d%/);
  });

  it('fails closed: a variant whose only gating metric is thin keeps it gating, as does any under --require-mde', () => {
    const only = (r: RunRecord) => {
      r.suites[0].metrics = r.suites[0].metrics.map((m) => (m.id === 'throughput_gbps' ? { ...m, gating: false } : m));
      return r;
    };
    const c = compareRun(only(run('today', curP99, 4)), runAsReference(only(run('base', refP99, 5))), OPTS);
    expect(c.exitCode).toBe(4);
    const p99 = c.comparisons.find((x) => x.metric === 'latency_p99_ms')!;
    expect(p99.gating).toBe(true);
    expect(c.summary).toMatch(
      /^inconclusive: 1 gating percentile\(s\) from too few samples beyond them look worse without significance \(sendfile\/none latency_p99_ms\)/,
    );
    const strict = compareRun(run('today', curP99, 4), runAsReference(run('base', refP99, 5)), {
      ...OPTS,
      requireMde: 0.5,
    });
    expect(strict.comparisons.find((x) => x.metric === 'latency_p99_ms')?.gating).toBe(true);
    expect(strict.exitCode).toBe(4);
  });

  it('the paired design (ab) applies the same rule, naming B and A', () => {
    const before = comparePairedRun(run('b', curP99), run('a', refP99), OPTS);
    expect(before.comparisons.find((x) => x.metric === 'latency_p99_ms')?.gating).toBe(true);
    const c = comparePairedRun(run('b', curP99, 4), run('a', refP99, 5), OPTS);
    const p99 = c.comparisons.find((x) => x.metric === 'latency_p99_ms')!;
    expect(p99.gating).toBe(false);
    expect(p99.notGating).toMatch(
      /^not estimated: latency_p99_ms is a percentile with as few as 4 in a repetition of B and 5 in one of A samples/,
    );
    expect(c.exitCode).toBe(0);
    expect(c.summary).toMatch(/; 1 gating percentile\(s\) not gated/);
  });
});

describe('a gating metric this run measured nowhere is lost, never silently dropped', () => {
  it('unpaired and paired: exit 1 naming the metric', () => {
    const today = run('today', curP99);
    for (const rep of today.suites[0].variants[0].repetitions)
      delete (rep.metrics as Record<string, number>).latency_p99_ms;
    const c = compareRun(today, runAsReference(run('base', refP99)), OPTS);
    expect(c.exitCode).toBe(1);
    expect(c.lost).toEqual([
      'sendfile/none latency_p99_ms: the reference run base measured it, this run measured it in no repetition',
    ]);
    expect(c.summary).toMatch(/^1 gating metric\(s\) lost: sendfile\/none latency_p99_ms/);
    const p = comparePairedRun(today, run('base', refP99), OPTS);
    expect(p.exitCode).toBe(1);
    expect(p.lost?.[0]).toMatch(
      /^sendfile\/none latency_p99_ms: A \(run base\) measured it, B measured it in no repetition/,
    );
  });

  it('against another reference variant (--baseline-variant) a metric this variant cannot measure is missing, not lost', () => {
    const r = makeRun(
      {
        http: { throughput_gbps: steady, latency_p99_ms: refP99, errors: [0, 0, 0, 0, 0, 0] },
        browser: { errors: [0, 0, 0, 0, 0, 0] },
      },
      { runId: 'today' },
    );
    const c = compareRun(
      { ...r, suites: [{ ...r.suites[0], variants: [r.suites[0].variants[1]] }] },
      runAsReference(r),
      { ...OPTS, referenceVariant: 'http' },
    );
    expect(c.lost).toBeUndefined();
    expect(c.missing).toContain(
      'sendfile/browser throughput_gbps: reference variant http measured it, this variant did not',
    );
    expect(c.exitCode).not.toBe(1);
  });

  it('an informational metric measured nowhere is not lost', () => {
    const today = run('today', curP99);
    for (const rep of today.suites[0].variants[0].repetitions) delete (rep.metrics as Record<string, number>).errors;
    const c = compareRun(today, runAsReference(run('base', refP99)), OPTS);
    expect(c.lost).toBeUndefined();
  });
});

describe('reporters show a gating percentile set aside, and run.json keeps why', () => {
  it('JUnit skips it with the reason, the markdown and console tables keep it among the gating rows, marked; the record validates', () => {
    const today = run('today', curP99, 4);
    today.comparison = compareRun(today, runAsReference(run('base', refP99, 5)), OPTS);
    const xml = renderJunit(today);
    expect(xml).toMatch(
      /<testcase classname="[^"]*" name="latency_p99_ms"><skipped message="inconclusive \(not gated in this run\): .*not estimated: latency_p99_ms/,
    );
    expect(xml).toMatch(/skipped="1"/);
    const md = renderMarkdown(today);
    const gatingSection = md.slice(md.indexOf('## Gating metrics'), md.indexOf('<details>'));
    expect(gatingSection).toMatch(/Latency p99 .*not gated in this run: too few samples beyond the percentile/);
    expect(verdictTable(today, today.comparison)).toMatch(/not gated in this run/);
    expect(() => validateDoc('run', JSON.parse(JSON.stringify(today)), 'run.json')).not.toThrow();
  });
});
