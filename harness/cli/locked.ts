import type { Command } from 'commander';
import { runLocked } from '../app/locked.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { action, targetLockOptions } from './common.js';

/** Registers `locked -- CMD...`: a command (a CI deploy) run under the targets' machine locks. */
export function registerLocked(program: Command): void {
  targetLockOptions(
    program
      .command('locked <command...>')
      .description("run a command (a CI deploy step) while holding the targets' machine locks, so no other run measures them meanwhile; exits with the command's code (3 when a lock is held)"),
    'targets to lock (local, ssh:..., an inventory name, group:G)',
  )
    .option('--timeout <sec>', 'stop the command (its process group) after this long', (v) => Number(v), 3600)
    .action(
      action(async (command: string[], o: { target: string; inventory?: string; waitLock: number; timeout: number }) => {
        const { signal, dispose } = abortOnSignals();
        try {
          return await runLocked(o.target, o.inventory, command, o.waitLock, o.timeout, { signal, log: (l) => process.stderr.write(l + '\n') });
        } finally {
          dispose();
        }
      }),
    );
}
