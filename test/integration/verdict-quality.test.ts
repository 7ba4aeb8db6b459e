import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { $ } from 'zx';
import { describe, expect, it } from 'vitest';
import { DRIFT_MARGIN, type NoiseProfile } from '../../harness/verdict/noise.js';
import type { RunRecord } from '../../harness/model/types.js';
import { mulberry32 } from '../../harness/stats/shift.js';
import { cli, ROOT } from '../helpers/cli.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

// Calibration, A/B, history and bisection through the real CLI with real nginx and real load.
const work = tempDir('hg-vq-');
const reports = path.join(work, 'reports');
const baselines = path.join(work, 'baselines');
const short = ['--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '4', '--duration', '1', '--warmup', '0.5', '--out', reports, '--baselines', baselines];
const readRun = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;

describe('calibrate, then gate with calibrated thresholds', () => {
  it('stores per-metric A/A noise for the profile and the gate shows it next to each change', async () => {
    const c = await cli(['calibrate', ...short, '--sessions', '2']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/sendfile\/sendfile-on\/throughput_gbps\s*│\s*8\s*│\s*\d+\.\d%\s*│\s*\d+\.\d%/);
    const file = c.stdout.match(/wrote (\S+noise\.json)/)![1];
    const noise = JSON.parse(readFileSync(path.resolve(ROOT, file), 'utf8')) as NoiseProfile;
    const e = noise.metrics['sendfile/sendfile-on/throughput_gbps'];
    expect(e.residuals).toHaveLength(8);
    expect(noise.sourceRuns).toHaveLength(2);
    // Drift recomputed from the two sessions' own samples.
    const [a, b] = noise.sourceRuns.map((id) => readRun(path.join(reports, id)).suites[0].variants[0].repetitions.map((r) => r.metrics.throughput_gbps));
    const diffs = a.flatMap((x) => b.map((y) => y - x)).sort((p, q) => p - q);
    const hl = (diffs[diffs.length / 2 - 1] + diffs[diffs.length / 2]) / 2;
    const med = [...a].sort((p, q) => p - q);
    expect(e.drift).toBeCloseTo(Math.abs(hl / ((med[1] + med[2]) / 2)), 3);

    const r = await cli(['run', ...short, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const runDir = JSON.parse(r.stdout).runDir as string;
    expect((await cli(['baseline', 'promote', runDir, '--reason', 'test', '--baselines', baselines])).code).toBe(0);
    const g = await cli(['gate', ...short, '--max-runs', '8', '--json']);
    expect([0, 4], g.stdout + g.stderr).toContain(g.code);
    const run = readRun(JSON.parse(g.stdout).runDir);
    const tp = run.comparison!.comparisons.find((x) => x.metric === 'throughput_gbps')!;
    expect(tp.noise).toEqual({ cv: e.cv, drift: e.drift, n: 8 });
    expect(tp.noiseFloor).toBe(Math.max(0.01, DRIFT_MARGIN * e.drift));
    expect(run.comparison!.plan).toMatchObject({ nMax: 8, batch: 2 });
    const v = run.suites[0].variants[0];
    expect(v.adaptive!.looks[0]).toBe(4);
    expect(v.repetitions.length).toBe(v.adaptive!.looks.at(-1));
    const md = readFileSync(path.join(JSON.parse(g.stdout).runDir, 'summary.md'), 'utf8');
    expect(md).toContain(`(noise ${(e.cv * 100).toFixed(1)}%, drift ${(e.drift * 100).toFixed(1)}%)`);
    expect(md).toContain(`4 vs ${v.repetitions.length}`);
    // The gate went into the history.
    const h = await cli(['history', '--suite', 'sendfile', '--metric', 'throughput_gbps', '--out', reports]);
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/sendfile\/sendfile-on throughput_gbps: 1 runs/);
  }, 300_000);

  it('bad input: one-line errors with exit 2', async () => {
    const one = await cli(['calibrate', ...short, '--sessions', '1']);
    expect(one.code).toBe(2);
    expect(one.stderr.trim()).toBe('headgate: --sessions 1: need at least 2 sessions to measure drift between them');
    const broken = path.join(work, 'baselines-broken');
    const prof = readdirSync(baselines)[0];
    mkdirSync(path.join(broken, prof), { recursive: true });
    writeFileSync(path.join(broken, prof, 'noise.json'), '{"schemaVersion": 1, "metrics": {"a/b/c": {"cv": -1}}}');
    const g = await cli(['gate', ...short, '--baselines', broken]);
    expect(g.code).toBe(2);
    expect(g.stderr.trim()).toBe(`headgate: ${path.join(broken, prof, 'noise.json')}: metrics/a/b/c: needs cv >= 0, drift >= 0 and residuals[]`);
    const h = await cli(['history', '--suite', 'sendfile', '--metric', 'nope', '--out', reports]);
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/no points for --suite sendfile --metric nope .*metrics recorded for sendfile: .*throughput_gbps/);
  });
});


describe('headgate ab: two configurations interleaved in one session', () => {
  it('two variants on one target: B is compared with A and both got the same repetitions', async () => {
    const r = await cli(['ab', '--suite', 'sendfile', '--a-variant', 'sendfile-on', '--b-variant', 'sendfile-off', '--quick', '--runs', '4', '--duration', '1', '--warmup', '0.5', '--max-runs', '6', '--out', reports, '--baselines', baselines, '--json']);
    expect([0, 1, 4], r.stderr).toContain(r.code);
    const out = JSON.parse(r.stdout);
    const run = readRun(out.runDir);
    const c = run.comparison!;
    expect(c.reference.kind).toBe('run');
    expect(c.comparisons.every((x) => x.variant === 'sendfile-off' && x.referenceVariant === 'sendfile-on')).toBe(true);
    const [a, b] = ['sendfile-on', 'sendfile-off'].map((id) => run.suites[0].variants.find((v) => v.id === id)!);
    expect(a.repetitions.length).toBe(b.repetitions.length);
    // Interleaved: A and B alternate in time.
    const times = [...a.repetitions.map((x) => ({ v: 'a', t: x.startedAt })), ...b.repetitions.map((x) => ({ v: 'b', t: x.startedAt }))].sort((p, q) => p.t.localeCompare(q.t));
    expect(times.map((x) => x.v).join('')).toMatch(/^(ab)+$/);
    expect(c.summary).toMatch(/^B \(sendfile-off\) against A \(sendfile-on\)/);
    // The exit code is the verdict's.
    expect(out.exitCode).toBe({ pass: 0, fail: 1, inconclusive: 4 }[c.verdict as 'pass']);
  }, 240_000);

  it('two targets of one profile: blocks alternate A B B A and B is judged against the joined A blocks', async () => {
    // Both "targets" are this machine: an A/A across two targets, so no regression may come out.
    const r = await cli(['ab', '--suite', 'sendfile', '--variant', 'sendfile-on', '--a-target', 'local', '--b-target', 'local', '--quick', '--runs', '4', '--duration', '1', '--warmup', '0.5', '--max-runs', '6', '--out', reports, '--baselines', baselines, '--json']);
    expect([0, 4], r.stdout + r.stderr).toContain(r.code);
    const b = readRun(JSON.parse(r.stdout).runDir);
    const blocksB = b.mergedFrom!;
    expect(blocksB.length).toBeGreaterThanOrEqual(2);
    const aId = r.stderr.match(/A joined as run (\S+)/)![1];
    const a = readRun(path.join(reports, aId));
    expect(a.mergedFrom!.length).toBe(blocksB.length);
    // Round 1 runs A then B, round 2 B then A: the blocks' start times interleave A B B A.
    const starts = [...a.mergedFrom!.map((id) => ({ s: 'A', t: readRun(path.join(reports, id)).startedAt })), ...blocksB.map((id) => ({ s: 'B', t: readRun(path.join(reports, id)).startedAt }))].sort((x, y) => x.t.localeCompare(y.t));
    expect(starts.slice(0, 4).map((x) => x.s).join('')).toBe('ABBA');
    const v = b.suites[0].variants[0];
    expect(v.repetitions.length).toBe(2 * blocksB.length);
    expect(v.repetitions.map((x) => x.index)).toEqual(v.repetitions.map((_, i) => i));
    expect(v.adaptive!.looks[0]).toBe(4);
    expect(b.comparison!.reference).toMatchObject({ kind: 'run', id: aId });
    expect(b.comparison!.comparisons.filter((c) => c.verdict === 'regressed')).toEqual([]);
  }, 300_000);

  it('A/A in one session with adaptive repetitions: the same server as B (limit_rate 0) is no regression', async () => {
    const r = await cli(['ab', '--suite', 'sendfile', '--variant', 'sendfile-on', '--b-server-directive', 'limit_rate 0', '--quick', '--runs', '6', '--duration', '1', '--warmup', '0.5', '--out', reports, '--baselines', baselines, '--json']);
    expect([0, 4], r.stdout + r.stderr).toContain(r.code);
    const run = readRun(JSON.parse(r.stdout).runDir);
    const b = run.suites[0].variants.find((v) => v.id === 'sendfile-on+b')!;
    expect(run.comparison!.comparisons.every((c) => c.variant === 'sendfile-on+b' && c.referenceVariant === 'sendfile-on')).toBe(true);
    expect(run.comparison!.comparisons.filter((c) => c.verdict === 'regressed')).toEqual([]);
    // One session: with the calibration of the first test, the threshold is the minimum effect,
    // not 3 x the drift between sessions (run alone, the suite floor applies).
    const tp = run.comparison!.comparisons.find((c) => c.metric === 'throughput_gbps')!;
    if (tp.noise) expect([tp.noiseFloor, tp.thresholdSource]).toEqual([0.01, expect.stringMatching(/one session, so drift cancels/)]);
    else expect(tp.thresholdSource).toBe('suite noise floor (not calibrated)');
    expect(readFileSync(path.join(JSON.parse(r.stdout).runDir, 'servers', 'sendfile-sendfile-on+b', 'nginx.conf'), 'utf8')).toContain('limit_rate 0;');
    expect(b.adaptive!.looks[0]).toBe(6);
  }, 240_000);

  it('refuses unclear requests with exit 2', async () => {
    const both = await cli(['ab', '--suite', 'sendfile', '--a-variant', 'sendfile-on', '--b-variant', 'sendfile-on']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/both sendfile-on; for an A\/A measurement use `headgate calibrate`/);
    const mixed = await cli(['ab', '--suite', 'sendfile', '--a-variant', 'x', '--a-target', 'local', '--b-target', 'local']);
    expect(mixed.code).toBe(2);
    const two = await cli(['ab', '--a-variant', 'sendfile-on', '--b-variant', 'sendfile-off']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/--suite must name exactly one suite/);
  });
});

describe('history: change points through the CLI and a crash mid-write', () => {
  it('finds the injected step in 50 recorded runs and none in a flat series', async () => {
    const dir = path.join(work, 'history-synthetic');
    const rnd = mulberry32(4);
    const noisy = (level: number) => level * Math.exp(0.015 * (rnd() + rnd() + rnd() - 1.5) * 2) * (rnd() < 0.05 ? 0.85 : 1);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const id = `2026110${Math.floor(i / 10)}T0${i % 10}0000Z-step${String(i).padStart(2, '0')}`;
      const tp = Array.from({ length: 6 }, () => noisy(i < 35 ? 10 : 9.4));
      const run = makeRun({ on: { throughput_gbps: tp, latency_p99_ms: tp.map((x) => 100 / x), errors: tp.map(() => 0) } }, { runId: id, startedAt: new Date(Date.UTC(2026, 10, 1 + i)).toISOString() });
      mkdirSync(path.join(dir, id), { recursive: true });
      writeFileSync(path.join(dir, id, 'run.json'), JSON.stringify(run));
      ids.push(path.join(dir, id));
    }
    const add = await cli(['history', '--add', ...ids, '--out', dir]);
    expect(add.code, add.stderr).toBe(0);
    const h = await cli(['history', '--suite', 'sendfile', '--metric', 'throughput_gbps', '--out', dir, '--json']);
    expect(h.code, h.stderr).toBe(0);
    const j = JSON.parse(h.stdout);
    expect(j.points).toHaveLength(50);
    expect(j.changePoints).toHaveLength(1);
    expect(Math.abs(j.changePoints[0].index - 35)).toBeLessThanOrEqual(2);
    expect(j.changePoints[0].relChange).toBeLessThan(-0.04);
    expect(j.changePoints[0].relChange).toBeGreaterThan(-0.08);
    const text = await cli(['history', '--suite', 'sendfile', '--metric', 'throughput_gbps', '--out', dir]);
    expect(text.stdout).toMatch(/[▁▂▃▄▅▆▇█]{50}/);
    expect(text.stdout).toMatch(/change point at run 2026110\dT0\d0000Z-step3[3-7]/);
    // The flat part alone (the first 35 runs) has no change point.
    const flatDir = path.join(work, 'history-flat');
    const add2 = await cli(['history', '--add', ...ids.slice(0, 35), '--out', flatDir]);
    expect(add2.code).toBe(0);
    const f = JSON.parse((await cli(['history', '--suite', 'sendfile', '--metric', 'throughput_gbps', '--out', flatDir, '--json'])).stdout);
    expect(f.points).toHaveLength(35);
    expect(f.changePoints).toEqual([]);
  }, 120_000);

  it('a writer killed mid-transaction leaves every run either whole or absent', async () => {
    const file = path.join(work, 'crash', 'history.sqlite');
    mkdirSync(path.dirname(file), { recursive: true });
    // A child records runs with 200 metric points each as fast as it can; SIGKILL lands mid-write.
    const script = path.join(work, 'crash', 'writer.mts');
    writeFileSync(
      script,
      `import { HistoryStore } from ${JSON.stringify(path.join(ROOT, 'harness/store/history.ts'))};
      import { makeRun } from ${JSON.stringify(path.join(ROOT, 'test/helpers/records.ts'))};
      const store = new HistoryStore(${JSON.stringify(file)});
      const xs = Array.from({ length: 6 }, (_, i) => 10 + i);
      const variants = Object.fromEntries(Array.from({ length: 100 }, (_, i) => ['v' + i, { throughput_gbps: xs, latency_p99_ms: xs }]));
      for (let i = 0; ; i++) { store.record(makeRun(variants, { runId: 'run' + String(i).padStart(6, '0') })); if (i === 5) process.stdout.write('go\\n'); }
      `,
    );
    // node with the tsx loader, not the tsx wrapper: SIGKILL must hit the writing process itself.
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const started = await Promise.race([
      new Promise<boolean>((resolve) => child.stdout!.on('data', () => resolve(true))),
      new Promise<boolean>((resolve) => child.on('close', () => resolve(false))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000)),
    ]);
    expect(started, 'the writer child did not start recording').toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const db = new Database(file);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const runs = db.prepare('SELECT run_id, (SELECT COUNT(*) FROM points p WHERE p.run_id = r.run_id) AS n FROM runs r').all() as { run_id: string; n: number }[];
      expect(runs.length).toBeGreaterThan(5);
      expect(runs.every((r) => r.n === 200)).toBe(true);
      expect((db.prepare('SELECT COUNT(*) AS n FROM points WHERE run_id NOT IN (SELECT run_id FROM runs)').get() as { n: number }).n).toBe(0);
    } finally {
      db.close();
    }
  }, 60_000);
});

describe('headgate bisect: the first slow commit of a test "kernel" repository', () => {
  it('finds it, skips the commit whose build fails, and leaves the repository where it was', async () => {
    const repo = path.join(work, 'kernel');
    const include = path.join(work, 'deployed.conf');
    writeFileSync(include, '');
    mkdirSync(repo);
    const g = $({ cwd: repo, quiet: true });
    await g`git init -q -b main && git config user.email t@example.invalid && git config user.name test`;
    // c0..c7: the "kernel" prints nginx directives; from c5 on it serves at a crawl; c3 does not build.
    for (let i = 0; i < 8; i++) {
      const body = i >= 5 ? 'limit_rate 2m;' : '# fast';
      writeFileSync(path.join(repo, 'kernel.sh'), `#!/bin/sh\n# kernel c${i}\n${i === 3 ? 'echo "syntax error in c3" >&2; exit 1\n' : ''}echo '${body}'\n`);
      await g`git add kernel.sh && git commit -q -m ${`c${i}${i === 5 ? ': the slow one' : ''}`}`;
    }
    const log = (await g`git log --format=%H --reverse`).stdout.trim().split('\n');
    const r = await cli([
      'bisect', '--repo', repo, '--good', log[0], '--bad', log[7],
      '--build-cmd', 'sh kernel.sh > build.out',
      '--deploy-cmd', `cp build.out ${include}`,
      // 6 vs 6 repetitions: complete separation (p = 1/924) can pass alpha 0.01 over 3 metrics.
      // --on-inconclusive pass does not make an undecided step good: bisect decides by the verdict.
      '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '6', '--duration', '1', '--warmup', '0.5', '--no-adaptive', '--on-inconclusive', 'pass',
      '--server-directive', `include ${include};`, '--out', reports, '--baselines', baselines, '--json',
    ]);
    const out = JSON.parse(r.stdout) as { code: number; steps: { commit: string; outcome: string; reason: string }[]; firstBad?: { commit: string }; candidates?: string[] };
    const at = (sha: string) => log.indexOf(sha);
    // Every verdict is on the right side of c5: nothing before it is bad, nothing from it on is good.
    for (const st of out.steps) {
      if (st.outcome === 'good') expect(at(st.commit), `${st.commit} good`).toBeLessThan(5);
      if (st.outcome === 'bad') expect(at(st.commit), `${st.commit} bad`).toBeGreaterThanOrEqual(5);
    }
    expect(out.steps.find((x) => at(x.commit) === 3)).toMatchObject({ outcome: 'skip', reason: expect.stringMatching(/^build failed \(exit 1\)/) });
    if (out.firstBad) {
      // Every step decided: exactly c5.
      expect(r.code).toBe(0);
      expect(out.firstBad.commit).toBe(log[5]);
    } else {
      // On this 2-core box the reference can be client-bound: fast commits are then undecided and
      // skipped (never good), and the answer is the honest range, which holds c5 and no bad commit after it.
      expect(r.code, r.stderr).toBe(4);
      expect(out.candidates).toContain(log[5]);
      for (const c of out.candidates!) expect(at(c), c).toBeGreaterThan(0);
      for (const c of out.candidates!) expect(at(c), c).toBeLessThanOrEqual(5);
    }
    expect((await g`git rev-parse --abbrev-ref HEAD`).stdout.trim()).toBe('main');
    expect(existsSync(path.join(repo, '.git', 'BISECT_LOG'))).toBe(false);
    expect(r.stderr).toContain(`bisect: ${repo} back at main`);
  }, 600_000);

  it('bad refs and a dirty tree are exit 2 before anything is built', async () => {
    const repo = path.join(work, 'kernel');
    const bad = await cli(['bisect', '--repo', repo, '--good', 'nope', '--bad', 'HEAD', '--build-cmd', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(`headgate: --good nope: no such commit in ${repo}`);
    writeFileSync(path.join(repo, 'kernel.sh'), 'dirty');
    const dirty = await cli(['bisect', '--repo', repo, '--good', 'HEAD~1', '--bad', 'HEAD', '--build-cmd', 'true']);
    expect(dirty.code).toBe(2);
    expect(dirty.stderr).toMatch(/the work tree has changes/);
  });
});
