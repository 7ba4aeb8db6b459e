import type { ObjectClass } from '../model/types.js';
import { runHttpLoad } from './http.js';
import { runOpenLoad } from './open.js';
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
  /**
   * Open model: the arrivals per second this client offers (its share of the total); its
   * arrivals are due from its own start, so the hosts' schedules line up as far as the barrier does.
   * Absent: the closed model.
   */
  rate?: number;
  /**
   * Open model: this client's place among the hosts. Each starts its walk through the objects a
   * count-th of the set further on, so no two hosts ask for one object moments apart (a cold-cache
   * object would then be read from the page cache the second time).
   */
  share?: { index: number; count: number };
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
  const load = { baseUrl: spec.baseUrl, connections: spec.connections, durationSec: spec.durationSec };
  const result =
    spec.rate !== undefined
      ? // The open model walks the objects in order: each host starts its own share of the set
        // further on (share), so the hosts do not request one object at the same moment.
        await runOpenLoad({ ...load, objects: rotate(objects, spec.share ? Math.floor((spec.share.index * objects.length) / Math.max(1, spec.share.count)) : 0), rate: spec.rate })
      : await runHttpLoad({ ...load, objects, seed: spec.orderSeed });
  return { ...result, startedAtMs, readyAtMs };
}

/** The list started at element `by` (mod its length), wrapping round. */
function rotate<T>(xs: T[], by: number): T[] {
  const k = xs.length ? ((by % xs.length) + xs.length) % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** A barrier further away than this is a clock out of step, not a plan: the client starts then anyway. */
const MAX_BARRIER_WAIT_MS = 60_000;
