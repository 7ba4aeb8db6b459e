import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { runHttpLoad, type ExpectedObject } from '../../harness/probes/http.js';
import { parseResponseHead, runOpenLoad } from '../../harness/probes/open.js';
import { materializeObjects } from '../../harness/probes/objects.js';
import { startNginx, type HttpServer } from '../../harness/drivers/servers/nginx.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { makeCertificate, tlsDirectives } from '../../harness/drivers/servers/tls.js';
import { tempDir } from '../helpers/temp.js';

// Real nginx on a free loopback port, real autocannon load: every body is checked byte for byte.
describe('HTTP load with payload verification (real nginx on loopback)', () => {
  const stack = new CleanupStack();
  const dir = tempDir('hg-verify-');
  const root = path.join(dir, 'objects');
  let server: HttpServer;
  let tlsServer: HttpServer;
  let objects: ExpectedObject[];

  beforeAll(async () => {
    const { manifest, bodies } = await materializeObjects(root, 5, 6);
    objects = manifest.objects.map((o) => ({ path: o.path, body: bodies.get(o.path)! }));
    const target = new LocalTarget();
    server = await startNginx(
      target,
      {
        suite: 'test',
        variant: 'v',
        prefix: path.join(dir, 'nginx'),
        root,
        address: '127.0.0.1',
        workers: 1,
        variantDirectives: ['sendfile on'],
        userDirectives: [],
      },
      stack,
    );
    const tls = await makeCertificate(
      target,
      {
        certDir: path.join(dir, 'tls'),
        keyParent: path.join(target.workDir ?? target.home, 'tmp'),
        address: '127.0.0.1',
      },
      stack,
    );
    const spec = { protocol: 'TLSv1.3' as const, ciphers: 'TLS_AES_128_GCM_SHA256', ktls: false };
    tlsServer = await startNginx(
      target,
      {
        suite: 'test',
        variant: 'tls',
        prefix: path.join(dir, 'nginx-tls'),
        root,
        address: '127.0.0.1',
        workers: 1,
        tls,
        variantDirectives: tlsDirectives(spec),
        userDirectives: [],
      },
      stack,
    );
  });
  afterAll(async () => {
    await stack.unwind();
  });

  /** Runs `load` on the first object over 100 kB with byte `at` flipped (xor `mask`) on disk; the file is whole again after. */
  async function withCorruptByte<T>(at: number, mask: number, load: (victim: ExpectedObject) => Promise<T>): Promise<{ victim: ExpectedObject; r: T }> {
    const victim = objects.find((o) => o.body.length > 100_000)!;
    const file = path.join(root, victim.path);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[at] ^= mask;
    writeFileSync(file, bad);
    try {
      return { victim, r: await load(victim) };
    } finally {
      writeFileSync(file, good);
    }
  }

  it('verifies every response of a clean server, with microsecond latencies', async () => {
    const r = await runHttpLoad({ baseUrl: server.baseUrl, objects, connections: 4, durationSec: 1 });
    expect(r.requests).toBeGreaterThan(50);
    expect(r.verification.failed).toBe(0);
    expect(r.verification.verified).toBe(r.requests);
    expect(r.bodyBytes).toBeGreaterThan(0);
    expect(r.latencyUs.count).toBe(r.requests);
    expect(r.latencyUs.p50).toBeGreaterThan(0);
    expect(r.latencyUs.p99).toBeGreaterThanOrEqual(r.latencyUs.p50);
  });

  it('one corrupted byte on the server fails verification with the path and byte offset', async () => {
    const at = 70_001;
    const { victim, r } = await withCorruptByte(at, 0xff, (v) => runHttpLoad({ baseUrl: server.baseUrl, objects: [v], connections: 2, durationSec: 0.5 }));
    expect(r.verification.failed).toBe(r.requests);
    expect(r.verification.failures[0]).toEqual({
      path: victim.path,
      reason: `content differs from expected at byte ${at}`,
    });
  });

  it('over TLS (records decrypted into the reused read buffer) every body is verified, and a corrupted byte is found at its offset', async () => {
    expect(tlsServer.baseUrl).toMatch(/^https:/);
    const clean = await runHttpLoad({ baseUrl: tlsServer.baseUrl, objects, connections: 4, durationSec: 1 });
    expect(clean.requests).toBeGreaterThan(20);
    expect(clean.verification).toEqual({ verified: clean.requests, failed: 0, failures: [] });
    // Past the first TLS record (16 KiB) and the first read buffer's worth of a small object.
    const at = 90_017;
    const { victim, r } = await withCorruptByte(at, 0x01, (v) => runHttpLoad({ baseUrl: tlsServer.baseUrl, objects: [v], connections: 2, durationSec: 0.5 }));
    expect(r.requests).toBeGreaterThan(0);
    expect(r.verification.failed).toBe(r.requests);
    expect(r.verification.failures[0]).toEqual({
      path: victim.path,
      reason: `content differs from expected at byte ${at}`,
    });
  });

  it('the open model speaks TLS too: every body verified, a corrupted byte found at its offset', async () => {
    const clean = await runOpenLoad({ baseUrl: tlsServer.baseUrl, objects, rate: 200, durationSec: 1, connections: 4 });
    expect(clean.requests).toBe(200);
    expect(clean.errors).toBe(0);
    expect(clean.verification).toEqual({ verified: 200, failed: 0, failures: [] });
    const at = 77_777;
    const { victim, r } = await withCorruptByte(at, 0x80, (v) => runOpenLoad({ baseUrl: tlsServer.baseUrl, objects: [v], rate: 20, durationSec: 0.5, connections: 2 }));
    expect(r.requests).toBe(10);
    expect(r.verification.failed).toBe(10);
    expect(r.verification.failures[0]).toEqual({
      path: victim.path,
      reason: `content differs from expected at byte ${at}`,
    });
  });

  it('a short body fails with its own reason', async () => {
    const victim = objects[0];
    const file = path.join(root, victim.path);
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length - 1));
    try {
      const r = await runHttpLoad({ baseUrl: server.baseUrl, objects: [victim], connections: 1, durationSec: 0.3 });
      expect(r.verification.failed).toBeGreaterThan(0);
      expect(r.verification.failures[0].reason).toBe(`short body: ${good.length - 1} of ${good.length} bytes`);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('a missing object fails with the HTTP status', async () => {
    const r = await runHttpLoad({
      baseUrl: server.baseUrl,
      objects: [{ path: '/seg/missing.m4s', body: Buffer.from('x') }],
      connections: 1,
      durationSec: 0.3,
    });
    expect(r.verification.failures[0]).toEqual({ path: '/seg/missing.m4s', reason: 'HTTP status 404' });
  });
});

describe('HTTP load against a server that stalls mid-body (real sockets on loopback)', () => {
  it('a response that stalls past the timeout is a timeout, and the next connection verifies cleanly', async () => {
    const http = await import('node:http');
    const body = Buffer.alloc(256 * 1024, 7);
    let n = 0;
    // Every third response sends half its body and then stalls, as a disk-bound server can.
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': body.length });
      if (++n % 3 === 0) res.write(body.subarray(0, body.length / 2));
      else res.end(body);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as import('node:net').AddressInfo).port;
      const r = await runHttpLoad({
        baseUrl: `http://127.0.0.1:${port}`,
        objects: [{ path: '/x', body }],
        connections: 2,
        durationSec: 4,
        timeoutSec: 1,
      });
      expect(r.timeouts).toBeGreaterThan(0);
      expect(r.verification.failures).toEqual([]);
      expect(r.verification.verified).toBeGreaterThan(0);
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  }, 30_000);
});

describe('the open model reads response heads as nginx writes them', () => {
  it('status, Content-Length and Connection: close; a chunked or malformed head is refused', () => {
    expect(
      parseResponseHead('HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 1048576\r\nConnection: keep-alive'),
    ).toEqual({ status: 200, length: 1048576, close: false });
    expect(parseResponseHead('HTTP/1.1 404 Not Found\r\ncontent-length: 153\r\nconnection: close')).toEqual({
      status: 404,
      length: 153,
      close: true,
    });
    expect(parseResponseHead('HTTP/1.0 200 OK\r\nContent-Length: 3')).toEqual({ status: 200, length: 3, close: true });
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked')).toBeNull();
    expect(parseResponseHead('SSH-2.0-OpenSSH_9.2')).toBeNull();
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: -1')).toEqual({
      status: 200,
      length: undefined,
      close: false,
    });
  });
});
