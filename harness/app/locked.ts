import { openHost, resolveTargets } from '../drivers/targets/index.js';
import { acquireTargetLock } from '../drivers/targets/lock.js';
import { runCommand } from '../lib/exec.js';
import { ExitCode, inputError } from '../model/errors.js';
import type { AppContext } from './common.js';

/**
 * Runs a command (a CI deploy step) while holding the machine lock of every target of the spec,
 * so no gate of another pipeline measures a target while this one deploys to it (the audit's H9).
 * The command gets HEADGATE_TARGETS (the names) and runs in a process group of its own; the
 * locks are released when it ends, however it ends. Returns its exit code (3 when a lock is held).
 */
export async function runLocked(spec: string, inventory: string | undefined, argv: string[], waitLock: number, timeoutSec: number, ctx: AppContext): Promise<number> {
  if (argv.length === 0) throw inputError('locked: give the command after --, e.g. headgate locked --target lab-01 -- ./deploy.sh');
  const hosts = await resolveTargets(spec, inventory);
  const held: { release(): Promise<void> }[] = [];
  const opened: { close(o?: { failed?: boolean }): Promise<void> }[] = [];
  try {
    for (const h of hosts) {
      const t = await openHost(h);
      opened.push(t);
      held.push(await acquireTargetLock(t, `locked-${process.pid}`, waitLock, ctx.log));
    }
    ctx.log(`locked: ${hosts.map((h) => h.name).join(', ')}; running ${argv.join(' ')}`);
    const r = await runCommand(argv, {
      env: { HEADGATE_TARGETS: hosts.map((h) => h.name).join(',') },
      signal: ctx.signal,
      timeoutMs: timeoutSec * 1000,
      onOutput: (text, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    });
    if (r.timedOut) ctx.log(`locked: ${argv[0]} ran past ${timeoutSec} s and was stopped`);
    return r.timedOut ? ExitCode.Infrastructure : (r.code ?? ExitCode.Infrastructure);
  } finally {
    for (const l of held.reverse()) await l.release().catch((e) => ctx.log(`locked: ${(e as Error).message}`));
    for (const t of opened) await t.close();
  }
}
