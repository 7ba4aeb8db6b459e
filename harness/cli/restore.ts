import type { Command } from 'commander';
import { restoreTargets } from '../app/restore.js';
import { ExitCode } from '../model/errors.js';
import { action, output, targetLockOptions } from './common.js';

/** Registers `restore`: replay the restore journal of dead runs on demand. */
export function registerRestore(program: Command): void {
  targetLockOptions(
    program
      .command('restore')
      .description("undo what dead headgate runs left (knobs, loop devices, namespaces, processes, temp directories): this machine's journal, then each remote target's under its lock"),
    'targets whose journals to replay besides this machine (local, ssh:..., an inventory name, group:G)',
  ).action(
      action(async (o: { target: string; inventory?: string; waitLock: number }, cmd: Command) => {
        const { json } = output(cmd);
        const outcomes = await restoreTargets(o.target, o.inventory, o.waitLock, { signal: new AbortController().signal, log: (l) => process.stderr.write(l + '\n') });
        const failed = outcomes.some((x) => x.failed.length);
        if (json) process.stdout.write(JSON.stringify({ outcomes }, null, 2) + '\n');
        else {
          for (const x of outcomes) {
            process.stdout.write(`${x.machine}: ${x.restored.length ? `restored ${x.restored.length}: ${x.restored.join('; ')}` : 'nothing to restore'} (${x.journal})\n`);
            for (const f of x.reported) process.stdout.write(`${x.machine}: not replayed: ${f}\n`);
            for (const f of x.failed) process.stdout.write(`${x.machine}: FAILED: ${f}\n`);
          }
        }
        return failed ? ExitCode.Infrastructure : ExitCode.Pass;
      }),
    );
}
