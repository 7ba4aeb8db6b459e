import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { $ } from 'zx';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../harness/model/types.js';
import { cli, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// Every suite in its quick form through the real CLI, on this machine's kernel: real nginx
// (HTTP and HTTPS), real Chromium, real fio on a loop device, real iperf3 and nginx through a
// namespace bottleneck. What this kernel lacks must show up as a skip with its reason.
const work = tempDir('hg-suites-');
const reports = path.join(work, 'reports');
const readRun = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;
const sys = (p: string) => readFileSync(p, 'utf8').trim();
const loopSchedulers = () =>
  readdirSync('/sys/block')
    .filter((d) => d.startsWith('loop'))
    .map((d) => `${d}=${sys(`/sys/block/${d}/queue/scheduler`)}`);
const ALLOWED_CC = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
const tracefsMounts = () => sys('/proc/mounts').split('\n').filter((l) => l.split(' ')[2] === 'tracefs');
const CC = '/proc/sys/net/ipv4/tcp_congestion_control';

describe('every suite, quick form, on this machine', () => {
  let run: RunRecord;
  let runDir: string;
  let code: number | null;
  let before: { allowed: string; cc: string; loops: string[]; tracefs: string[] };
  const variant = (s: string, v: string) => run.suites.find((x) => x.id === s)!.variants.find((x) => x.id === v)!;
  const metric = (s: string, v: string, m: string) => variant(s, v).repetitions.map((r) => r.metrics[m]);

  beforeAll(async () => {
    before = { allowed: sys(ALLOWED_CC), cc: sys(CC), loops: loopSchedulers(), tracefs: tracefsMounts() };
    // No --suite: the gate runs every suite; no baseline here, so the verdict is no-baseline (exit 0).
    const r = await cli(['gate', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--out', reports, '--baselines', path.join(work, 'baselines'), '--json']);
    code = r.code;
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    runDir = (JSON.parse(r.stdout) as { runDir: string }).runDir;
    run = readRun(runDir);
  }, 600_000);

  it('runs all seven suites; nothing errors; every skip carries its reason into run.json and summary.md', () => {
    expect(code).toBe(0);
    expect(run.suites.map((s) => s.id).sort()).toEqual(['io-sched', 'ktls', 'pbuf', 'sendfile', 'tcp-log', 'tcp-stack', 'unmapped-mbufs']);
    expect(run.errors).toEqual([]);
    const summary = readFileSync(path.join(runDir, 'summary.md'), 'utf8');
    for (const s of run.suites) {
      if (s.status === 'skipped') expect(summary).toContain(s.reason!);
      for (const v of s.variants) {
        expect(v.status, `${s.id}/${v.id}: ${v.reason}`).not.toBe('error');
        if (v.status === 'skipped') {
          expect(v.reason).toBeTruthy();
          expect(summary).toContain(`${s.id}/${v.id}: ${v.reason}`);
        } else expect(v.repetitions).toHaveLength(2);
      }
    }
    const um = run.suites.find((s) => s.id === 'unmapped-mbufs')!;
    expect(um.status).toBe('skipped');
    expect(um.reason).toMatch(/^not applicable on linux: Linux has no unmapped-mbuf knob/);
  });

  it('ktls: user-space TLS runs with the negotiated protocol recorded; kTLS runs with proof, or skips because the kernel lacks it', () => {
    expect(variant('ktls', 'userspace-tls13').repetitions[0].notes).toContain('TLS: TLSv1.3 TLS_AES_128_GCM_SHA256');
    expect(variant('ktls', 'userspace-tls12').repetitions[0].notes).toContain('TLS: TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256');
    const k = variant('ktls', 'ktls-tls13');
    if (!existsSync('/proc/net/tls_stat')) {
      expect(k).toMatchObject({ status: 'skipped', reason: expect.stringContaining('/proc/net/tls_stat absent') });
    } else {
      expect(k.status).toBe('ran');
      for (const r of k.repetitions) expect(r.proofFailures ?? []).toEqual([]);
    }
    for (const v of ['userspace-tls13', 'userspace-tls12']) for (const r of variant('ktls', v).repetitions) expect(r.verification).toMatchObject({ failed: 0 });
  });

  it('ktls browser client: Chromium fetched box art and segments over HTTPS, every SHA-256 matched, Resource Timing recorded', () => {
    const b = variant('ktls', 'browser-tls13');
    expect(b.status).toBe('ran');
    for (const r of b.repetitions) {
      expect(r.verification.failed).toBe(0);
      expect(r.verification.verified).toBeGreaterThan(8); // more than the box art: segments were read too
      expect(r.metrics.browser_ttfb_ms).toBeGreaterThan(0);
      expect(r.metrics.browser_tls_ms).toBeGreaterThan(0);
      expect(r.notes[0]).toMatch(/TLS TLSv1.3/);
    }
  });

  it('sendfile and pbuf: cold variants read from disk (the proof held), hot ones did not', () => {
    for (const [s, cold, hot] of [
      ['sendfile', 'sendfile-on-cold', 'sendfile-on'],
      ['pbuf', 'cold-sendfile', 'hot-sendfile'],
    ]) {
      for (const r of variant(s, cold).repetitions) expect(r.proofFailures ?? []).toEqual([]);
      const coldPct = Math.min(...metric(s, cold, 'disk_read_pct'));
      const hotPct = Math.max(...metric(s, hot, 'disk_read_pct'));
      expect(coldPct, `${s}: cold ${coldPct}% vs hot ${hotPct}%`).toBeGreaterThan(hotPct);
    }
    expect(metric('pbuf', 'cold-sendfile', 'ttfb_p99_ms').every((x) => x > 0)).toBe(true);
  });

  it('io-sched: one fio result per scheduler on a loop device that is gone afterwards, schedulers as found', async () => {
    // What this kernel offers, read here from any loop device: an offered scheduler runs, one the
    // kernel lacks (bfq is often a module, or not built) is a skip that says so.
    const offered = new Set(loopSchedulers().flatMap((l) => l.split('=')[1].replace(/[[\]]/g, '').split(/\s+/)));
    expect(offered.has('none')).toBe(true);
    for (const v of ['none', 'mq-deadline', 'kyber', 'bfq']) {
      if (!offered.has(v)) {
        expect(variant('io-sched', v)).toMatchObject({ status: 'skipped', reason: expect.stringContaining(`I/O scheduler ${v} not built into this kernel`) });
        continue;
      }
      expect(variant('io-sched', v).status).toBe('ran');
      expect(metric('io-sched', v, 'read_p99_ms').every((x) => x > 0)).toBe(true);
      expect(metric('io-sched', v, 'write_mbps').every((x) => x > 0)).toBe(true);
    }
    expect(loopSchedulers()).toEqual(before.loops);
    const attached = await $`losetup -a`;
    expect(attached.stdout).not.toContain(runDir);
    expect(readdirSync(runDir).filter((f) => f.endsWith('.img'))).toEqual([]);
  });

  it('tcp-stack: each algorithm really sent through the bottleneck; namespaces and congestion settings are as found', async () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'suites', 'tcp-stack', 'suite.json'), 'utf8'));
    for (const v of ['cubic', 'bbr', 'reno']) {
      const rate = manifest.variants.find((x: { id: string }) => x.id === v).params['imp.rateMbit'];
      const vr = variant('tcp-stack', v);
      expect(vr.status).toBe('ran');
      for (const r of vr.repetitions) {
        expect(r.notes[0]).toBe(`iperf3: 2 flows, congestion control ${v}`);
        // The goodput is capped by the tbf on the middle hop (a little slack for measurement edges).
        expect(r.metrics.goodput_mbps).toBeLessThanOrEqual(rate * 1.05);
        expect(r.metrics.goodput_mbps).toBeGreaterThan(rate * 0.3);
        expect(r.verification.failed).toBe(0);
        expect(r.verification.verified).toBeGreaterThan(0);
      }
    }
    const ns = await $`ip netns list`;
    expect(ns.stdout).not.toMatch(/^hg-[sm]-/m);
    expect(sys(ALLOWED_CC)).toBe(before.allowed);
    expect(sys(CC)).toBe(before.cc);
  });

  it('tcp-log: the tcp tracepoints wrote records only with logging on; tracefs and its instances are as found', () => {
    const on = variant('tcp-log', 'log-on');
    const off = variant('tcp-log', 'log-off');
    expect([on.status, off.status]).toEqual(['ran', 'ran']);
    for (const r of on.repetitions) {
      expect(r.proofFailures ?? []).toEqual([]);
      expect(r.counters['tcplog.records']).toBeGreaterThan(0);
      expect(r.metrics.log_records_per_gb).toBeGreaterThan(0);
      expect(r.verification.failed).toBe(0);
    }
    for (const r of off.repetitions) expect(r.counters['tcplog.records']).toBeUndefined();
    expect(tracefsMounts()).toEqual(before.tracefs);
    const root = before.tracefs[0]?.split(' ')[1];
    if (root) expect(readdirSync(path.join(root, 'instances')).filter((d) => d.startsWith('hg-'))).toEqual([]);
  });
});

describe('proof of engagement', () => {
  it('a variant whose proof counter does not move fails the gate (exit 1) even without a baseline', async () => {
    // The sendfile suite's hot variant, told to expect more disk reads than the run can make.
    const suites = path.join(work, 'suites');
    mkdirSync(path.join(suites, 'prooftest'), { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'suites', 'sendfile', 'suite.json'), 'utf8'));
    manifest.id = 'prooftest';
    const impossible = Number.MAX_SAFE_INTEGER;
    manifest.variants = [{ ...manifest.variants[0], expect: { linux: [{ counter: 'vmstat.pgpgin', atLeast: impossible, means: 'objects came from disk' }] } }];
    writeFileSync(path.join(suites, 'prooftest', 'suite.json'), JSON.stringify(manifest));
    writeFileSync(path.join(suites, 'package.json'), '{"type": "module"}\n');
    writeFileSync(path.join(suites, 'prooftest', 'index.ts'), `export { default } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'suites', 'sendfile', 'index.ts')).href)};\n`);
    const r = await cli(['gate', '--suite', 'prooftest', '--runs', '2', '--duration', '1', '--warmup', '0', '--quick', '--out', reports, '--baselines', path.join(work, 'none')], { HEADGATE_SUITES_DIR: suites });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/prooftest\/sendfile-on #1: feature not engaged: objects came from disk: vmstat.pgpgin moved by \d+, expected at least/);
  }, 120_000);
});
