/**
 * A slowdown's size, measured by wrk against the same objects the sendfile suite serves: nginx A
 * (sendfile on, as sendfile-on) and nginx B (the same plus one directive) side by side, wrk
 * alternating A B B A so drift falls on both; the per-round ratios give the median slowdown and a
 * distribution-free 95% interval (Hodges-Lehmann of the log ratios). Used by verdict-quality --real
 * to say how big its "5%" and "2%" slowdowns really were in the same run. Also records nginx's own
 * CPU seconds per GB in each round (/proc/PID/stat): what the directive costs the server even
 * where wrk, not nginx, set the rate.
 *
 * Usage: npx tsx bench/slowdown.ts --directive 'sendfile_max_chunk 64k' [--rounds 8] [--duration 3] [--threads 1] [--split]
 *   --split: nginx on the server's CPUs and wrk on the load's, as a gate on this machine runs them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import { affinityOf, chooseSplit, confineLoad } from '../harness/engine/cpusplit.js';
import { CleanupStack } from '../harness/lib/cleanup.js';
import { writeAtomic } from '../harness/lib/atomic.js';
import { materializeObjects } from '../harness/probes/objects.js';
import { startNginx } from '../harness/drivers/servers/nginx.js';
import { LocalTarget } from '../harness/drivers/targets/local.js';
import { pseudoMedian, pseudoMedianCI, signedRankTest } from '../harness/stats/signedrank.js';
import { median } from '../harness/stats/summary.js';

const MiB = 2 ** 20;

/** wrk's "Transfer/sec: 1.29GB" (1024-based units) in bytes per second. */
export function wrkBytesPerSec(out: string): number {
  const m = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
  if (!m) throw new Error(`cannot parse wrk output: ${out.slice(0, 300)}`);
  const unit = { B: 1, KB: 1024, MB: MiB, GB: 1024 * MiB }[m[2] as 'B' | 'KB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

/** A measured slowdown: B's throughput relative to A's (-0.05 = 5% slower), its interval, the raw rates. */
export interface Slowdown {
  directive: string;
  change: number;
  low: number;
  high: number;
  p: number;
  a: number[];
  b: number[];
  /**
   * nginx's own CPU seconds per GB served in the same rounds (utime + stime of its processes, by
   * the kernel's accounting): what the directive costs the server, whoever limited the rate.
   */
  serverCpuPerGb: { a: number[]; b: number[] };
}

/** CPU seconds (user + system) the processes have used so far, from /proc/PID/stat. */
function cpuSeconds(pids: number[], ticksPerSec: number): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* a worker that exited: its time is gone with it */
    }
  }
  return ticks / ticksPerSec;
}

/** Measures one directive's slowdown with wrk (objects and connections of `sendfile --quick`). */
export async function measureSlowdown(
  directive: string,
  o: {
    rounds: number;
    durationSec: number;
    connections?: number;
    threads?: number;
    split?: boolean;
    log?: (l: string) => void;
  },
): Promise<Slowdown> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hg-slowdown-'));
  const stack = new CleanupStack();
  const log = o.log ?? (() => {});
  try {
    const { manifest } = await materializeObjects(path.join(dir, 'www'), 1, 32);
    const paths = manifest.objects.filter((x) => x.kind === 'segment').map((x) => x.path);
    // wrk cycles through the segments, as the suite's client does.
    const lua = path.join(dir, 'paths.lua');
    await writeAtomic(
      lua,
      `local paths = {${paths.map((p) => JSON.stringify(p)).join(',')}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n`,
    );
    // Under the CPU split a gate uses here (--split): nginx on the server's CPUs, wrk on the load's.
    const chosen = o.split ? chooseSplit(await affinityOf(process.pid)) : null;
    const split = chosen && 'split' in chosen ? chosen.split : null;
    if (split) await confineLoad(split, stack);
    const start = (name: string, extra: string[]) =>
      startNginx(
        new LocalTarget(),
        {
          suite: 'bench',
          variant: name,
          prefix: path.join(dir, name),
          root: path.join(dir, 'www'),
          address: '127.0.0.1',
          workers: 1,
          cpus: split?.server,
          variantDirectives: ['sendfile on', 'tcp_nopush on'],
          userDirectives: extra,
        },
        stack,
      );
    const A = await start('a', []);
    const B = await start('b', [directive]);
    const hz = Number((await $({ quiet: true })`getconf CLK_TCK`).stdout.trim()) || 100;
    const pidsOf = new Map([
      [A, await A.pids()],
      [B, await B.pids()],
    ]);
    const cpu = { a: [] as number[], b: [] as number[] };
    const wrk = async (server: typeof A) => {
      const before = cpuSeconds(pidsOf.get(server)!, hz);
      const bps = wrkBytesPerSec(
        (
          await $({
            quiet: true,
          })`wrk -t${o.threads ?? 1} -c${o.connections ?? 8} -d${o.durationSec}s -s ${lua} ${server.baseUrl}`
        ).stdout,
      );
      (server === A ? cpu.a : cpu.b).push((cpuSeconds(pidsOf.get(server)!, hz) - before) / ((bps * o.durationSec) / 1e9));
      return bps;
    };
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      // A B, then B A: a linear drift falls on both alike.
      const order = r % 2 === 0 ? ([A, B] as const) : ([B, A] as const);
      for (const s of order) (s === A ? a : b).push(await wrk(s));
      log(
        `  wrk round ${r + 1}/${o.rounds}: A ${(a.at(-1)! / MiB).toFixed(0)} MiB/s, B ${(b.at(-1)! / MiB).toFixed(0)} MiB/s (${directive})`,
      );
    }
    const d = a.map((x, i) => Math.log(b[i] / x));
    const ci = pseudoMedianCI(d, 0.95);
    return {
      directive,
      change: Math.expm1(pseudoMedian(d)),
      low: Math.expm1(ci.low),
      high: Math.expm1(ci.high),
      p: signedRankTest(d.map((x) => -x)).pGreater,
      a,
      b,
      serverCpuPerGb: cpu,
    };
  } finally {
    await stack.unwind();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      directive: { type: 'string', multiple: true },
      rounds: { type: 'string', default: '8' },
      duration: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1' },
      split: { type: 'boolean', default: false },
    },
  });
  for (const d of values.directive ?? []) {
    const s = await measureSlowdown(d, {
      rounds: Number(values.rounds),
      durationSec: Number(values.duration),
      threads: Number(values.threads),
      split: values.split,
      log: (l) => process.stderr.write(l + '\n'),
    });
    console.log(
      `${d}: ${(s.change * 100).toFixed(1)}% [${(s.low * 100).toFixed(1)}%, ${(s.high * 100).toFixed(1)}%] (median A ${(median(s.a) / MiB).toFixed(0)} MiB/s, B ${(median(s.b) / MiB).toFixed(0)} MiB/s, ${s.a.length} rounds); ` +
        `nginx CPU per GB: A ${median(s.serverCpuPerGb.a).toFixed(3)} s, B ${median(s.serverCpuPerGb.b).toFixed(3)} s`,
    );
  }
}
