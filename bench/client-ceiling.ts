/**
 * Client ceiling benchmark: the harness's HTTP load (every body verified) against wrk, side by
 * side against the same nginx and the same object, alternating A B A B so drift hits both.
 * Prints a table of medians and ratios. Usage: npx tsx bench/client-ceiling.ts [--duration 5] [--rounds 3]
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { $ } from 'zx';
import { CleanupStack } from '../harness/lib/cleanup.js';
import { runHttpLoad } from '../harness/probes/http.js';
import { objectBytes } from '../harness/probes/objects.js';
import { startNginx } from '../harness/drivers/servers/nginx.js';
import { LocalTarget } from '../harness/drivers/targets/local.js';
import { writeAtomic } from '../harness/lib/atomic.js';
import { median } from '../harness/stats/summary.js';
import { wrkBytesPerSec } from './slowdown.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '8' } } });
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const MiB = 2 ** 20;
const sizes = [
  { label: '64 KiB', bytes: 64 * 1024 },
  { label: '1 MiB', bytes: MiB },
  { label: '16 MiB', bytes: 16 * MiB },
];


const which = await $({ nothrow: true, quiet: true })`wrk --version`;
if (!/wrk/.test(which.stdout + which.stderr)) {
  console.error('bench: wrk not found (apt-get install wrk)');
  process.exit(3);
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'hg-bench-'));
const stack = new CleanupStack();
const table = new Table({ head: ['object', 'wrk MiB/s', 'headgate MiB/s (verified)', 'ratio', 'headgate client CPU', 'bodies verified', 'failed'], style: { head: [], border: [] } });
try {
  for (const s of sizes) {
    const urlPath = `/obj-${s.bytes}.bin`;
    const body = objectBytes(1, urlPath, s.bytes);
    await writeAtomic(path.join(dir, 'www', urlPath), body);
  }
  const server = await startNginx(new LocalTarget(), { suite: 'bench', variant: 'sendfile-on', prefix: path.join(dir, 'nginx'), root: path.join(dir, 'www'), address: '127.0.0.1', workers: 1, variantDirectives: ['sendfile on', 'tcp_nopush on'], userDirectives: [] }, stack);
  for (const s of sizes) {
    const urlPath = `/obj-${s.bytes}.bin`;
    const body = objectBytes(1, urlPath, s.bytes);
    const wrk: number[] = [];
    const hg: number[] = [];
    const cpu: number[] = [];
    let verified = 0;
    let failed = 0;
    for (let r = 0; r < rounds; r++) {
      const w = await $({ quiet: true })`wrk -t2 -c${connections} -d${duration}s ${server.baseUrl + urlPath}`;
      wrk.push(wrkBytesPerSec(w.stdout) / MiB);
      const h = await runHttpLoad({ baseUrl: server.baseUrl, objects: [{ path: urlPath, body }], connections, durationSec: duration });
      hg.push(h.wireBytes / h.durationSec / MiB);
      cpu.push(h.clientCpu);
      verified += h.verification.verified;
      failed += h.verification.failed;
      process.stderr.write(`${s.label} round ${r + 1}/${rounds}: wrk ${wrk.at(-1)!.toFixed(0)} MiB/s, headgate ${hg.at(-1)!.toFixed(0)} MiB/s\n`);
    }
    table.push([s.label, median(wrk).toFixed(0), median(hg).toFixed(0), (median(hg) / median(wrk)).toFixed(2), `${(median(cpu) * 100).toFixed(0)}% of a core`, String(verified), String(failed)]);
  }
} finally {
  await stack.unwind();
}
console.log(`client ceiling: ${connections} connections, ${duration} s x ${rounds} alternating rounds per tool, nginx 1 worker sendfile on, loopback`);
console.log(table.toString());
