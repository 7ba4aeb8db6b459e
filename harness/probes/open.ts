import http from 'node:http';
import * as hdr from 'hdr-histogram-js';
import { infraError, inputError, interruptedError } from '../model/errors.js';
import { CLIENT_BOUND_CPU, type ExpectedObject, type HttpLoadResult } from './http.js';
import { checkChunk, latencySummary, VerificationTally } from './verify.js';

/** Options of an open-model load: requests arrive at a fixed rate whatever the server does. */
export interface OpenLoadOptions {
  baseUrl: string;
  objects: ExpectedObject[];
  /** Arrivals per second, evenly spaced. */
  rate: number;
  durationSec: number;
  /** Keep-alive connections at most; arrivals beyond them queue (and the queueing counts as latency). */
  connections: number;
  signal?: AbortSignal;
  onTick?: (t: { elapsedSec: number; requests: number; bodyBytes: number }) => void;
}

/** Requests still queued or in flight beyond this many are dropped (counted as errors) to bound memory. */
const MAX_OUTSTANDING = 10_000;

/**
 * Open-model HTTP load (wrk2-style): request i is due at t0 + i/rate and its latency is measured
 * from that intended time, so a stalled server shows its stall in the percentiles instead of
 * silently slowing the client down (coordinated omission). Bodies are verified like the
 * closed-model load.
 */
export async function runOpenLoad(o: OpenLoadOptions): Promise<HttpLoadResult> {
  if (!(o.rate > 0)) throw infraError('open load: rate must be positive');
  if (o.signal?.aborted) throw interruptedError();
  const url = new URL(o.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const tally = new VerificationTally();
  let completed = 0;
  let bodyBytes = 0;
  let wireBytes = 0;
  let errors = 0;
  let non2xx = 0;
  let outstanding = 0;
  let issued = 0;
  const total = Math.floor(o.rate * o.durationSec);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const nowNs = () => Number(process.hrtime.bigint() - t0);
  let settleAll!: () => void;
  const allDone = new Promise<void>((r) => (settleAll = r));
  const maybeDone = () => {
    if (issued >= total && outstanding === 0) settleAll();
  };

  const send = (i: number) => {
    const obj = o.objects[i % o.objects.length];
    const dueNs = (i * 1e9) / o.rate;
    outstanding++;
    // A response error can be followed by a request error for the same request: settle once.
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      outstanding--;
      if (ok) {
        completed++;
        hist.recordValue(Math.max(1, Math.round((nowNs() - dueNs) / 1000)));
      } else errors++;
      maybeDone();
    };
    const req = http.get({ agent, host: url.hostname, port: url.port, path: obj.path }, (res) => {
      let off = 0;
      let bad: string | undefined;
      res.on('data', (chunk: Buffer) => {
        if (bad === undefined) bad = checkChunk(obj.body, chunk, off);
        off += chunk.length;
      });
      res.on('end', () => {
        bodyBytes += off;
        // Node's client does not expose header bytes, so the open model counts bodies only.
        wireBytes += off;
        if (res.statusCode !== 200) non2xx++;
        tally.finish(obj.path, res.statusCode, bad, off, obj.body);
        settle(true);
      });
      res.on('error', () => settle(false));
    });
    req.on('error', () => settle(false));
  };

  // Issue every request that is due; a 1 ms timer is precise enough for rates up to a few
  // thousand per second, and lateness of the timer itself is charged to latency (due time).
  const timer = setInterval(() => {
    const elapsed = nowNs();
    while (issued < total && (issued * 1e9) / o.rate <= elapsed) {
      if (outstanding >= MAX_OUTSTANDING) {
        errors++;
        issued++;
        continue;
      }
      send(issued++);
    }
    maybeDone();
  }, 1);
  const ticker = setInterval(() => o.onTick?.({ elapsedSec: nowNs() / 1e9, requests: completed, bodyBytes }), 1000);
  const graceMs = (o.durationSec + 30) * 1000;
  let abortHandler: (() => void) | undefined;
  try {
    await Promise.race([
      allDone,
      new Promise<void>((resolve) => setTimeout(resolve, graceMs)),
      new Promise<void>((_, reject) => {
        abortHandler = () => reject(interruptedError());
        o.signal?.addEventListener('abort', abortHandler, { once: true });
      }),
    ]);
  } finally {
    clearInterval(timer);
    clearInterval(ticker);
    if (abortHandler) o.signal?.removeEventListener('abort', abortHandler);
    agent.destroy();
  }
  // Whatever is still outstanding after the grace period never completed: an error, not a latency.
  errors += outstanding;
  const wall = nowNs() / 1e9;
  const c = process.cpuUsage(cpu0);
  const clientCpu = (c.user + c.system) / 1e6 / wall;
  return {
    durationSec: Math.max(wall, o.durationSec),
    requests: completed,
    bodyBytes,
    wireBytes,
    errors,
    timeouts: 0,
    non2xx,
    verification: tally.result,
    latencyUs: latencySummary(hist),
    clientCpu,
    clientBound: clientCpu >= CLIENT_BOUND_CPU,
  };
}

/** A --fixed-throughput value: a rate in Gb/s, or a share (0..1] of the capacity measured in the warm-up. */
export type FixedThroughput = { gbps: number } | { capacityShare: number };

/** Parses --fixed-throughput: "2.5" (Gb/s) or "60%" (of the warm-up capacity); bad input is an input error naming the flag. */
export function parseFixedThroughput(value: string | number): FixedThroughput {
  const t = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(t);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n > 0)) throw inputError(`--fixed-throughput ${t}: must be a rate in Gb/s (e.g. 2.5) or a share of the warm-up capacity (e.g. 60%)`);
  if (m[2]) {
    if (n > 100) throw inputError(`--fixed-throughput ${t}: a share of the capacity must be at most 100%`);
    return { capacityShare: n / 100 };
  }
  return { gbps: n };
}

/**
 * The Gb/s offered to every HTTP variant of a suite: the given rate, or the share of the lowest
 * warm-up throughput among the suite's variants, so every variant is offered the same load (CPU %
 * at different loads would not compare) and each one measured that it can carry it. Null when
 * a share is asked for and no warm-up measured a throughput.
 */
export function offeredGbps(spec: FixedThroughput, warmupGbps: readonly number[]): number | null {
  if ('gbps' in spec) return spec.gbps;
  const caps = warmupGbps.filter((x) => Number.isFinite(x) && x > 0);
  return caps.length ? spec.capacityShare * Math.min(...caps) : null;
}

/**
 * Arrivals per second that carry `gbps` of bodies when requests cycle through objects of these
 * sizes in order (runOpenLoad's order): bytes per second over the mean object size.
 */
export function openRateFor(gbps: number, objectBytes: readonly number[]): number {
  if (!(gbps > 0)) throw infraError(`fixed throughput: ${gbps} Gb/s is not a positive rate`);
  const mean = objectBytes.length ? objectBytes.reduce((a, x) => a + x, 0) / objectBytes.length : 0;
  if (!(mean > 0)) throw infraError('fixed throughput: no non-empty object to request');
  return (gbps * 1e9) / 8 / mean;
}
