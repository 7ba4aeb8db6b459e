/**
 * Client cost benchmark: what the verifying load client costs per GB against wrk, side by side
 * against the same nginx and the same object, alternating A B A B so drift hits both. Run under the
 * CPU split a gate uses on this machine (nginx on the server's CPUs, both clients on the load's),
 * plain HTTP and TLS 1.3 / TLS 1.2 AES-GCM, so the figure is the one that decides whether a gate
 * here can be server-bound. Prints a table of medians and ratios.
 * Usage: npx tsx bench/client-ceiling.ts [--duration 3] [--rounds 3] [--connections 8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { CleanupStack } from '../harness/lib/cleanup.js';
import { runCommand } from '../harness/lib/exec.js';
import { runHttpLoad } from '../harness/probes/http.js';
import { objectBytes } from '../harness/probes/objects.js';
import { startNginx } from '../harness/drivers/servers/nginx.js';
import { makeCertificate, probeTls, tlsDirectives } from '../harness/drivers/servers/tls.js';
import { LocalTarget } from '../harness/drivers/targets/local.js';
import { affinityOf, chooseSplit, confineLoad } from '../harness/engine/cpusplit.js';
import { formatCpuList } from '../harness/lib/cpulist.js';
import { writeAtomic } from '../harness/lib/atomic.js';
import { median } from '../harness/stats/summary.js';
import { wrkBytesPerSec } from './slowdown.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
if (!(
  duration > 0 &&
  duration <= 60 &&
  Number.isInteger(rounds) &&
  rounds >= 1 &&
  rounds <= 20 &&
  Number.isInteger(connections) &&
  connections >= 1 &&
  connections <= 256
)) {
  console.error('bench: --duration (0, 60], --rounds 1..20, --connections 1..256');
  process.exit(2);
}
const KiB = 1024;
const MiB = 2 ** 20;
const sizes = [
  { label: '64 KiB', bytes: 64 * KiB },
  { label: '1 MiB', bytes: MiB },
  { label: '16 MiB', bytes: 16 * MiB },
];
const protocols = [
  { label: 'plain', tls: undefined },
  { label: 'TLS 1.3 AES-128-GCM', tls: { protocol: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', ktls: false } },
  { label: 'TLS 1.2 AES-128-GCM', tls: { protocol: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ktls: false } },
] as const;

/** CPU seconds of bash's children (`times`, second line: "0m1.230s 0m3.450s"). */
function childrenCpuSec(timesOut: string): number {
  const line = timesOut.trim().split('\n').pop() ?? '';
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (parts.length !== 2) throw new Error(`cannot parse bash times: ${line}`);
  return parts[0] + parts[1];
}

const wrkVersion = await runCommand(['wrk', '--version'], { timeoutMs: 5000 }).catch(() => null);
if (!wrkVersion || !/wrk/.test(wrkVersion.stdout + wrkVersion.stderr)) {
  console.error('bench: wrk not found (apt-get install wrk)');
  process.exit(3);
}
const chosen = chooseSplit(await affinityOf(process.pid));
const split = 'split' in chosen ? chosen.split : null;
const dir = mkdtempSync(path.join(os.tmpdir(), 'hg-bench-'));
const stack = new CleanupStack();
stack.push(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
const table = new Table({
  head: [
    'object',
    'protocol',
    'wrk Gb/s',
    'wrk core-s/GB',
    'headgate Gb/s (verified)',
    'headgate core-s/GB',
    'cost ratio',
    'headgate client CPU',
    'verified',
    'failed',
  ],
  style: { head: [], border: [] },
});
try {
  const target = new LocalTarget();
  if (split) await confineLoad(split, stack);
  const www = path.join(dir, 'www');
  for (const s of sizes)
    await writeAtomic(path.join(www, `obj-${s.bytes}.bin`), objectBytes(1, `/obj-${s.bytes}.bin`, s.bytes));
  for (const p of protocols) {
    const tls = p.tls
      ? await makeCertificate(
          target,
          {
            certDir: path.join(dir, 'tls'),
            keyParent: path.join(target.workDir ?? target.home, 'tmp'),
            address: '127.0.0.1',
          },
          stack,
        )
      : undefined;
    const server = await startNginx(
      target,
      {
        suite: 'bench',
        variant: p.label.replace(/\W+/g, '-'),
        prefix: path.join(dir, `nginx-${p.label.replace(/\W+/g, '-')}`),
        root: www,
        address: '127.0.0.1',
        workers: 1,
        tls,
        cpus: split?.server,
        variantDirectives: ['sendfile on', 'tcp_nopush on', ...(p.tls ? tlsDirectives(p.tls) : [])],
        userDirectives: [],
      },
      stack,
    );
    const negotiated = p.tls ? await probeTls(server.host!, server.port!) : null;
    if (p.tls && (negotiated!.protocol !== p.tls.protocol || negotiated!.cipher !== p.tls.ciphers))
      throw new Error(
        `nginx negotiated ${negotiated!.protocol} ${negotiated!.cipher}, not ${p.tls.protocol} ${p.tls.ciphers}`,
      );
    for (const s of sizes) {
      const urlPath = `/obj-${s.bytes}.bin`;
      const body = objectBytes(1, urlPath, s.bytes);
      const m = {
        wrkGbps: [] as number[],
        wrkCost: [] as number[],
        hgGbps: [] as number[],
        hgCost: [] as number[],
        cpu: [] as number[],
      };
      let verified = 0;
      let failed = 0;
      for (let r = 0; r < rounds; r++) {
        // wrk -t1 (one thread, like the verifying client's one event loop), its CPU from bash's `times`.
        const w = await runCommand(
          [
            'bash',
            '-c',
            'wrk -t1 -c"$1" -d"$2"s "$3" && times',
            'bash',
            String(connections),
            String(duration),
            server.baseUrl + urlPath,
          ],
          { timeoutMs: (duration + 30) * 1000 },
        );
        if (w.code !== 0) throw new Error(`wrk exited ${w.code}: ${w.stderr.trim()}`);
        const wBps = wrkBytesPerSec(w.stdout);
        m.wrkGbps.push((wBps * 8) / 1e9);
        m.wrkCost.push(childrenCpuSec(w.stdout) / ((wBps * duration) / 1e9));
        const h = await runHttpLoad({
          baseUrl: server.baseUrl,
          objects: [{ path: urlPath, body }],
          connections,
          durationSec: duration,
        });
        m.hgGbps.push((h.bodyBytes * 8) / h.durationSec / 1e9);
        m.hgCost.push((h.clientCpu * h.durationSec) / (h.bodyBytes / 1e9));
        m.cpu.push(h.clientCpu);
        verified += h.verification.verified;
        failed += h.verification.failed;
        process.stderr.write(
          `${s.label} ${p.label} round ${r + 1}/${rounds}: wrk ${m.wrkGbps.at(-1)!.toFixed(2)} Gb/s at ${m.wrkCost.at(-1)!.toFixed(3)} core-s/GB, headgate ${m.hgGbps.at(-1)!.toFixed(2)} Gb/s at ${m.hgCost.at(-1)!.toFixed(3)}\n`,
        );
      }
      table.push([
        s.label,
        p.label,
        median(m.wrkGbps).toFixed(2),
        median(m.wrkCost).toFixed(3),
        median(m.hgGbps).toFixed(2),
        median(m.hgCost).toFixed(3),
        (median(m.hgCost) / median(m.wrkCost)).toFixed(2),
        `${(median(m.cpu) * 100).toFixed(0)}% of a core`,
        String(verified),
        String(failed),
      ]);
    }
  }
} finally {
  await stack.unwind();
}
console.log(
  `client cost: ${connections} connections, ${duration} s x ${rounds} alternating rounds per tool, nginx 1 worker sendfile on, loopback; ` +
    (split
      ? `CPU split: nginx on CPU ${formatCpuList(split.server)}, both clients on CPU ${formatCpuList(split.client)}`
      : `no CPU split (${'none' in chosen ? chosen.none : ''})`),
);
console.log(
  'core-s/GB: CPU seconds the client spent per GB of body received (user + system); cost ratio: headgate / wrk (below 1: headgate is cheaper)',
);
console.log(table.toString());
// The open model's capacity is bench/open-capacity.ts (npm run bench:open).
