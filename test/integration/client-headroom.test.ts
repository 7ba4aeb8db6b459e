import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type HttpServer } from '../../harness/drivers/servers/nginx.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { CLIENT_BOUND_DEMAND } from '../../harness/probes/headroom.js';
import { CARRIED_SHARE } from '../../harness/verdict/offered.js';
import type { HttpLoadResult } from '../../harness/probes/http.js';
import { materializeObjects } from '../../harness/probes/objects.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// A deliberately starved load client: the real open-model client in its own process, at nice 19
// on CPU 0, with a busy loop at nice 0 on the same CPU. It gets a sliver of the CPU, uses little
// and keeps nothing: a CPU-time rule (the client used N% of a core) would call it idle and blame
// the server for what it did not carry. The headroom rule counts how busy its CPU was.
const twoCpus = availableParallelism() >= 2 && spawnSync('taskset', ['--version']).status === 0;

describe.skipIf(!twoCpus)('load client headroom (a starved client is client-bound, real nginx)', () => {
  const stack = new CleanupStack();
  const dir = tempDir('hg-headroom-');
  const root = path.join(dir, 'objects');
  const script = path.join(dir, 'client.mts');
  let server: HttpServer;

  beforeAll(async () => {
    const { manifest } = await materializeObjects(root, 5, 2);
    const paths = manifest.objects.filter((o) => o.kind === 'boxart').map((o) => o.path);
    server = await startNginx(
      new LocalTarget(),
      {
        suite: 'headroom',
        variant: 'v',
        root,
        address: '127.0.0.1',
        workers: 1,
        variantDirectives: ['sendfile on'],
        prefix: path.join(dir, 'nginx'),
        userDirectives: [],
      },
      stack,
    );
    // The client: loads its modules, says "ready", waits for a line on stdin, then runs 2 s of
    // open-model load at 150 requests/s and prints its result as JSON.
    writeFileSync(
      script,
      [
        `import { readFileSync } from 'node:fs';`,
        `import { once } from 'node:events';`,
        `import { runOpenLoad } from ${JSON.stringify(path.join(ROOT, 'harness/probes/open.ts'))};`,
        `const objects = ${JSON.stringify(paths)}.map((p) => ({ path: p, body: readFileSync(${JSON.stringify(root)} + p) }));`,
        `process.stderr.write('ready\\n');`,
        `await once(process.stdin, 'data');`,
        `const r = await runOpenLoad({ baseUrl: process.argv[2], objects, rate: 150, durationSec: 2, connections: 4 });`,
        `process.stdout.write(JSON.stringify(r));`,
        `process.exit(0);`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await stack.unwind();
  });

  /**
   * Runs the client on CPU 0. Once its modules are loaded, `starve` (if given) runs, the client
   * drops to nice 19, and the load starts: only the load is starved, not the start-up.
   */
  function client(starve?: () => void): Promise<HttpLoadResult> {
    return new Promise((resolve, reject) => {
      const c = spawn(
        'taskset',
        ['-c', '0', 'timeout', '60', process.execPath, '--import', 'tsx', script, server.baseUrl],
        { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => {
        err += d;
        if (!/ready\n/.test(err)) return;
        err = err.replace('ready\n', '');
        starve?.();
        // timeout's child is the client: renice both (nothing else runs under them).
        spawnSync('renice', [
          '-n',
          '19',
          '-p',
          String(c.pid),
          ...spawnSync('pgrep', ['-P', String(c.pid)])
            .stdout.toString()
            .trim()
            .split(/\s+/)
            .filter(Boolean),
        ]);
        c.stdin.write('go\n');
      });
      c.on('close', (code) =>
        code === 0 ? resolve(JSON.parse(out) as HttpLoadResult) : reject(new Error(`client exited ${code}: ${err}`)),
      );
    });
  }

  it('a client with its CPU to itself keeps its headroom and carries the offer', async () => {
    const r = await client();
    expect(r.verification.failed).toBe(0);
    expect(r.requests / r.durationSec).toBeGreaterThanOrEqual(CARRIED_SHARE * r.offeredRate!);
    expect(r.clientDemand).toBeLessThan(CLIENT_BOUND_DEMAND);
    expect(r.clientBound).toBe(false);
  }, 90_000);

  it('the same client starved of its CPU is client-bound, though it used little CPU', async () => {
    // A busy loop on the client's CPU, started once the client is ready, bounded in time (timeout
    // 60) and stopped whatever the test does (timeout passes SIGTERM on). It stays in this
    // session: a session of its own is an autogroup of its own, which the scheduler shares fairly
    // with the client's whatever their nice values.
    let hog: ChildProcess | undefined;
    let r: HttpLoadResult;
    try {
      r = await client(
        () =>
          (hog = spawn('taskset', ['-c', '0', 'timeout', '60', 'sh', '-c', 'while :; do :; done'], {
            stdio: 'ignore',
          })),
      );
    } finally {
      hog?.kill('SIGTERM');
    }
    expect(r.clientBound).toBe(true);
    expect(r.clientDemand).toBeGreaterThanOrEqual(CLIENT_BOUND_DEMAND);
    // What CPU time alone would have said: well under the bound. Whether it still carried the small
    // offer is no evidence either way (one CI run carried 150 of 150 req/s on the CPU it got).
    expect(r.clientCpu).toBeLessThan(CLIENT_BOUND_DEMAND);
    expect(r.clientBoundReason).toMatch(/the CPUs it may use 1?[0-9]{2}% busy/);
    expect(r.verification.failed).toBe(0);
  }, 90_000);
});
