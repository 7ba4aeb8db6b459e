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
}

/** Runs one load from a spec and returns the result with its histograms (what a remote client prints). */
export async function runLoadWorker(spec: LoadWorkerSpec) {
  const { manifest, bodies } = buildManifest(spec.objects.seed, spec.objects.totalMiB);
  const kind = spec.objects.kind;
  const objects = manifest.objects
    .filter((o) => !kind || kind === 'all' || o.kind === kind)
    .map((o) => ({ path: spec.objects.prefix + o.path, body: bodies.get(o.path)! }));
  return runHttpLoad({ baseUrl: spec.baseUrl, objects, connections: spec.connections, durationSec: spec.durationSec, seed: spec.orderSeed });
}
