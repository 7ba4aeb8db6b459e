import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { affinityOf, chooseSplit } from '../../harness/engine/cpusplit.js';
import { OPEN_CLIENT_COST, PLANNED_CLIENT_DEMAND, SHARED_OFFER_SHARE } from '../../harness/engine/loadmodel.js';
import type { RunRecord } from '../../harness/model/types.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// --load-model auto through the real CLI: real nginx on CPU 1, the load on CPU 0. A variant whose
// warm-up left the client under its headroom runs at a fixed rate taken from the warm-ups, a gate
// runs each variant as the baseline did, and a run at full load is never compared with one at a rate.
const work = tempDir('hg-loadmodel-');
const reports = path.join(work, 'reports');
const baselines = path.join(work, 'baselines');
const common = [
  '--suite',
  'sendfile',
  '--variant',
  'sendfile-on,sendfile-off',
  '--quick',
  '--runs',
  '3',
  '--duration',
  '1.5',
  '--warmup',
  '1',
  '--out',
  reports,
  '--baselines',
  baselines,
];
const readRun = (stdout: string) =>
  JSON.parse(
    readFileSync(path.join((JSON.parse(stdout) as { runDir: string }).runDir, 'run.json'), 'utf8'),
  ) as RunRecord;

describe('load model where the load shares the machine (real nginx, real load)', async () => {
  const split = chooseSplit(await affinityOf(process.pid));

  it.skipIf('none' in split)(
    'page-cache variants run at 50% of the lowest warm-up or at what the client carries at 60%; a gate runs each as the baseline did; a full-load gate is not compared with it',
    async () => {
      const r = await cli(['run', ...common, '--json']);
      expect(r.code, r.stderr).toBe(0);
      // Said before any load: the rule and the candidates.
      expect(r.stderr).toMatch(/load model: .*so sendfile\/sendfile-on, sendfile\/sendfile-off run at a fixed offered rate/);
      const run = readRun(r.stdout);
      const vs = run.suites[0].variants;
      // Either 50% of the lowest warm-up, or less: what the costliest warm-up's client carries at the planned demand.
      const m =
        /sendfile: ([\w, -]+) offered (\d+\.\d+) Gb\/s = (?:the rate [\w-]+'s load client can carry at \d+% of its CPU in the open model \(its warm-up: (\d+\.\d+) Gb\/s at (\d+)% demand; [^)]*\), below )?50% of the lowest of their warm-ups \(([\d., ]+) Gb\/s\)/.exec(
          r.stderr,
        );
      const atRate = m ? m[1].split(', ') : [];
      // What the log said is what run.json records: the rate on those variants, none on the others.
      for (const v of vs) expect(v.offeredGbps !== undefined, v.id).toBe(atRate.includes(v.id));
      if (m) {
        const share = SHARED_OFFER_SHARE * Math.min(...m[5].split(', ').map(Number));
        const offered = vs.find((v) => v.id === atRate[0])!.offeredGbps!;
        if (m[3] === undefined) expect(offered).toBeCloseTo(share, 2);
        else {
          // The log rounds the demand to a percent: the rate within 2% of the cap it implies, and below the share.
          const cap = (PLANNED_CLIENT_DEMAND * Number(m[3])) / (OPEN_CLIENT_COST * Math.min(1, Number(m[4]) / 100));
          expect(Math.abs(offered / cap - 1)).toBeLessThan(0.02);
          expect(offered).toBeLessThan(share);
        }
      }
      for (const v of vs) {
        for (const rep of v.repetitions) {
          // At a rate the open model ran it (its note); either way TTFB and the client's demand were measured.
          expect(
            rep.notes.some((n) => n.startsWith('fixed throughput:')),
            rep.notes.join(' | '),
          ).toBe(v.offeredGbps !== undefined);
          expect(rep.metrics.ttfb_p99_ms).toBeGreaterThan(0);
          expect(rep.metrics.client_demand_pct).toBeGreaterThan(0);
          // The responses beyond the p99 reach run.json: 1% of the repetition's requests.
          const requests = Math.round((rep.metrics.requests_per_sec * rep.durationMs) / 1000);
          expect(Math.abs(rep.tailSamples!.latency_p99_ms - Math.floor(requests / 100))).toBeLessThanOrEqual(1);
        }
      }
      expect(run.options.loadModel).toBe('auto');

      const p = await cli([
        'baseline',
        'promote',
        (JSON.parse(r.stdout) as { runDir: string }).runDir,
        '--reason',
        'load model test',
        '--baselines',
        baselines,
      ]);
      expect(p.code, p.stderr).toBe(0);
      const file = JSON.parse(readFileSync(path.join(baselines, run.profile, 'sendfile.json'), 'utf8')) as {
        variants: Record<string, { offeredGbps?: number }>;
      };
      for (const v of vs) expect(file.variants[v.id].offeredGbps).toBe(v.offeredGbps);

      // The gate runs each variant as the baseline did, whatever its own warm-ups say.
      const g = await cli(['gate', ...common, '--no-adaptive', '--json']);
      expect([0, 4], g.stdout + g.stderr).toContain(g.code);
      const gated = readRun(g.stdout);
      expect(gated.suites[0].variants.map((v) => v.offeredGbps)).toEqual(vs.map((v) => v.offeredGbps));
      if (atRate.length)
        expect(g.stderr).toContain(
          `offered ${vs.find((v) => v.id === atRate[0])!.offeredGbps!.toFixed(3)} Gb/s = the reference's rate`,
        );
      expect(gated.comparison!.comparisons.filter((c) => /offered load/.test(c.rule ?? ''))).toEqual([]);

      // At full load against a baseline measured at a rate: those variants are never compared.
      if (!atRate.length) return;
      const closed = await cli(['gate', ...common, '--no-adaptive', '--load-model', 'closed', '--json']);
      expect(closed.code, closed.stdout + closed.stderr).toBe(4);
      const cmp = readRun(closed.stdout).comparison!;
      const fixedOnes = cmp.comparisons.filter((c) => atRate.includes(c.variant));
      expect(fixedOnes.length).toBeGreaterThan(0);
      for (const c of fixedOnes) {
        expect(c.verdict).toBe('inconclusive');
        expect(c.rule).toMatch(
          /^offered load differs: this run ran this variant at the closed model \(full load\), the reference baseline at a fixed \d+\.\d{3} Gb\/s/,
        );
      }
    },
    240_000,
  );
});
