import { inputError } from '../model/errors.js';
import { runLoadWorker, type LoadWorkerSpec } from '../probes/worker.js';

/** The load worker on a load-client host: one verifying HTTP load from the JSON spec the controller sent. */
export async function runLoadWorkerJson(text: string) {
  let spec: LoadWorkerSpec;
  try {
    spec = JSON.parse(text) as LoadWorkerSpec;
  } catch (e) {
    throw inputError(`load-worker: stdin is not a JSON spec (${(e as Error).message})`);
  }
  return runLoadWorker(spec);
}
