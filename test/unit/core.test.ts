import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { compareRun, runAsReference, runVerdict } from '../../harness/verdict/compare.js';
import { discoverSuites } from '../../harness/engine/discovery.js';
import { buildManifest, materializeObjects, objectBytes, planObjects } from '../../harness/probes/objects.js';
import { renderNginxConf } from '../../harness/drivers/servers/nginx.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

describe('cleanup stack', () => {
  it('undoes in reverse order and keeps going past a failing undo', async () => {
    const s = new CleanupStack();
    const done: string[] = [];
    s.push('a', () => void done.push('a'));
    s.push('b', () => {
      throw new Error('boom');
    });
    s.push('c', async () => void done.push('c'));
    const failures = await s.unwind();
    expect(done).toEqual(['c', 'a']);
    expect(failures).toEqual(['b: boom']);
    expect(s.size).toBe(0);
  });
});

describe('object set', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = buildManifest(1, 8).manifest;
    expect(buildManifest(1, 8).manifest).toEqual(a);
    expect(buildManifest(2, 8).manifest.objects[0].sha256).not.toBe(a.objects[0].sha256);
    expect(objectBytes(1, '/x', 100).equals(objectBytes(1, '/x', 100))).toBe(true);
  });
  it('mirrors the workload: box art tens of KiB, segments 1-16 MiB, about the requested total', () => {
    const p = planObjects(3, 96);
    const box = p.filter((o) => o.kind === 'boxart');
    const seg = p.filter((o) => o.kind === 'segment');
    expect(box.every((o) => o.size >= 16 * 1024 && o.size < 97 * 1024)).toBe(true);
    expect(seg.every((o) => o.size >= 2 ** 20 && o.size <= 16 * 2 ** 20)).toBe(true);
    const total = p.reduce((a, o) => a + o.size, 0) / 2 ** 20;
    expect(total).toBeGreaterThan(90);
    expect(total).toBeLessThan(96 + 16);
  });
  it('rewrites a set whose file on disk was corrupted', async () => {
    const dir = tempDir('hg-obj-');
    const { manifest } = await materializeObjects(dir, 1, 4);
    const f = path.join(dir, manifest.objects[0].path);
    const good = readFileSync(f);
    writeFileSync(f, Buffer.concat([good.subarray(0, 10), Buffer.from('X'), good.subarray(11)]));
    await materializeObjects(dir, 1, 4);
    expect(readFileSync(f).equals(good)).toBe(true);
  });
});

describe('nginx template', () => {
  const spec = { suite: 's', variant: 'v', prefix: '/p', root: '/r', address: '127.0.0.1', port: 1234, workers: 2, runAsRoot: false };
  it('a user directive replaces the variant directive of the same name', () => {
    const c = renderNginxConf({ ...spec, variantDirectives: ['sendfile on', 'tcp_nopush on'], userDirectives: ['sendfile off;', 'limit_rate 1m'] });
    expect(c).toContain('    sendfile off;');
    expect(c).not.toContain('sendfile on');
    expect(c).toContain('    tcp_nopush on;');
    expect(c).toContain('    limit_rate 1m;');
    expect(c).toContain('listen 127.0.0.1:1234;');
    expect(c).toContain('worker_processes 2;');
    expect(c).not.toMatch(/\{\{\w+\}\}/);
    expect(c).not.toContain('worker_cpu_affinity');
  });
  it('pins workers round robin with one bitmask per worker (rightmost bit is CPU 0)', () => {
    expect(renderNginxConf({ ...spec, workers: 1, cpus: [1], variantDirectives: [], userDirectives: [] })).toContain('worker_cpu_affinity 10;');
    expect(renderNginxConf({ ...spec, workers: 3, cpus: [2, 3], variantDirectives: [], userDirectives: [] })).toContain('worker_cpu_affinity 0100 1000 0100;');
  });
});

describe('verdict and exit code (decided by the core)', () => {
  const base = { throughput_gbps: [10, 10.2, 9.9, 10.1, 10.3, 9.8], latency_p99_ms: [5, 5.1, 4.9, 5, 5.2, 4.8], errors: [0, 0, 0, 0, 0, 0] };
  it('a 30% throughput drop is a regression (exit 1); the same samples pass (exit 0)', () => {
    const ref = runAsReference(makeRun({ v: base }));
    const slow = makeRun({ v: { ...base, throughput_gbps: base.throughput_gbps.map((x) => x * 0.7) } });
    const c = compareRun(slow, ref, { alpha: 0.05 });
    expect(c.exitCode).toBe(1);
    expect(c.comparisons.find((x) => x.metric === 'throughput_gbps')!.verdict).toBe('regressed');
    expect(c.summary).toMatch(/throughput_gbps -3\d\.\d%/);
    expect(compareRun(makeRun({ v: base }), ref, { alpha: 0.05 }).exitCode).toBe(0);
  });
  it('with --baseline-variant, variants are compared with another reference variant', () => {
    const ref = runAsReference(makeRun({ on: base }));
    const c = compareRun(makeRun({ off: base }), ref, { alpha: 0.05, referenceVariant: 'on' });
    expect(c.comparisons[0]).toMatchObject({ variant: 'off', referenceVariant: 'on' });
    expect(compareRun(makeRun({ off: base }), ref, { alpha: 0.05 }).missing[0]).toMatch(/no samples for variant off/);
  });
  it('inconclusive exits 4 unless the CI policy maps it to pass or fail', () => {
    const ref = runAsReference(makeRun({ v: base }));
    // Looks 10% worse; the evidence is suggestive (p_adj 0.13) but not significant at 0.05.
    const noisy = makeRun({ v: { ...base, throughput_gbps: [10.05, 8.1, 9.85, 8.0, 10.15, 8.2] } });
    const c = compareRun(noisy, ref, { alpha: 0.05 });
    expect(c.comparisons.find((x) => x.metric === 'throughput_gbps')!.verdict).toBe('inconclusive');
    expect(c.exitCode).toBe(4);
    // Weaker evidence of the same estimate is no reason to hold a merge: unchanged.
    const weak = compareRun(makeRun({ v: { ...base, throughput_gbps: [10.4, 6.1, 9.9, 7.0, 10.2, 8.0] } }), ref, { alpha: 0.05 });
    expect(weak.comparisons.find((x) => x.metric === 'throughput_gbps')!.rule).toMatch(/^no significant change beyond the 5\.0% threshold \(11\.4% worse by estimate, p_adj=0\.3\d\)$/);
    expect(compareRun(noisy, ref, { alpha: 0.05, onInconclusive: 'pass' }).exitCode).toBe(0);
    expect(compareRun(noisy, ref, { alpha: 0.05, onInconclusive: 'fail' }).exitCode).toBe(1);
  });
  it('payload failure beats everything; infrastructure beats inconclusive; no baseline passes', () => {
    expect(runVerdict({ comparisons: [], integrityFailures: ['x'], infraErrors: ['y'], hasReference: true })).toEqual({ verdict: 'fail', exitCode: 1 });
    expect(runVerdict({ comparisons: [], integrityFailures: [], infraErrors: ['y'], hasReference: true })).toEqual({ verdict: 'error', exitCode: 3 });
    expect(runVerdict({ comparisons: [], integrityFailures: [], infraErrors: [], hasReference: false })).toEqual({ verdict: 'no-baseline', exitCode: 0 });
    const bad = makeRun({ v: base });
    bad.suites[0].variants[0].repetitions[0].verification = { verified: 1, failed: 2, failures: [{ path: '/a', reason: 'content differs from expected at byte 7' }] };
    const c = compareRun(bad, null, { alpha: 0.05 });
    expect(c.exitCode).toBe(1);
    expect(c.integrityFailures[0]).toMatch(/\/a: content differs from expected at byte 7/);
  });
  it('a reference that compares nothing fails closed (exit 2), it never passes', () => {
    const ref = runAsReference(makeRun({ v: base }));
    // The run measured variant w; the reference only has v (a misspelt --baseline-variant, a renamed variant).
    const c = compareRun(makeRun({ w: base }), ref, { alpha: 0.05 });
    expect(c.comparisons.filter((x) => x.gating)).toEqual([]);
    expect(c).toMatchObject({ verdict: 'error', exitCode: 2 });
    expect(c.summary).toMatch(/^nothing compared: .*cannot pass$/);
    expect(compareRun(makeRun({ w: base }), ref, { alpha: 0.05, referenceVariant: 'nope' }).exitCode).toBe(2);
    // Without any reference the run says so and passes: that is the first run of a profile.
    expect(compareRun(makeRun({ w: base }), null, { alpha: 0.05 })).toMatchObject({ verdict: 'no-baseline', exitCode: 0 });
  });
});

describe('suite discovery', () => {
  it('finds the shipped suites from their folders, manifests validated', async () => {
    const suites = await discoverSuites();
    expect(suites.map((s) => s.manifest.id)).toContain('sendfile');
  });
  it('a broken suite manifest is an input error naming the file and key', async () => {
    const dir = tempDir('hg-suites-');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(dir, 'bad'));
    writeFileSync(path.join(dir, 'bad', 'suite.json'), JSON.stringify({ schemaVersion: 1, id: 'bad', title: 't', feature: 'f', description: 'd', os: ['linux'], variants: [{ id: 'x', description: 'd', nginx: 'sendfile on' }], metrics: [] }));
    const e = await discoverSuites(dir).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(path.join(dir, 'bad', 'suite.json'));
    expect(e.message).toContain('/variants/0/nginx: must be array');
    expect(e.message).toContain('/metrics: must NOT have fewer than 1 items');
  });
});

describe('comparability of options', () => {
  it('flags a reference measured with other load options', async () => {
    const { optionDifferences } = await import('../../harness/verdict/compare.js');
    const a = makeRun({ v: { throughput_gbps: [1, 2] } }).options;
    expect(optionDifferences(a, { ...a })).toEqual([]);
    expect(optionDifferences(a, { ...a, durationSec: 10, serverDirectives: ['limit_rate 1m'] })).toEqual([
      'run option duration (s): 2 -> 10',
      'run option server directives: [] -> ["limit_rate 1m"]',
    ]);
  });
});
