import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { CleanupStack } from './harness/lib/cleanup.js';
import { runHttpLoad } from './harness/probes/http.js';
import { objectBytes } from './harness/probes/objects.js';
import { startNginx } from './harness/drivers/servers/nginx.js';
import { LocalTarget } from './harness/drivers/targets/local.js';
import { runCommand } from './harness/lib/exec.js';
const dir = '/tmp/hg-prof';
const stack = new CleanupStack();
mkdirSync(path.join(dir, 'www'), { recursive: true });
const sizes = [64 * 1024, 1 << 20, 16 << 20];
for (const b of sizes) writeFileSync(path.join(dir, 'www', `o${b}`), objectBytes(1, `/o${b}`, b));
const server = await startNginx(new LocalTarget(), { suite: 'p', variant: 'on', prefix: path.join(dir, 'nginx'), root: path.join(dir, 'www'), address: '127.0.0.1', workers: 1, variantDirectives: ['sendfile on', 'tcp_nopush on'], userDirectives: [], cpus: [1] }, stack);
try {
  for (const b of sizes) {
    const body = objectBytes(1, `/o${b}`, b);
    const c0 = process.cpuUsage();
    const r = await runHttpLoad({ baseUrl: server.baseUrl, objects: [{ path: `/o${b}`, body }], connections: 8, durationSec: 4 });
    const c = process.cpuUsage(c0);
    const gb = r.bodyBytes / 1e9;
    const w = await runCommand(['sh', '-c', `/usr/bin/time -f '%U %S' taskset -c 0 wrk -t1 -c8 -d4s ${server.baseUrl}/o${b} 2>&1`]);
    const m = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(w.stdout)!;
    const mult: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
    const wbps = Number(m[1]) * mult[m[2]];
    const [u, s] = w.stdout.trim().split('\n').pop()!.split(' ').map(Number);
    console.log(`${b}: headgate ${(gb * 8 / r.durationSec).toFixed(2)} Gb/s, cpu ${(r.clientCpu * 100).toFixed(0)}% (user ${(c.user / 1e6 / r.durationSec * 100).toFixed(0)} sys ${(c.system / 1e6 / r.durationSec * 100).toFixed(0)}), core-s/GB ${((c.user + c.system) / 1e6 / gb).toFixed(3)} | wrk ${(wbps * 8 / 1e9).toFixed(2)} Gb/s, cpu ${(((u + s) / 4) * 100).toFixed(0)}% (user ${u} sys ${s}), core-s/GB ${((u + s) / (wbps * 4 / 1e9)).toFixed(3)}`);
  }
} finally { await stack.unwind(); }
