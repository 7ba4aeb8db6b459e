import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  chooseSharedOffer,
  clientCapGbps,
  OPEN_CLIENT_COST,
  PLANNED_CLIENT_DEMAND,
  runsAtSharedOffer,
  SHARED_OFFER_SHARE,
  sharedOfferPlan,
} from '../../harness/engine/loadmodel.js';
import type { RunOptions, SuiteManifest } from '../../harness/model/types.js';
import { baselinesAsReference, loadBaselines, promoteRun } from '../../harness/store/baselines.js';
import { compareRun, referenceLoad, runAsReference } from '../../harness/verdict/compare.js';
import { variantOfferRule } from '../../harness/verdict/offered.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { ROOT } from '../helpers/cli.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

const manifest = (id: string) =>
  JSON.parse(readFileSync(path.join(ROOT, 'suites', id, 'suite.json'), 'utf8')) as SuiteManifest;
const SPLIT: Pick<RunOptions, 'split' | 'loadModel'> = { split: { server: [1], client: [0], how: 'auto' } };

describe('load model where the load shares the machine (--load-model auto)', () => {
  it('page-cache HTTP variants whose figures gate are the candidates under the split; cold, browser, io-sched and tcp-stack are not', () => {
    const sendfile = manifest('sendfile');
    const ids = (
      m: SuiteManifest,
      o: Pick<RunOptions, 'split' | 'loadModel' | 'rate' | 'fixedThroughput'>,
      clients = false,
      kind: 'always' | 'if-client-bound' = 'always',
    ) => m.variants.filter((v) => runsAtSharedOffer(m, v, o, clients) === kind).map((v) => v.id);
    expect(ids(sendfile, SPLIT)).toEqual(sendfile.variants.filter((v) => v.cache !== 'cold').map((v) => v.id));
    // Cold sets only if their full-load warm-up leaves the client no headroom.
    expect(ids(sendfile, SPLIT, false, 'if-client-bound')).toEqual(sendfile.variants.filter((v) => v.cache === 'cold').map((v) => v.id));
    expect(ids(sendfile, SPLIT)).not.toContain('sendfile-on-cold');
    const ktls = manifest('ktls');
    expect(ids(ktls, SPLIT)).not.toContain('browser-tls13');
    expect(ids(ktls, SPLIT)).toContain('userspace-tls13');
    expect(ids(manifest('pbuf'), SPLIT)).toEqual(['hot-sendfile']);
    expect(ids(manifest('pbuf'), SPLIT, false, 'if-client-bound')).toEqual(manifest('pbuf').variants.filter((v) => v.cache === 'cold').map((v) => v.id));
    expect(ids(manifest('io-sched'), SPLIT)).toEqual([]);
    expect(ids(manifest('tcp-stack'), SPLIT)).toEqual([]);
  });

  it('does nothing without the split, with client hosts, with --load-model closed, or where the user chose the model', () => {
    const m = manifest('sendfile');
    const v = m.variants.find((x) => x.id === 'sendfile-on')!;
    expect(runsAtSharedOffer(m, v, {}, false)).toBe(false);
    expect(runsAtSharedOffer(m, v, SPLIT, true)).toBe(false);
    expect(runsAtSharedOffer(m, v, { ...SPLIT, loadModel: 'closed' }, false)).toBe(false);
    expect(runsAtSharedOffer(m, v, { ...SPLIT, rate: 100 }, false)).toBe(false);
    expect(runsAtSharedOffer(m, v, { ...SPLIT, fixedThroughput: '2' }, false)).toBe(false);
  });

  it('without a reference, the candidates run at a share of the lowest of their warm-ups; one without a warm-up stays at full load', () => {
    const c = chooseSharedOffer([
      { id: 'hot', gbps: 17, reference: undefined },
      { id: 'off', gbps: 11, reference: undefined },
      { id: 'no-warmup', reference: undefined },
    ]);
    expect(c.fixed).toEqual(['hot', 'off']);
    expect(c.closed).toEqual(['no-warmup']);
    expect(c.gbps).toBeCloseTo(SHARED_OFFER_SHARE * 11);
    expect(c.from).toMatch(/lowest of their warm-ups \(17\.000, 11\.000 Gb\/s\)/);
  });

  it("lowers the rate to what the busiest warm-up's client can carry at the planned demand in the open model", () => {
    // pbuf/hot-sendfile on the development VM: its closed warm-up took the whole client CPU for 22.96 Gb/s.
    const cap = clientCapGbps(22.96, 1)!;
    expect(cap).toBeCloseTo((PLANNED_CLIENT_DEMAND * 22.96) / OPEN_CLIENT_COST);
    expect(cap).toBeLessThan(SHARED_OFFER_SHARE * 22.96);
    // Demand over 1 (waiting for a CPU counts) does not lower it further; no demand recorded: no cap.
    expect(clientCapGbps(22.96, 1.3)).toBeCloseTo(cap);
    expect(clientCapGbps(22.96, undefined)).toBeUndefined();
    expect(clientCapGbps(undefined, 0.5)).toBeUndefined();
    const c = chooseSharedOffer([
      { id: 'hot', gbps: 22.96, clientDemand: 1, reference: undefined },
      { id: 'light', gbps: 30, clientDemand: 0.3, reference: undefined },
    ]);
    expect(c.fixed).toEqual(['hot', 'light']);
    expect(c.gbps).toBeCloseTo(cap);
    expect(c.from).toMatch(/^the rate hot's load client can carry at 60% of its CPU in the open model \(its warm-up: 22\.960 Gb\/s at 100% demand; the open model costs the client 1\.5x per byte\), below 50% of the lowest of their warm-ups/);
    // A server-bound warm-up (client at 30% for 30 Gb/s) allows more than the share: the share stands.
    const easy = chooseSharedOffer([{ id: 'light', gbps: 30, clientDemand: 0.3, reference: undefined }]);
    expect(easy.gbps).toBeCloseTo(SHARED_OFFER_SHARE * 30);
    // The reference's rate is never second-guessed: both sides run alike.
    expect(chooseSharedOffer([{ id: 'hot', gbps: 22.96, clientDemand: 1, reference: 11.48 }]).gbps).toBe(11.48);
  });

  it('with a reference, each candidate runs as the reference ran it', () => {
    const c = chooseSharedOffer([
      { id: 'hot', gbps: 17, reference: 6.25 },
      { id: 'then-full', gbps: 9, reference: null },
      { id: 'new', gbps: 12, reference: undefined },
      { id: 'no-warmup', reference: 6.25 },
    ]);
    expect(c).toEqual({
      fixed: ['hot', 'new', 'no-warmup'],
      closed: ['then-full'],
      gbps: 6.25,
      from: "the reference's rate",
    });
  });

  it('the plan states the rule and names the candidates before any load', () => {
    expect(sharedOfferPlan([])).toBeUndefined();
    const line = sharedOfferPlan(['sendfile/sendfile-on', 'sendfile/sendfile-off'])!;
    expect(line).toMatch(
      /so sendfile\/sendfile-on, sendfile\/sendfile-off run at a fixed offered rate, 50% of their suite's lowest warm-up/,
    );
    expect(line).toMatch(/against a baseline, each runs as the baseline ran it/);
    expect(line).toMatch(/--load-model closed/);
    const cold = sharedOfferPlan(['pbuf/hot-sendfile'], ['pbuf/cold-aio-threads'])!;
    expect(cold).toMatch(/the cold-cache pbuf\/cold-aio-threads stay at full load \(the disk path\) unless their full-load warm-up leaves the client no headroom/);
    expect(sharedOfferPlan([], ['pbuf/cold-sendfile'])).toMatch(/^load model: .*; the cold-cache|^load model: .*the cold-cache pbuf\/cold-sendfile/);
  });
});

describe('a variant measured at a shared-machine offer compares only with one measured at the same offer', () => {
  it('the rule: both closed or offers within 2% compare; otherwise every metric is refused with both loads named', () => {
    expect(variantOfferRule({ name: 'this run' }, { name: 'the reference' })).toBeUndefined();
    expect(
      variantOfferRule({ name: 'this run', offeredGbps: 6.0 }, { name: 'the reference', offeredGbps: 6.1 }),
    ).toBeUndefined();
    expect(variantOfferRule({ name: 'this run', offeredGbps: 6.0 }, { name: 'the reference baseline' })).toMatch(
      /^offered load differs: this run ran this variant at a fixed 6\.000 Gb\/s, the reference baseline at the closed model \(full load\)/,
    );
    expect(variantOfferRule({ name: 'B', offeredGbps: 5.0 }, { name: 'A', offeredGbps: 6.0 })).toMatch(
      /B ran this variant at a fixed 5\.000 Gb\/s, A at a fixed 6\.000 Gb\/s/,
    );
  });

  const samples = {
    throughput_gbps: [6.0, 6.01, 5.99, 6.0, 6.02, 5.98],
    latency_p99_ms: [3, 3.1, 2.9, 3, 3.05, 2.95],
    errors: [0, 0, 0, 0, 0, 0],
  };
  const withOffer = (gbps: number | undefined, runId: string) => {
    const r = makeRun({ 'sendfile-on': samples }, { runId });
    if (gbps !== undefined) r.suites[0].variants[0].offeredGbps = gbps;
    return r;
  };

  it('against a closed-model reference, no metric of the variant passes (exit 4, the reason named)', () => {
    const c = compareRun(withOffer(6, 'now'), runAsReference(withOffer(undefined, 'then')), { alpha: 0.05 });
    expect(c.comparisons.length).toBeGreaterThan(0);
    for (const x of c.comparisons) {
      expect(x.verdict).toBe('inconclusive');
      expect(x.rule).toMatch(/^offered load differs/);
    }
    expect(c.exitCode).toBe(4);
  });

  it('at the same offer the identical samples are compared as usual', () => {
    const c = compareRun(withOffer(6, 'now'), runAsReference(withOffer(6, 'then')), { alpha: 0.05 });
    expect(c.comparisons.every((x) => !/offered load/.test(x.rule ?? ''))).toBe(true);
  });

  it('the paired design (ab) applies the same rule', () => {
    const a = withOffer(5, 'a');
    const b = withOffer(6, 'b');
    const c = comparePairedRun(b, a, { alpha: 0.05 });
    expect(c.comparisons.every((x) => x.verdict === 'inconclusive' && /^offered load differs/.test(x.rule ?? ''))).toBe(
      true,
    );
  });

  it('a promoted baseline keeps the offer, and a gate reads it back as the rate to offer', async () => {
    const dir = tempDir('hg-offer-');
    await promoteRun(withOffer(6.25, 'src'), { dir, reason: 'test' });
    const ref = baselinesAsReference(await loadBaselines(dir, 'test-profile', ['sendfile']), dir, 'test-profile')!;
    expect(referenceLoad(ref, 'sendfile', 'sendfile-on')).toBe(6.25);
    expect(referenceLoad(ref, 'sendfile', 'no-such-variant')).toBeUndefined();
    // A closed-model baseline has none: its checksum's shape is unchanged.
    const dir2 = tempDir('hg-offer-');
    const [file] = await promoteRun(withOffer(undefined, 'src2'), { dir: dir2, reason: 'test' });
    expect(readFileSync(file, 'utf8')).not.toContain('offeredGbps');
    // ... and a gate runs that variant at full load, as the baseline did.
    const closed = baselinesAsReference(await loadBaselines(dir2, 'test-profile', ['sendfile']), dir2, 'test-profile')!;
    expect(referenceLoad(closed, 'sendfile', 'sendfile-on')).toBeNull();
  });
});
