import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { affinityOf, chooseSplit } from '../../harness/engine/cpusplit.js';
import { SHARED_OFFER_SHARE } from '../../harness/engine/loadmodel.js';
import type { RunRecord } from '../../harness/model/types.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// --load-model auto through the real CLI: real nginx on CPU 1, the load on CPU 0. Page-cache
// variants run at a fixed rate taken from their warm-ups, a gate offers the baseline's rate, and
// a run at full load is never compared with one at a fixed rate.
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
    "page-cache variants run at 60% of the lowest warm-up; a gate offers the baseline's rate; a closed-model run is not compared with it",
    async () => {
      const r = await cli(['run', ...common, '--json']);
      expect(r.code, r.stderr).toBe(0);
      // Said before any load, then the rate and where it came from.
      expect(r.stderr).toMatch(
        /load model: .*sendfile\/sendfile-on, sendfile\/sendfile-off run at a fixed offered rate/,
      );
      const m =
        /sendfile: sendfile-on, sendfile-off offered (\d+\.\d+) Gb\/s = 60% of the lowest warm-up \(([\d., ]+) Gb\/s\)/.exec(
          r.stderr,
        );
      expect(m, r.stderr).not.toBeNull();
      const warmups = m![2].split(', ').map(Number);
      const run = readRun(r.stdout);
      const offers = run.suites[0].variants.map((v) => v.offeredGbps);
      expect(offers[0]).toBeCloseTo(SHARED_OFFER_SHARE * Math.min(...warmups), 2);
      expect(offers[1]).toBe(offers[0]);
      expect(run.options.loadModel).toBe('auto');
      for (const v of run.suites[0].variants) {
        for (const rep of v.repetitions) {
          // The open model ran it (its note), and measured TTFB and the client's demand too.
          expect(rep.notes.some((n) => n.startsWith(`fixed throughput: ${offers[0]!.toFixed(3)} Gb/s offered`))).toBe(
            true,
          );
          expect(rep.metrics.ttfb_p99_ms).toBeGreaterThan(0);
          expect(rep.metrics.client_demand_pct).toBeGreaterThan(0);
        }
      }

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
      expect(file.variants['sendfile-on'].offeredGbps).toBe(offers[0]);

      const g = await cli(['gate', ...common, '--no-adaptive', '--json']);
      expect([0, 4], g.stdout + g.stderr).toContain(g.code);
      expect(g.stderr).toContain(`offered ${offers[0]!.toFixed(3)} Gb/s = the reference's offer`);
      const gated = readRun(g.stdout);
      expect(gated.suites[0].variants.map((v) => v.offeredGbps)).toEqual(offers);
      expect(gated.comparison!.comparisons.filter((c) => /offered load/.test(c.rule ?? ''))).toEqual([]);

      const closed = await cli(['gate', ...common, '--no-adaptive', '--load-model', 'closed', '--json']);
      expect(closed.code, closed.stdout + closed.stderr).toBe(4);
      const cmp = readRun(closed.stdout).comparison!;
      expect(cmp.comparisons.length).toBeGreaterThan(0);
      for (const c of cmp.comparisons) {
        expect(c.verdict).toBe('inconclusive');
        expect(c.rule).toMatch(
          new RegExp(
            `^offered load differs: this run ran this variant at the closed model \\(full load\\), the reference baseline at a fixed ${offers[0]!.toFixed(3)}`,
          ),
        );
      }
    },
    240_000,
  );
});
