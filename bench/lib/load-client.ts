/**
 * One load client for bench/open-capacity.ts, run in a client network namespace: reads a JSON
 * spec on stdin, waits for the start barrier, runs the harness's closed or open model against
 * one object (every body verified) and prints the result, histograms included, as JSON.
 */
import { runHttpLoad } from '../../harness/probes/http.js';
import { objectBytes } from '../../harness/probes/objects.js';
import { runOpenLoad } from '../../harness/probes/open.js';

/** What the bench asks one client for. */
export interface BenchClientSpec {
  baseUrl: string;
  path: string;
  bytes: number;
  connections: number;
  durationSec: number;
  /** Open model: this client's arrivals per second; absent: the closed model. */
  rate?: number;
  /** The start barrier, ms since the epoch (every client shares this machine's clock). */
  startAtMs: number;
}

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BenchClientSpec;
const objects = [{ path: spec.path, body: objectBytes(1, spec.path, spec.bytes) }];
const wait = spec.startAtMs - Date.now();
if (wait > 0) await new Promise((r) => setTimeout(r, wait));
const startedAtMs = Date.now();
const load = { baseUrl: spec.baseUrl, objects, connections: spec.connections, durationSec: spec.durationSec };
const result = spec.rate !== undefined ? await runOpenLoad({ ...load, rate: spec.rate }) : await runHttpLoad(load);
process.stdout.write(JSON.stringify({ ...result, startedAtMs }) + '\n');
