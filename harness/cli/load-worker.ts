import type { Command } from 'commander';
import { runLoadWorkerJson } from '../app/load-worker.js';
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
        const result = await runLoadWorkerJson(Buffer.concat(chunks).toString('utf8'));
        process.stdout.write(JSON.stringify(result) + '\n');
      }),
    );
}
