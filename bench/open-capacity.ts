/**
 * Open-model capacity benchmark: how much of the closed model's capacity does the open model
 * carry, from one client process and from client network namespaces? Against one nginx (1 worker,
 * sendfile on) on the 1 MiB object, plain HTTP and TLS 1.3 / TLS 1.2 AES-GCM, each round measures
 * side by side: the closed model's capacity, then the open model offered shares of it (--offers),
 * first from this process, then from --namespaces client namespaces at once (each offers an equal
 * share and opens an equal share of --connections, so both layouts hold as many connections; the
 * results merge with the harness's own mergeLoadResults, as `--client` does). An offer counts as carried when at least 98%
 * of it was (the gate's own rule). Every body is verified. Under the CPU split a gate uses here
 * (nginx on the server's CPUs, every client on the load's). Prints a table of medians over rounds.
 * Usage: npx tsx bench/open-capacity.ts [--duration 5] [--rounds 3] [--connections 8] [--namespaces 2] [--offers 0.9,0.95,1]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { CleanupStack } from '../harness/lib/cleanup.js';
import { writeAtomic } from '../harness/lib/atomic.js';
import { formatCpuList } from '../harness/lib/cpulist.js';
import { runHttpLoad, type HttpLoadResult } from '../harness/probes/http.js';
import { mergeLoadResults } from '../harness/probes/merge.js';
import { objectBytes } from '../harness/probes/objects.js';
import { runOpenLoad } from '../harness/probes/open.js';
import { createLab, type NetnsLab } from '../harness/drivers/net/lab.js';
import { startNginx } from '../harness/drivers/servers/nginx.js';
import { makeCertificate, tlsDirectives } from '../harness/drivers/servers/tls.js';
import { LocalTarget } from '../harness/drivers/targets/local.js';
import { affinityOf, chooseSplit, confineLoad } from '../harness/engine/cpusplit.js';
import { median } from '../harness/stats/summary.js';
import { CARRIED_SHARE } from '../harness/verdict/offered.js';
import type { BenchClientSpec } from './lib/load-client.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
    namespaces: { type: 'string', default: '2' },
    offers: { type: 'string', default: '0.9,0.95,1' },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const namespaces = Number(values.namespaces);
const offers = values.offers!.split(',').map(Number);
const int = (x: number, lo: number, hi: number) => Number.isInteger(x) && x >= lo && x <= hi;
if (!(
  duration > 0 &&
  duration <= 60 &&
  int(rounds, 1, 20) &&
  int(connections, 1, 256) &&
  int(namespaces, 1, 8) &&
  offers.length > 0 &&
  offers.every((x) => x > 0 && x <= 1.5)
)) {
  console.error(
    'bench: --duration (0, 60], --rounds 1..20, --connections 1..256, --namespaces 1..8, --offers shares in (0, 1.5], comma-separated',
  );
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('bench: client namespaces need root');
  process.exit(3);
}
const MiB = 2 ** 20;
const urlPath = `/obj-${MiB}.bin`;
const protocols = [
  { label: 'plain', tls: undefined },
  { label: 'TLS 1.3 AES-128-GCM', tls: { protocol: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', ktls: false } },
  { label: 'TLS 1.2 AES-128-GCM', tls: { protocol: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ktls: false } },
] as const;
const gbps = (r: HttpLoadResult) => (r.bodyBytes * 8) / r.durationSec / 1e9;
/** Connections per namespace client: the one-process total, spread. */
const perClient = Math.max(1, Math.ceil(connections / namespaces));

const chosen = chooseSplit(await affinityOf(process.pid));
const split = 'split' in chosen ? chosen.split : null;
const dir = mkdtempSync(path.join(os.tmpdir(), 'hg-bench-open-'));
const stack = new CleanupStack();
stack.push(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
/** nginx and its certificate, per protocol: stopped before the next protocol starts. */
let perProtocol: CleanupStack | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    void (async () => {
      await perProtocol?.unwind();
      await stack.unwind();
    })().finally(() => process.exit(130));
  });

/** One row per protocol and client layout; per offer, what each round carried. */
interface Row {
  protocol: string;
  layout: string;
  closed: number[];
  /** Per offer (index into offers): carried / offered per round. */
  carried: number[][];
  p99ms: number[][];
  cpu: number[][];
  bad: number;
  skewMs: number[];
}
/** An offer counts as carried at this share of it (verdict/offered.ts CARRIED_SHARE). */
const CARRIED = CARRIED_SHARE;
const rows: Row[] = [];
const host = new LocalTarget();

/** The same load from every client namespace at once (a start barrier 3 s ahead), merged. */
async function fromNamespaces(labs: NetnsLab[], baseUrl: string, totalRate?: number): Promise<HttpLoadResult> {
  const startAtMs = Date.now() + 3000;
  const parts = await Promise.all(
    labs.map(async (lab, i) => {
      const spec: BenchClientSpec = {
        baseUrl,
        path: urlPath,
        bytes: MiB,
        connections: perClient,
        durationSec: duration,
        startAtMs,
        ...(totalRate ? { rate: totalRate / labs.length } : {}),
      };
      const r = await host.exec(
        [
          'ip',
          'netns',
          'exec',
          lab.serverNs,
          path.join(ROOT, 'node_modules', '.bin', 'tsx'),
          path.join(ROOT, 'bench', 'lib', 'load-client.ts'),
        ],
        {
          input: JSON.stringify(spec),
          allowFail: true,
          timeoutMs: (2 * duration + 60) * 1000,
        },
      );
      if (r.code !== 0)
        throw new Error(`client namespace ${lab.serverNs}: exit ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
      return { name: `ns${i + 1}`, result: JSON.parse(r.stdout) as HttpLoadResult };
    }),
  );
  return mergeLoadResults(parts);
}

try {
  if (split) await confineLoad(split, stack);
  // Client namespaces: each lab's far namespace holds one client; nginx listens on the first
  // lab's host-side address, which the other labs' middle hops reach through this host.
  const labs: NetnsLab[] = [];
  for (let i = 0; i < namespaces; i++) labs.push(await createLab(host, { dir: path.join(dir, `lab${i}`) }, stack));
  const address = labs[0].clientAddress;
  for (const lab of labs.slice(1)) {
    const r = await host.exec(['ip', '-n', lab.middleNs, 'route', 'add', `${address}/32`, 'via', lab.clientAddress], {
      allowFail: true,
    });
    if (r.code !== 0) throw new Error(`route to ${address} in ${lab.middleNs}: ${r.stderr.trim()}`);
  }
  const www = path.join(dir, 'www');
  await writeAtomic(path.join(www, urlPath), objectBytes(1, urlPath, MiB));
  const objects = [{ path: urlPath, body: objectBytes(1, urlPath, MiB) }];
  for (const p of protocols) {
    const ps = (perProtocol = new CleanupStack());
    try {
      const slug = p.label.replace(/\W+/g, '-');
      const tls = p.tls
        ? await makeCertificate(
            host,
            { certDir: path.join(dir, 'tls'), keyParent: path.join(host.workDir ?? host.home, 'tmp'), address },
            ps,
          )
        : undefined;
      const server = await startNginx(
        host,
        {
          suite: 'bench',
          variant: slug,
          prefix: path.join(dir, `nginx-${slug}`),
          root: www,
          address,
          workers: 1,
          tls,
          cpus: split?.server,
          variantDirectives: ['sendfile on', 'tcp_nopush on', ...(p.tls ? tlsDirectives(p.tls) : [])],
          userDirectives: [],
        },
        ps,
      );
      const empty = (layout: string): Row => ({
        protocol: p.label,
        layout,
        closed: [],
        carried: offers.map(() => []),
        p99ms: offers.map(() => []),
        cpu: offers.map(() => []),
        bad: 0,
        skewMs: [],
      });
      const one = empty('1 process');
      const many = empty(`${namespaces} namespaces`);
      for (let r = 0; r < rounds; r++) {
        for (const row of [one, many]) {
          const load = (rate?: number) =>
            row === one
              ? rate
                ? runOpenLoad({ baseUrl: server.baseUrl, objects, connections, durationSec: duration, rate })
                : runHttpLoad({ baseUrl: server.baseUrl, objects, connections, durationSec: duration })
              : fromNamespaces(labs, server.baseUrl, rate);
          const closed = await load();
          const capacity = gbps(closed);
          row.closed.push(capacity);
          row.bad += closed.verification.failed + closed.errors;
          const line: string[] = [];
          for (const [k, share] of offers.entries()) {
            const open = await load((share * capacity * 1e9) / 8 / MiB);
            const ratio = gbps(open) / (share * capacity);
            row.carried[k].push(ratio);
            row.p99ms[k].push(open.latencyUs.p99 / 1000);
            row.cpu[k].push(open.clientCpu);
            if (open.clientSkewMs !== undefined) row.skewMs.push(open.clientSkewMs);
            row.bad += open.verification.failed + open.errors;
            line.push(
              `${(share * 100).toFixed(0)}%: ${(ratio * 100).toFixed(1)}% carried, CPU ${(open.clientCpu * 100).toFixed(0)}%`,
            );
          }
          process.stderr.write(
            `${p.label} ${row.layout} round ${r + 1}/${rounds}: closed ${capacity.toFixed(2)} Gb/s; open offered ${line.join('; ')}\n`,
          );
        }
      }
      rows.push(one, many);
    } finally {
      await ps.unwind();
      perProtocol = null;
    }
  }
} finally {
  await stack.unwind();
}
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const table = new Table({
  head: [
    'protocol',
    'clients',
    'closed Gb/s',
    ...offers.map((o) => `offered ${pct(o)}: carried / offered (rounds carried)`),
    `open p99 ms at ${pct(offers[offers.length - 1])}`,
    `open client CPU at ${pct(offers[offers.length - 1])}`,
    'start skew ms',
    'failed',
  ],
  style: { head: [], border: [] },
});
for (const r of rows) {
  const last = offers.length - 1;
  table.push([
    r.protocol,
    r.layout,
    median(r.closed).toFixed(2),
    ...r.carried.map((xs) => `${median(xs).toFixed(3)} (${xs.filter((x) => x >= CARRIED).length}/${xs.length})`),
    median(r.p99ms[last]).toFixed(1),
    `${(median(r.cpu[last]) * 100).toFixed(0)}% of a core`,
    r.skewMs.length ? Math.max(...r.skewMs).toFixed(0) : '-',
    String(r.bad),
  ]);
}
console.log(
  `open-model capacity: 1 MiB object, ${duration} s windows x ${rounds} rounds; the open model offered ${offers.map(pct).join(', ')} of the closed model's capacity in the same round (carried: at least ${pct(CARRIED)} of the offer); ` +
    `${connections} connections from one process, ${perClient} from each of ${namespaces} client namespaces (via a forwarding middle namespace each); nginx 1 worker sendfile on; ` +
    (split
      ? `CPU split: nginx on CPU ${formatCpuList(split.server)}, every client on CPU ${formatCpuList(split.client)}`
      : `no CPU split (${'none' in chosen ? chosen.none : ''})`),
);
console.log('open client CPU: the busiest client process; failed: unverified bodies and errors, closed and open');
console.log(table.toString());
