import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baselinesAsReference, listBaselines, loadBaselines, promoteRun, readBaseline } from '../../harness/store/baselines.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { makeRun } from '../helpers/records.js';
import { withFileSizeLimit } from '../helpers/fsize.js';
import { tempDir } from '../helpers/temp.js';

const tmp = () => tempDir('hg-bl-');
const samples = { throughput_gbps: [10, 11, 10.5], latency_p99_ms: [5, 6, 5.5], errors: [0, 0, 0] };

describe('baseline store', () => {
  it('promotes with who/when/why and the samples, and keeps the previous file in history', async () => {
    const dir = tmp();
    const [f] = await promoteRun(makeRun({ 'sendfile-on': samples }), { dir, reason: 'first', who: 'alice' });
    const b = await readBaseline(f);
    expect(b).toMatchObject({ profile: 'test-profile', suite: 'sendfile', promotedBy: 'alice', reason: 'first', sourceRun: 'r1', previous: null });
    expect(b.variants['sendfile-on'].samples.throughput_gbps).toEqual(samples.throughput_gbps);
    const [f2] = await promoteRun(makeRun({ 'sendfile-on': samples }, { runId: 'r2' }), { dir, reason: 'second', who: 'bob' });
    expect(f2).toBe(f);
    const b2 = await readBaseline(f2);
    expect(b2.previous).toMatch(/^test-profile\/history\/sendfile\./);
    expect(readdirSync(path.join(dir, 'test-profile', 'history'))).toHaveLength(1);
    expect((await readBaseline(path.join(dir, b2.previous!))).reason).toBe('first');
    expect((await listBaselines(dir)).map((x) => x.suite)).toEqual(['sendfile']);
  });

  it('refuses a hand-edited baseline (checksum) with exit 2 and the file named', async () => {
    const dir = tmp();
    const [f] = await promoteRun(makeRun({ 'sendfile-on': samples }), { dir, reason: 'x' });
    writeFileSync(f, readFileSync(f, 'utf8').replace('"reason": "x"', '"reason": "y"'));
    const e = (await readBaseline(f).catch((x) => x)) as HeadgateError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(f);
    expect(e.message).toMatch(/checksum mismatch/);
    writeFileSync(f, '{"schemaVersion": 1, "profile": 3}');
    expect(((await readBaseline(f).catch((x) => x)) as HeadgateError).message).toMatch(/invalid baseline: .*\/profile: must be string/);
  });

  it('refuses runs that are incomplete or failed payload verification', async () => {
    const dir = tmp();
    await expect(promoteRun(makeRun({ a: samples }, { status: 'incomplete' }), { dir, reason: 'x' })).rejects.toThrow(/only complete runs/);
    const bad = makeRun({ a: samples });
    bad.suites[0].variants[0].repetitions[1].verification = { verified: 9, failed: 1, failures: [{ path: '/seg/0001.m4s', reason: 'short body' }] };
    await expect(promoteRun(bad, { dir, reason: 'x' })).rejects.toThrow(/verification failures/);
    await expect(promoteRun(makeRun({ a: samples }), { dir, reason: '  ' })).rejects.toThrow(/--reason/);
  });

  it('a promote whose write fails half-way (file-size limit, as a full disk) leaves the old baseline current and history/ clean', async () => {
    const dir = tmp();
    const [f] = await promoteRun(makeRun({ 'sendfile-on': samples }), { dir, reason: 'first', who: 'alice' });
    const size = readFileSync(f).length;
    // The new baseline is far larger than the limit: its write stops after `limit` bytes with EFBIG.
    const limit = size + 1024;
    const r = await withFileSizeLimit(
      tmp(),
      [`import { promoteRun } from '~/harness/store/baselines.ts';`, `import { makeRun } from '~/test/helpers/records.ts';`],
      `const big = Array.from({ length: 400 }, (_, i) => 10 + i / 1000);
const run = makeRun({ 'sendfile-on': { throughput_gbps: big, latency_p99_ms: big, errors: big.map(() => 0) } }, { runId: 'r2' });
await limit();
try {
  await promoteRun(run, { dir: ${JSON.stringify(dir)}, reason: 'second', who: 'bob' });
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, exitCode: e.exitCode, message: e.message }));
}`,
      limit,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toMatchObject({ ok: false, exitCode: 3 });
    expect(out.message).toContain(f);
    expect(out.message).toMatch(/EFBIG/);
    // The old baseline is still the current one, whole (its checksum holds).
    const b = await readBaseline(f);
    expect(b).toMatchObject({ reason: 'first', sourceRun: 'r1' });
    expect(readFileSync(f).length).toBe(size);
    // No temp file beside it, nothing (half or whole) in history/.
    expect(readdirSync(path.dirname(f))).toEqual(['sendfile.json']);
    const history = path.join(dir, 'test-profile', 'history');
    expect(existsSync(history) ? readdirSync(history) : []).toEqual([]);
    // Without the limit the same promote goes through and history/ holds the whole old file.
    const [f2] = await promoteRun(makeRun({ 'sendfile-on': samples }, { runId: 'r2' }), { dir, reason: 'second', who: 'bob' });
    const b2 = await readBaseline(f2);
    expect(b2.reason).toBe('second');
    expect(readdirSync(history)).toHaveLength(1);
    expect((await readBaseline(path.join(dir, b2.previous!))).reason).toBe('first');
    expect(readdirSync(path.dirname(f))).toEqual(['history', 'sendfile.json']);
  });

  it('serves samples as a comparison reference', async () => {
    const dir = tmp();
    await promoteRun(makeRun({ 'sendfile-on': samples }), { dir, reason: 'x' });
    const ref = baselinesAsReference(await loadBaselines(dir, 'test-profile', ['sendfile', 'other']), dir, 'test-profile')!;
    expect(ref.samples('sendfile', 'sendfile-on', 'latency_p99_ms')).toEqual(samples.latency_p99_ms);
    expect(ref.samples('sendfile', 'nope', 'latency_p99_ms')).toBeUndefined();
    expect(baselinesAsReference([], dir, 'p')).toBeNull();
  });

  it("keeps each repetition's tail sample counts, checksummed, for the thin-percentile rule", async () => {
    const dir = tmp();
    const run = makeRun({ 'sendfile-on': samples });
    run.suites[0].variants[0].repetitions.forEach((r, i) => (r.tailSamples = { latency_p99_ms: 4 + i }));
    const [f] = await promoteRun(run, { dir, reason: 'x' });
    const ref = baselinesAsReference(await loadBaselines(dir, 'test-profile', ['sendfile']), dir, 'test-profile')!;
    expect(ref.tailSamples?.('sendfile', 'sendfile-on', 'latency_p99_ms')).toEqual([4, 5, 6]);
    expect(ref.tailSamples?.('sendfile', 'sendfile-on', 'throughput_gbps')).toBeUndefined();
    // Editing a count is editing the baseline: refused by the checksum.
    const doc = JSON.parse(readFileSync(f, 'utf8'));
    doc.variants['sendfile-on'].tailSamples.latency_p99_ms[0] = 40;
    writeFileSync(f, JSON.stringify(doc, null, 2));
    await expect(readBaseline(f)).rejects.toThrow(/checksum mismatch/);
  });
});
