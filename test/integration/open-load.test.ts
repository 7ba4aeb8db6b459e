import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { runHttpLoad, type ExpectedObject } from '../../harness/probes/http.js';
import { materializeObjects } from '../../harness/probes/objects.js';
import { runOpenLoad } from '../../harness/probes/open.js';
import { CARRIED_SHARE } from '../../harness/verdict/offered.js';
import { startNginx, type HttpServer } from '../../harness/drivers/servers/nginx.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { tempDir } from '../helpers/temp.js';

describe('open-model load (fixed arrival rate, real nginx on loopback)', () => {
  const stack = new CleanupStack();
  const dir = tempDir('hg-open-');
  const root = path.join(dir, 'objects');
  let fast: HttpServer;
  let slow: { baseUrl: string };
  let box: ExpectedObject[];
  // Service time of the slow server. nginx's limit_rate lets the first second's worth of bytes
  // through at once, so it cannot make a small object slow; a server that holds every response
  // this long, one at a time, has a capacity of exactly 1000 / SERVICE_MS requests a second.
  const SERVICE_MS = 100;

  beforeAll(async () => {
    const { manifest, bodies } = await materializeObjects(root, 9, 2);
    box = manifest.objects.filter((o) => o.kind === 'boxart').map((o) => ({ path: o.path, body: bodies.get(o.path)! }));
    const target = new LocalTarget();
    const spec = { suite: 'open', root, address: '127.0.0.1', workers: 1, variantDirectives: ['sendfile on'] };
    fast = await startNginx(
      target,
      { ...spec, variant: 'fast', prefix: path.join(dir, 'fast'), userDirectives: [] },
      stack,
    );
    const byPath = new Map(box.map((o) => [o.path, o.body]));
    let busyUntil = 0;
    const server = http.createServer((req, res) => {
      const body = byPath.get(req.url ?? '');
      // Serialised: a request that arrives while another is served waits for it, as on one worker.
      const start = Math.max(Date.now(), busyUntil);
      busyUntil = start + SERVICE_MS;
      setTimeout(() => {
        if (!body) res.writeHead(404).end();
        else res.writeHead(200, { 'content-length': body.length }).end(body);
      }, busyUntil - Date.now());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stack.push('stop the slow server', () => new Promise<void>((resolve) => server.close(() => resolve())));
    slow = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  });
  afterAll(async () => {
    await stack.unwind();
  });

  it('issues the scheduled number of requests and verifies every body', async () => {
    const r = await runOpenLoad({ baseUrl: fast.baseUrl, objects: box, rate: 100, durationSec: 2, connections: 4 });
    expect(r.requests).toBe(200);
    expect(r.errors).toBe(0);
    expect(r.verification).toEqual({ verified: 200, failed: 0, failures: [] });
    expect(r.latencyUs.count).toBe(200);
    // A server that keeps up carried the offer: the drain after the window is not counted against it.
    expect(r.requests / r.durationSec).toBeGreaterThanOrEqual(CARRIED_SHARE * 100);
  });

  it('a server that falls behind is not called carried: its rate is what it served, not the offer', async () => {
    // Three times the slow server's capacity for one second: it serves 1000 / SERVICE_MS a second.
    const rate = 3000 / SERVICE_MS;
    const r = await runOpenLoad({ baseUrl: slow.baseUrl, objects: box, rate, durationSec: 1, connections: 1 });
    expect(r.requests).toBe(rate);
    expect(r.requests / r.durationSec).toBeLessThan(1.25 * (1000 / SERVICE_MS));
    expect(r.requests / r.durationSec).toBeLessThan(CARRIED_SHARE * rate);
  }, 60_000);

  it('counts queueing behind a stalled server as latency (no coordinated omission), unlike the closed model', async () => {
    const closed = await runHttpLoad({ baseUrl: slow.baseUrl, objects: box, connections: 1, durationSec: 2 });
    const rate = 3000 / SERVICE_MS; // three times the capacity, for one second
    const open = await runOpenLoad({ baseUrl: slow.baseUrl, objects: box, rate, durationSec: 1, connections: 1 });
    expect(open.verification.failed).toBe(0);
    expect(open.requests).toBe(rate);
    // The closed loop waits for each response, so its latency is the service time.
    expect(closed.latencyUs.p50).toBeGreaterThanOrEqual(SERVICE_MS * 1000 * 0.9);
    expect(closed.latencyUs.p99).toBeLessThan(SERVICE_MS * 1000 * 2);
    // Arrivals at three times the capacity queue up: request i, due at i/rate, completes at
    // (i+1)·service, so it waited i·(service - 1/rate) = i·2/3 service past its schedule. The open
    // model must report that wait (half the queue waited at least 14·2/3 ≈ 9 service times);
    // the closed model would report one.
    const waitedUs = (i: number) => i * (SERVICE_MS * 1000) * (1 - 1000 / SERVICE_MS / rate);
    expect(open.latencyUs.p50).toBeGreaterThan(0.8 * waitedUs(rate / 2 - 1));
    expect(open.latencyUs.p99).toBeGreaterThan(0.8 * waitedUs(rate - 2));
    expect(open.latencyUs.p99).toBeGreaterThan(8 * closed.latencyUs.p99);
  }, 60_000);

  it('stops on abort', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(
      runOpenLoad({
        baseUrl: fast.baseUrl,
        objects: box,
        rate: 50,
        durationSec: 30,
        connections: 2,
        signal: ac.signal,
      }),
    ).rejects.toThrow(/interrupted/);
  });
});

describe('--fixed-throughput: machine CPU at a fixed offered load (the fleet\'s "N Gb/s at M% CPU")', () => {
  const work = tempDir('hg-fixed-');
  it('offers a share of the warm-up capacity to the variant, carries it, and gates machine CPU % instead of CPU per Gb/s', async () => {
    const { cli } = await import('../helpers/cli.js');
    const { readFileSync } = await import('node:fs');
    const r = await cli([
      'run',
      '--suite',
      'sendfile',
      '--variant',
      'sendfile-on',
      '--quick',
      '--runs',
      '2',
      '--duration',
      '2',
      '--warmup',
      '2',
      '--fixed-throughput',
      '30%',
      '--out',
      path.join(work, 'r'),
      '--baselines',
      path.join(work, 'b'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(path.join(JSON.parse(r.stdout).runDir, 'run.json'), 'utf8'));
    const suite = run.suites[0];
    expect(suite.offeredGbps).toBeGreaterThan(0);
    for (const rep of suite.variants[0].repetitions) {
      expect(rep.notes.join(' ')).toMatch(/fixed throughput: [\d.]+ Gb\/s offered/);
      // 30% of what the warm-up carried is well within reach: the offered load was carried.
      expect(rep.metrics.throughput_gbps).toBeGreaterThan(0.8 * suite.offeredGbps);
      expect(rep.metrics.machine_cpu_pct).toBeGreaterThan(0);
      expect(rep.verification.failed).toBe(0);
    }
    const gating = (id: string) => suite.metrics.find((m: { id: string }) => m.id === id).gating;
    expect(gating('machine_cpu_pct')).toBe(true);
    expect(gating('machine_cpu_per_gbps')).toBe(false);
    // Bad input is one line naming the flag.
    const bad = await cli([
      'run',
      '--suite',
      'sendfile',
      '--fixed-throughput',
      '30%',
      '--warmup',
      '0',
      '--out',
      path.join(work, 'r'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--fixed-throughput 30%: a share of the capacity is measured in the warm-up, but --warmup is 0/,
    );
  }, 180_000);
});
