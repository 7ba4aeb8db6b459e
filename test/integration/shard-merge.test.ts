import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../harness/model/types.js';
import { cli } from '../helpers/cli.js';

// A gate split over three "CI agents" (three CLI invocations, one after another: two cores) and
// joined with `headgate merge`, as the pipelines in ci/ do.
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hg-shard-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const readRun = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8')) as RunRecord;

describe('gate --shard i/n and headgate merge', () => {
  it('three shards cover the suites once each; merged they make one run, one verdict, one report', async () => {
    const reports = path.join(work, 'reports');
    const baselines = path.join(work, 'baselines');
    const common = ['gate', '--suite', 'sendfile,ktls,io-sched', '--variant', 'sendfile-on,userspace-tls13,none', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--out', reports, '--baselines', baselines, '--json'];
    const shardDirs: string[] = [];
    const suitesPerShard: string[][] = [];
    for (const i of [1, 2, 3]) {
      const r = await cli([...common, '--shard', `${i}/3`]);
      expect(r.code, r.stderr).toBe(0);
      const dir = JSON.parse(r.stdout).runDir as string;
      const run = await readRun(dir);
      expect(run.shard).toEqual({ index: i, count: 3, targetShards: [1, 2, 3], targets: ['local'] });
      shardDirs.push(dir);
      suitesPerShard.push(run.suites.map((s) => s.id));
    }
    expect(suitesPerShard.flat().sort()).toEqual(['io-sched', 'ktls', 'sendfile']);
    expect(suitesPerShard.every((s) => s.length === 1)).toBe(true);

    const m = await cli(['merge', ...shardDirs, '--out', reports, '--baselines', baselines, '--json']);
    // No baseline yet: merge (a pipeline's verdict) requires one, exit 2; the merged run is kept.
    expect(m.code, m.stderr).toBe(2);
    const out = JSON.parse(m.stdout) as { exitCode: number; runs: { runDir: string; verdict: string }[] };
    expect(out.runs).toHaveLength(1);
    const merged = await readRun(out.runs[0].runDir);
    expect(merged.suites.map((s) => s.id)).toEqual(['sendfile', 'ktls', 'io-sched']);
    expect(merged.mergedFrom).toHaveLength(3);
    expect(merged.status).toBe('complete');
    expect(merged.comparison?.verdict).toBe('no-baseline');
    for (const f of ['summary.md', 'junit.xml', path.join('allure-report-single', 'index.html')]) expect(existsSync(path.join(out.runs[0].runDir, f))).toBe(true);
    const nginxConf = merged.suites[0].variants[0].artifacts['nginx.conf'];
    expect(existsSync(path.join(out.runs[0].runDir, nginxConf))).toBe(true);

    // The merged run can be the baseline; the same shards merged again compare as a pass with it.
    const p = await cli(['baseline', 'promote', out.runs[0].runDir, '--reason', 'sharded reference', '--baselines', baselines]);
    expect(p.code, p.stderr).toBe(0);
    const again = await cli(['merge', ...shardDirs, '--out', reports, '--baselines', baselines, '--json']);
    // Identical samples are unchanged on every metric, except throughput measured while the load
    // generator was the bottleneck (userspace TLS on a 2-core box): that is inconclusive, never a pass.
    const rerun = await readRun(JSON.parse(again.stdout).runs[0].runDir);
    const clientBound = (c: { suite: string; variant: string }) => rerun.suites.find((s) => s.id === c.suite)!.variants.find((v) => v.id === c.variant)!.repetitions.some((r) => r.clientBound);
    for (const c of rerun.comparison!.comparisons.filter((x) => x.gating)) {
      if (c.unit.endsWith('/s') && clientBound(c)) expect(c.verdict, `${c.suite}/${c.variant} ${c.metric}`).toBe('inconclusive');
      else expect(c.verdict, `${c.suite}/${c.variant} ${c.metric}`).toBe('unchanged');
    }
    expect(again.code, again.stderr).toBe(rerun.comparison!.comparisons.some((c) => c.verdict === 'inconclusive') ? 4 : 0);
    expect(JSON.parse(again.stdout).runs[0].verdict).toBe(again.code === 4 ? 'inconclusive' : 'pass');

    // Release review: one Allure report over all five runs, with the history of each.
    const runs = [...shardDirs, out.runs[0].runDir, JSON.parse(again.stdout).runs[0].runDir];
    const release = path.join(work, 'release');
    const rr = await cli(['report', ...runs, '--out', reports, '--release-out', release, '--title', 'head merge 2026-11']);
    expect(rr.code, rr.stderr).toBe(0);
    const summary = await readFile(path.join(release, 'summary.md'), 'utf8');
    expect(summary).toContain('# headgate release review: head merge 2026-11');
    for (const d of runs) expect(summary).toContain(path.basename(d));
    const trend = JSON.parse(await readFile(path.join(release, 'allure-report', 'history', 'history-trend.json'), 'utf8')) as unknown[];
    expect(trend).toHaveLength(runs.length);
    expect(existsSync(path.join(release, 'allure-report-single', 'index.html'))).toBe(true);
  }, 300_000);

  it('a missing shard is exit 2 naming it', async () => {
    const r = await cli(['merge', path.join(work, 'nope'), '--out', path.join(work, 'reports')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/headgate: .*nope: no run found/);
  });
});
