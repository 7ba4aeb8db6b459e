import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import net from 'node:net';
import tls from 'node:tls';
import { infraError, interruptedError } from '../model/errors.js';
import type { VerificationResult } from '../model/types.js';
import { tailSamples, type ProbeDeclaration, type ProbeMetric } from './probe.js';
import { checkChunk, latencySummary, VerificationTally, type LatencySummary } from './verify.js';
import { mulberry32 } from '../stats/shift.js';
import { clientFields, meterClient } from './headroom.js';

/** An object the client requests and the exact bytes it must receive. */
export interface ExpectedObject {
  path: string;
  body: Buffer;
}

/** Options of one closed-model HTTP load (fixed connections, fixed duration). */
export interface HttpLoadOptions {
  baseUrl: string;
  objects: ExpectedObject[];
  connections: number;
  durationSec: number;
  /** Seed for each connection's request order. */
  seed?: number;
  /** A request with no progress for this long is a timeout, whole seconds (default: max(10, durationSec)). */
  timeoutSec?: number;
  signal?: AbortSignal;
  /** Called about once a second with live totals (for progress display). */
  onTick?: (t: { elapsedSec: number; requests: number; bodyBytes: number }) => void;
}

/** What one load produced. */
export interface HttpLoadResult {
  durationSec: number;
  requests: number;
  bodyBytes: number;
  wireBytes: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  verification: VerificationResult;
  latencyUs: LatencySummary;
  /** Time from sending a request to its first body byte (closed model only). */
  ttfbUs?: LatencySummary;
  /** Cores the client (this process, every thread) used. */
  clientCpu: number;
  /** Share of the CPU it may use that the client asked for (probes/headroom.ts); absent from older clients. */
  clientDemand?: number;
  /** Whether the client lost its headroom (demand at or over CLIENT_BOUND_DEMAND). */
  clientBound: boolean;
  /** Why, in words, when it did. */
  clientBoundReason?: string;
  /** Requests per second offered (open model), to judge what was carried: requests / durationSec. */
  offeredRate?: number;
  /** When its window started, ms since the epoch on its host's clock (load workers). */
  startedAtMs?: number;
  /** When the load worker was ready (process started, objects built), ms since the epoch on its host's clock. */
  readyAtMs?: number;
  /** Merged results: how far apart the clients' windows started, ms (the start barrier's skew). */
  clientSkewMs?: number;
  /** The latency (and TTFB) histograms, HdrHistogram compressed base64: results from several clients merge exactly. */
  histograms?: { latency: string; ttfb?: string };
  /** Per client host, when the load ran on several (see mergeLoadResults). */
  clients?: ClientShare[];
}

/** One load client's share of a merged load. */
export interface ClientShare {
  name: string;
  requests: number;
  bodyBytes: number;
  clientCpu: number;
  clientDemand?: number;
  clientBound: boolean;
  clientBoundReason?: string;
  startedAtMs?: number;
}

/** CPU around one load, read from the target's snapshots by the engine (it knows where the client ran). */
export interface LoadCpu {
  /** Cores the server processes used (the engine's estimate when they are unknown). */
  serverCores: number;
  /** Busy share of the whole target, 0..1. */
  targetBusy: number;
  /**
   * The machine's CPU as the fleet counts it: every CPU's user + system + interrupt (+ softirq),
   * in cores, without the load client when it ran on the target. Kernel work done for nginx in
   * other threads (FreeBSD ktls workers, interrupt threads, softirq) is in it; in serverCores it is not.
   */
  machineCores: number;
  /** The same as a share of all the target's CPUs, 0..1. */
  machineBusy: number;
}

const ms = (us: number) => us / 1000;

/**
 * What the http probe produces, in both load models. Latency is from the send (closed model) or
 * from the due time (open model, so queueing counts); time to first byte is from the send in both.
 */
const HTTP_METRICS: readonly ProbeMetric[] = [
  { id: 'throughput_gbps', unit: 'Gb/s', direction: 'higher' },
  { id: 'requests_per_sec', unit: 'req/s', direction: 'higher' },
  { id: 'latency_p50_ms', unit: 'ms', direction: 'lower', quantile: 0.5 },
  { id: 'latency_p99_ms', unit: 'ms', direction: 'lower', quantile: 0.99 },
  { id: 'latency_p999_ms', unit: 'ms', direction: 'lower', quantile: 0.999 },
  { id: 'ttfb_p50_ms', unit: 'ms', direction: 'lower', quantile: 0.5 },
  { id: 'ttfb_p99_ms', unit: 'ms', direction: 'lower', quantile: 0.99 },
  { id: 'server_cpu_pct', unit: '% of one core', direction: 'lower' },
  { id: 'target_cpu_pct', unit: '%', direction: 'lower' },
  { id: 'client_cpu_pct', unit: '% of one core', direction: 'lower' },
  { id: 'client_demand_pct', unit: '% of the CPU it may use', direction: 'lower' },
  { id: 'gbps_per_core', unit: 'Gb/s/core', direction: 'higher' },
  { id: 'machine_cpu_per_gbps', unit: 'cores per Gb/s', direction: 'lower' },
  { id: 'machine_cpu_pct', unit: '% of all CPUs', direction: 'lower' },
  { id: 'errors', unit: 'count', direction: 'lower' },
  { id: 'verification_failures', unit: 'count', direction: 'lower' },
];

/** The HTTP load probe: autocannon closed model (or the open model under --rate), every body verified. */
export const httpProbe: ProbeDeclaration = {
  id: 'http',
  title: 'HTTP load (closed model; open model with --rate), every body verified',
  metrics: HTTP_METRICS,
  measures: (v) => v.client !== 'browser',
};

/** The http probe's metrics of one load (closed, open or merged from several clients). */
export function httpMetrics(load: HttpLoadResult, cpu: LoadCpu): Record<string, number> {
  const gbps = (load.bodyBytes * 8) / load.durationSec / 1e9;
  return {
    throughput_gbps: gbps,
    requests_per_sec: load.requests / load.durationSec,
    latency_p50_ms: ms(load.latencyUs.p50),
    latency_p99_ms: ms(load.latencyUs.p99),
    latency_p999_ms: ms(load.latencyUs.p999),
    server_cpu_pct: cpu.serverCores * 100,
    target_cpu_pct: cpu.targetBusy * 100,
    client_cpu_pct: load.clientCpu * 100,
    ...(load.clientDemand !== undefined ? { client_demand_pct: load.clientDemand * 100 } : {}),
    gbps_per_core: gbps / Math.max(cpu.serverCores, 0.01),
    machine_cpu_per_gbps: cpu.machineCores / Math.max(gbps, 1e-6),
    machine_cpu_pct: cpu.machineBusy * 100,
    errors: load.errors + load.timeouts,
    verification_failures: load.verification.failed,
    ...(load.ttfbUs ? { ttfb_p50_ms: ms(load.ttfbUs.p50), ttfb_p99_ms: ms(load.ttfbUs.p99) } : {}),
  };
}

/** How many responses lay beyond each latency percentile of one load (see tailSamples). */
export function httpTailSamples(load: Pick<HttpLoadResult, 'latencyUs' | 'ttfbUs'>): Record<string, number> {
  const lat = load.latencyUs.count;
  const ttfb = load.ttfbUs?.count;
  return tailSamples(HTTP_METRICS, { latency_p50_ms: lat, latency_p99_ms: lat, latency_p999_ms: lat, ttfb_p50_ms: ttfb, ttfb_p99_ms: ttfb });
}

interface Pending {
  req: { path?: string };
  startTime?: [number, number];
  headers: { statusCode?: number };
  off?: number;
  bad?: string;
}

/** Bytes read per recv() into each connection's reused buffer. */
export const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Connects (TLS for `secure`) so that every read lands in `buffer` (net and tls `onread`, Node >=
 * 15: decrypted records too) and goes to `onData` as a view that is valid only during the call.
 * TLS as a load client to the variant's own server: no certificate check, SNI for host names only.
 */
export function connectReusing(
  o: { host: string; port: number; secure: boolean; servername?: string; tlsOptions?: tls.ConnectionOptions },
  buffer: Buffer,
  onData: (chunk: Buffer) => void,
): net.Socket {
  const onread = {
    buffer,
    callback: (n: number, buf: Uint8Array) => {
      onData((buf as Buffer).subarray(0, n));
      return true; // keep reading
    },
  };
  if (!o.secure) return net.connect({ host: o.host, port: o.port, onread });
  // tls onread is missing from @types/node's ConnectionOptions.
  const servername = o.servername ?? (net.isIP(o.host) ? undefined : o.host);
  return tls.connect({
    ...o.tlsOptions,
    host: o.host,
    port: o.port,
    rejectUnauthorized: false,
    servername,
    onread,
  } as tls.ConnectionOptions);
}

/**
 * Replaces autocannon's connect with one that reads into a per-connection buffer
 * (connectReusing) instead of allocating a new Buffer per chunk. Bodies are verified
 * synchronously and never kept, so reuse is safe; the allocation churn it removes made the
 * client's throughput swing 2-3x between repetitions on the 2-core test machine.
 */
function useStaticReadBuffer(client: any): void {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  client._connect = function (this: any) {
    const where = {
      host: this.opts.hostname,
      port: this.opts.port,
      secure: !!this.secure,
      servername: this.opts.servername,
      tlsOptions: this.opts.tlsOptions,
    };
    this.conn = connectReusing(where, buffer, (chunk) => {
      this.pipelinedRequests.addByteCount(chunk.length);
      this.parser.execute(chunk);
    });
    this.conn.on('error', (error: Error) => {
      this.emit('connError', error);
      if (!this.destroyed) this._connect();
    });
    this.conn.on('end', () => {
      if (!this.destroyed) this._connect();
    });
    for (let i = 0; i < this.opts.pipelining; i++) this._doRequest();
  };
}

/**
 * autocannon keeps one HTTP parser and one queue of pending requests per client across
 * reconnects. After a timeout mid-body (or a connection error) the new connection's bytes were
 * parsed as the rest of the old response and matched to the wrong request: a stalled server
 * showed up as "HTTP status undefined" payload failures (seen on a cold-cache run). A request
 * whose connection died will never be answered, so each new connection starts with a reset
 * parser and an empty queue; the lost requests count as errors or timeouts, not as bad bytes.
 */
function freshParserPerConnection(client: any): void {
  const connect = client._connect;
  client._connect = function (this: any) {
    this.parser.initialize(this.parser.type ?? 'RESPONSE');
    this.pipelinedRequests.clear();
    return connect.call(this);
  };
}

/**
 * Runs autocannon against baseUrl and verifies every response body against the expected bytes.
 * autocannon as shipped turns each body chunk into a string (it then measures itself, not the
 * server); here each chunk is compared in place with Buffer.compare (memcmp), which keeps the
 * client at wire speed while no byte goes unchecked.
 */
export async function runHttpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  if (o.objects.length === 0) throw infraError('http load: empty object set');
  if (o.signal?.aborted) throw interruptedError();
  const expected = new Map(o.objects.map((x) => [x.path, x.body]));
  const paths = o.objects.map((x) => x.path);
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const ttfb = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const tally = new VerificationTally();
  let bodyBytes = 0;
  let completed = 0;
  let clientIndex = 0;

  // Typed loosely: setupClient receives autocannon's internal Client.
  const setupClient = (client: any) => {
    const rnd = mulberry32((o.seed ?? 1) * 7919 + clientIndex++);
    const order = [...paths];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    client.setRequests(order.map((p) => ({ method: 'GET', path: p })));
    const q = client.pipelinedRequests;
    q.addBody = function (data: Buffer) {
      const r: Pending | undefined = this.pendingRequests[0];
      if (!r) return;
      const off = r.off ?? 0;
      if (off === 0 && r.startTime) {
        const [sec, ns] = process.hrtime(r.startTime);
        ttfb.recordValue(Math.max(1, Math.round(sec * 1e6 + ns / 1e3)));
      }
      if (r.bad === undefined) r.bad = checkChunk(expected.get(r.req.path ?? ''), data, off);
      r.off = off + data.length;
    };
    const terminate = q.terminateRequest.bind(q);
    q.terminateRequest = function () {
      const r = terminate() as Pending | undefined;
      if (!r) return r;
      const p = r.req.path ?? '?';
      const got = r.off ?? 0;
      bodyBytes += got;
      completed++;
      tally.finish(p, r.headers.statusCode, r.bad, got, expected.get(p));
      return r;
    };
    if (!client.ipc) useStaticReadBuffer(client);
    freshParserPerConnection(client);
    client.on('response', (_status: number, _bytes: number, ms: number) => {
      hist.recordValue(Math.max(1, Math.round(ms * 1000)));
    });
  };

  // autocannon counts its window in whole seconds (a 0.5 s load runs 1 s, 1.5 s runs 2 s): ask for
  // that window and divide by it, or a fractional --duration overstates the rate (by 2x at 0.5 s).
  const windowSec = Math.max(1, Math.ceil(o.durationSec - 1e-9));
  const meter = meterClient();
  const t0 = process.hrtime.bigint();
  const instance = autocannon(
    {
      url: o.baseUrl,
      connections: o.connections,
      duration: windowSec,
      // Whole seconds: autocannon never starts with a fractional timeout.
      timeout: Math.max(1, Math.ceil(o.timeoutSec ?? Math.max(10, o.durationSec))),
      setupClient,
    } as autocannon.Options,
    () => {},
  );
  const ticker = setInterval(() => {
    o.onTick?.({ elapsedSec: Number(process.hrtime.bigint() - t0) / 1e9, requests: completed, bodyBytes });
  }, 1000);
  const onAbort = () => instance.stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let res: autocannon.Result;
  try {
    res = await new Promise<autocannon.Result>((resolve, reject) => {
      instance.on('done', resolve);
      instance.on('error', reject);
    });
  } finally {
    clearInterval(ticker);
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (o.signal?.aborted) throw interruptedError();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const use = meter();
  const durationSec = Math.min(wall, windowSec) || wall;
  return {
    durationSec,
    requests: completed,
    bodyBytes,
    wireBytes: res.throughput.total,
    errors: res.errors,
    timeouts: res.timeouts,
    non2xx: res.non2xx,
    verification: tally.result,
    latencyUs: latencySummary(hist),
    ttfbUs: ttfb.totalCount ? latencySummary(ttfb) : undefined,
    ...clientFields(use),
    histograms: {
      latency: hdr.encodeIntoCompressedBase64(hist),
      ...(ttfb.totalCount ? { ttfb: hdr.encodeIntoCompressedBase64(ttfb) } : {}),
    },
  };
}
