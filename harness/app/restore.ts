import { localScope, replayFor, replayJournal, type ReplayResult } from '../drivers/journal.js';
import { undoPolicy } from '../engine/policy.js';
import { openHost, resolveTargets } from '../drivers/targets/index.js';
import { acquireTargetLock } from '../drivers/targets/lock.js';
import { LocalTarget } from '../drivers/targets/local.js';
import { localJournal } from '../lib/journal.js';
import type { AppContext } from './common.js';

/** What `restore` did on one machine. */
export interface RestoreOutcome {
  machine: string;
  journal: string;
  restored: string[];
  failed: string[];
  /** Entries reported instead of replayed: another boot's state, a value changed since. */
  reported: string[];
}

/**
 * Undoes what dead runs left: on this machine (its journal: knobs, loop devices, namespaces,
 * processes, temp directories), then on each remote target of the spec, under its lock.
 */
export async function restoreTargets(spec: string, inventory: string | undefined, waitLock: number, ctx: AppContext): Promise<RestoreOutcome[]> {
  const out: RestoreOutcome[] = [];
  const push = (machine: string, journal: string, r: ReplayResult | null) => out.push({ machine, journal, restored: r?.restored ?? [], failed: r?.failed ?? [], reported: r?.reported ?? [] });
  const local = new LocalTarget();
  const policy = await undoPolicy();
  push('local', localJournal().where, await replayJournal(localJournal(), localScope(local, policy), ctx.log));
  for (const h of await resolveTargets(spec, inventory)) {
    // The local machine and netns labs (built on it) keep their journal here: done above.
    if (h.kind === 'local' || h.kind === 'netns') continue;
    const t = await openHost(h);
    try {
      // A target that turns out to be this machine (ssh to localhost) shares its journal: done above.
      if (t.onController) continue;
      const lock = await acquireTargetLock(t, `restore-${process.pid}`, waitLock);
      try {
        push(h.name, t.journal.where, await replayFor(t, local, policy, ctx.log));
      } finally {
        await lock.release();
      }
    } finally {
      await t.close();
    }
  }
  return out;
}
