import type net from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { infraError, inputError, interruptedError } from '../model/errors.js';
import { clientFields, meterClient } from './headroom.js';
import {
  connectReusing,
  READ_BUFFER_BYTES,
  type ExpectedObject,
  type HttpLoadResult,
} from './http.js';
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

/** Header bytes a response may have before it is an error (nginx sends a few hundred). */
const MAX_HEADER_BYTES = 16 * 1024;

/** One request: which object, and when it was due (ns after the start). */
interface Arrival {
  obj: ExpectedObject;
  dueNs: number;
  /** Its place in the schedule (0 = first due). */
  i: number;
}

/** A response being read: its request, its header bytes until the blank line, then its body. */
interface InFlight {
  a: Arrival;
  /** When the request was written (ns after the start): time to first byte counts from here. */
  sentNs: number;
  head: Buffer[];
  headLen: number;
  status?: number;
  length?: number;
  close?: boolean;
  off: number;
  bad?: string;
}

/** Status, Content-Length and Connection: close of a response head ("HTTP/1.1 200 OK\r\n...\r\n\r\n"). */
export function parseResponseHead(head: string): { status: number; length: number | undefined; close: boolean } | null {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return null;
  let length: number | undefined;
  let close = /^HTTP\/1\.0/.test(lines[0]);
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const name = l.slice(0, i).trim().toLowerCase();
    const value = l.slice(i + 1).trim();
    if (name === 'content-length' && /^\d+$/.test(value)) length = Number(value);
    else if (name === 'connection') close = value.toLowerCase() === 'close';
    else if (name === 'transfer-encoding' && value.toLowerCase() !== 'identity') return null; // static files are never chunked
  }
  return { status: Number(m[1]), length, close };
}

/**
 * Open-model HTTP(S) load (wrk2-style): request i is due at t0 + i/rate and its latency is
 * measured from that intended time, so a stalled server shows its stall in the percentiles instead
 * of silently slowing the client down (coordinated omission). Arrivals go to an idle keep-alive
 * connection or wait in one queue, in order. Every connection reads into a reused buffer and each
 * chunk of a body is compared in place with the expected bytes (memcmp), as in the closed model,
 * so the open model costs per byte what the closed one does and can carry the load it is asked for.
 */
export async function runOpenLoad(o: OpenLoadOptions): Promise<HttpLoadResult> {
  if (!(o.rate > 0)) throw infraError('open load: rate must be positive');
  if (o.signal?.aborted) throw interruptedError();
  const url = new URL(o.baseUrl);
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const ttfb = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const tally = new VerificationTally();
  let completed = 0;
  let bodyBytes = 0;
  let wireBytes = 0;
  let errors = 0;
  let non2xx = 0;
  let outstanding = 0;
  let issued = 0;
  let stopped = false;
  const total = Math.floor(o.rate * o.durationSec);
  const meter = meterClient();
  const t0 = process.hrtime.bigint();
  const nowNs = () => Number(process.hrtime.bigint() - t0);
  let settleAll!: () => void;
  const allDone = new Promise<void>((r) => (settleAll = r));
  const maybeDone = () => {
    if (issued >= total && outstanding === 0) settleAll();
  };
  const queue: Arrival[] = [];
  let queueHead = 0;

  // Latencies of the first tenth of the schedule: what a request costs before any backlog can build.
  const earlyCount = Math.max(10, Math.ceil(total / 10));
  const early: number[] = [];
  const finish = (a: Arrival, ok: boolean) => {
    outstanding--;
    if (ok) {
      completed++;
      const us = Math.max(1, Math.round((nowNs() - a.dueNs) / 1000));
      hist.recordValue(us);
      if (a.i < earlyCount) early.push(us);
    } else errors++;
    maybeDone();
  };

  /** One keep-alive connection: sends the next queued request whenever it is idle. */
  class Conn {
    private sock: net.Socket | null = null;
    private cur: InFlight | null = null;
    private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

    /** Takes the next queued arrival, if idle. */
    pump(): void {
      if (stopped || this.cur || queueHead >= queue.length) return;
      const a = queue[queueHead];
      queue[queueHead++] = undefined as unknown as Arrival; // let it go
      if (queueHead > 4096 && queueHead * 2 > queue.length) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
      this.cur = { a, sentNs: nowNs(), head: [], headLen: 0, off: 0 };
      if (!this.sock) this.connect();
      this.sock!.write(`GET ${a.obj.path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    }

    private connect(): void {
      const sock = connectReusing({ host, port, secure }, this.buffer, (chunk) => this.onData(chunk));
      sock.setNoDelay(true);
      const lost = () => {
        if (this.sock !== sock) return;
        this.sock = null;
        sock.destroy();
        // The request on a connection that died is never answered: an error, not a latency.
        if (this.cur) {
          const a = this.cur.a;
          this.cur = null;
          finish(a, false);
        }
        this.pump();
      };
      sock.on('error', lost);
      sock.on('close', lost);
      this.sock = sock;
    }

    private onData(chunk: Buffer): void {
      wireBytes += chunk.length;
      let data = chunk;
      while (data.length && this.cur) {
        const r = this.cur;
        if (r.status === undefined) {
          // Still in the head: find the blank line (it may straddle reads).
          r.head.push(Buffer.from(data));
          r.headLen += data.length;
          const all = r.head.length === 1 ? r.head[0] : Buffer.concat(r.head, r.headLen);
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) {
            if (r.headLen > MAX_HEADER_BYTES) return this.fail('response head too large');
            r.head = [all];
            return;
          }
          const h = parseResponseHead(all.subarray(0, end).toString('latin1'));
          if (!h || h.length === undefined) return this.fail('response without a Content-Length');
          r.status = h.status;
          r.length = h.length;
          r.close = h.close;
          r.head = [];
          data = all.subarray(end + 4);
          if (r.length === 0) this.complete();
          continue;
        }
        const take = Math.min(data.length, r.length! - r.off);
        // Time to first byte as the closed model measures it: from the send to the first body byte.
        if (r.off === 0 && take > 0) ttfb.recordValue(Math.max(1, Math.round((nowNs() - r.sentNs) / 1000)));
        const part = data.subarray(0, take);
        if (r.bad === undefined && r.status === 200) r.bad = checkChunk(r.a.obj.body, part, r.off);
        r.off += take;
        data = data.subarray(take);
        if (r.off === r.length) this.complete();
      }
    }

    private complete(): void {
      const r = this.cur!;
      this.cur = null;
      bodyBytes += r.off;
      if (r.status !== 200) non2xx++;
      tally.finish(r.a.obj.path, r.status, r.status === 200 ? r.bad : undefined, r.off, r.a.obj.body);
      finish(r.a, true);
      if (r.close) {
        const s = this.sock;
        this.sock = null;
        s?.destroy();
      }
      this.pump();
    }

    /** A response that cannot be framed: the connection is dropped, the request is an error. */
    private fail(_why: string): void {
      const s = this.sock;
      this.sock = null;
      s?.destroy();
      const a = this.cur?.a;
      this.cur = null;
      if (a) finish(a, false);
      this.pump();
    }

    close(): void {
      const s = this.sock;
      this.sock = null;
      s?.destroy();
    }
  }

  const conns = Array.from({ length: Math.max(1, o.connections) }, () => new Conn());
  let next = 0;
  // Issue every request that is due; a 1 ms timer is precise enough for rates up to a few
  // thousand per second, and lateness of the timer itself is charged to latency (due time).
  const timer = setInterval(() => {
    const elapsed = nowNs();
    let added = false;
    while (issued < total && (issued * 1e9) / o.rate <= elapsed) {
      const i = issued++;
      if (outstanding >= MAX_OUTSTANDING) {
        errors++;
        continue;
      }
      outstanding++;
      queue.push({ obj: o.objects[i % o.objects.length], dueNs: (i * 1e9) / o.rate, i });
      added = true;
    }
    if (added)
      for (let k = 0; k < conns.length && queueHead < queue.length; k++) conns[(next + k) % conns.length].pump();
    next = (next + 1) % conns.length;
    maybeDone();
  }, 1);
  const ticker = setInterval(() => o.onTick?.({ elapsedSec: nowNs() / 1e9, requests: completed, bodyBytes }), 1000);
  // After the window, requests still queued or in flight get as long again (at least 5 s) to
  // finish; what is left then is an error. A server far behind its offer is told apart by then,
  // and a crawling kernel does not cost half a minute per repetition.
  const graceMs = (o.durationSec + Math.max(5, o.durationSec)) * 1000;
  let abortHandler: (() => void) | undefined;
  let grace: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      allDone,
      new Promise<void>((resolve) => (grace = setTimeout(resolve, graceMs))),
      new Promise<void>((_, reject) => {
        abortHandler = () => reject(interruptedError());
        o.signal?.addEventListener('abort', abortHandler, { once: true });
      }),
    ]);
  } finally {
    stopped = true;
    // The grace timer too: left pending, it would hold the process open after the load.
    clearTimeout(grace);
    clearInterval(timer);
    clearInterval(ticker);
    if (abortHandler) o.signal?.removeEventListener('abort', abortHandler);
    for (const c of conns) c.close();
  }
  // Whatever is still outstanding after the grace period never completed: an error, not a latency.
  errors += outstanding;
  const wall = nowNs() / 1e9;
  const use = meter();
  const latencyUs = latencySummary(hist);
  // The last requests, due at the end of the window, complete about one latency later. That drain
  // is not time the server lacked, so the carried rate is counted over the wall time less the
  // median latency of the first tenth of the schedule (never less than the window). Early
  // requests meet no backlog: a server that keeps up then finishes about that long past the
  // window, one that falls behind much later. (The median of all latencies would not do: behind
  // a backlog it is the queueing itself, and subtracting it would call a crawl carried.)
  early.sort((a, b) => a - b);
  const drainUs = early.length ? early[Math.floor(early.length / 2)] : 0;
  const durationSec = Math.max(o.durationSec, wall - drainUs / 1e6);
  return {
    durationSec,
    requests: completed,
    bodyBytes,
    wireBytes,
    errors,
    timeouts: 0,
    non2xx,
    verification: tally.result,
    latencyUs,
    ...(ttfb.totalCount ? { ttfbUs: latencySummary(ttfb) } : {}),
    ...clientFields(use),
    offeredRate: o.rate,
    // So that several client hosts' open loads merge exactly (probes/merge.ts), as closed ones do.
    histograms: {
      latency: hdr.encodeIntoCompressedBase64(hist),
      ...(ttfb.totalCount ? { ttfb: hdr.encodeIntoCompressedBase64(ttfb) } : {}),
    },
  };
}

/** A --fixed-throughput value: a rate in Gb/s, or a share (0..1] of the capacity measured in the warm-up. */
export type FixedThroughput = { gbps: number } | { capacityShare: number };

/** Parses --fixed-throughput: "2.5" (Gb/s) or "60%" (of the warm-up capacity); bad input is an input error naming the flag. */
export function parseFixedThroughput(value: string | number): FixedThroughput {
  const t = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(t);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n > 0))
    throw inputError(
      `--fixed-throughput ${t}: must be a rate in Gb/s (e.g. 2.5) or a share of the warm-up capacity (e.g. 60%)`,
    );
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
