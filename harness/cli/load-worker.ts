import type { Command } from 'commander';
import { inputError } from '../model/errors.js';
import { runLoadWorker, type LoadWorkerSpec } from '../probes/worker.js';
import { action } from './common.js';

/** Registers the hidden `load-worker` command: the harness's load client, run on a client host over ssh. */
export function registerLoadWorker(program: Command): void {
  program
    .command('load-worker', { hidden: true })
    .description('run one verifying HTTP load from a JSON spec on stdin and print the result as JSON (used on load-client hosts)')
    .action(
      action(async () => {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        let spec: LoadWorkerSpec;
        try {
          spec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as LoadWorkerSpec;
        } catch (e) {
          throw inputError(`load-worker: stdin is not a JSON spec (${(e as Error).message})`);
        }
        const result = await runLoadWorker(spec);
        process.stdout.write(JSON.stringify(result) + '\n');
      }),
    );
}
