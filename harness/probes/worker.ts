import type { ObjectClass } from '../model/types.js';
import { runHttpLoad } from './http.js';
import { buildManifest } from './objects.js';

/** What a load client is asked to do (sent as JSON on the worker's stdin). */
export interface LoadWorkerSpec {
  baseUrl: string;
  /** The object set to request: rebuilt here from its seed, so every body is verified on the client. */
  objects: { seed: number; totalMiB: number; prefix: string; kind?: ObjectClass };
  connections: number;
  durationSec: number;
  /** Seed of the request order (different per client so they do not march in step). */
  orderSeed: number;
  /**
   * The start barrier: wall-clock time (ms since the epoch) at which every client starts its
   * window, once its objects are built. The hosts' clocks are assumed in step (NTP); clients on
   * one machine share one clock.
   */
  startAtMs?: number;
}

/** Runs one load from a spec and returns the result with its histograms (what a remote client prints). */
export async function runLoadWorker(spec: LoadWorkerSpec) {
  const { manifest, bodies } = buildManifest(spec.objects.seed, spec.objects.totalMiB);
  const kind = spec.objects.kind;
  const objects = manifest.objects
    .filter((o) => !kind || kind === 'all' || o.kind === kind)
    .map((o) => ({ path: spec.objects.prefix + o.path, body: bodies.get(o.path)! }));
  // When this host was ready (its own clock): the controller sizes the next barrier by the time
  // from dispatch to here, which includes ssh, starting node and loading the CLI, not only the build.
  const readyAtMs = Date.now();
  const wait = spec.startAtMs !== undefined ? spec.startAtMs - readyAtMs : 0;
  if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, MAX_BARRIER_WAIT_MS)));
  const startedAtMs = Date.now();
  const result = await runHttpLoad({ baseUrl: spec.baseUrl, objects, connections: spec.connections, durationSec: spec.durationSec, seed: spec.orderSeed });
  return { ...result, startedAtMs, readyAtMs };
}

/** A barrier further away than this is a clock out of step, not a plan: the client starts then anyway. */
const MAX_BARRIER_WAIT_MS = 60_000;
