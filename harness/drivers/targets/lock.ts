import os from 'node:os';
import path from 'node:path';
import { infraError } from '../../model/errors.js';
import { pidAlive } from '../../lib/process.js';
import type { Target } from './target.js';

/** A held per-target lock. */
export interface TargetLock {
  release(): Promise<void>;
}

/** Who holds a lock, as written into it. */
export interface LockOwner {
  host: string;
  pid: number;
  runId: string;
  since: string;
}

/** Whether a recorded owner is a dead process of this machine (its lock may be taken over). */
export function ownerIsStale(owner: LockOwner, thisHost: string, alive: (pid: number) => boolean): boolean {
  return owner.host === thisHost && !alive(owner.pid);
}

/**
 * Takes the target's lock: `mkdir` of WORKDIR/lock is atomic on every filesystem, so two runs
 * (from any machines) never share one appliance. A lock left by a dead run of this machine is
 * taken over; any other held lock is exit 3 naming its owner.
 */
export async function acquireTargetLock(target: Target, runId: string): Promise<TargetLock> {
  const dir = path.posix.join(target.workDir!, 'lock');
  const ownerFile = path.posix.join(dir, 'owner.json');
  const me: LockOwner = { host: os.hostname(), pid: process.pid, runId, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    await target.exec(['mkdir', '-p', target.workDir!]);
    const r = await target.exec(['mkdir', dir], { allowFail: true });
    if (r.code === 0) {
      await target.writeFile(ownerFile, JSON.stringify(me) + '\n');
      return {
        release: async () => {
          await target.exec(['rm', '-rf', dir]);
        },
      };
    }
    const text = await target.readFileIfExists(ownerFile);
    let owner: LockOwner | null = null;
    try {
      owner = text ? (JSON.parse(text) as LockOwner) : null;
    } catch {
      owner = null;
    }
    if (owner && ownerIsStale(owner, me.host, pidAlive)) {
      await target.exec(['rm', '-rf', dir]);
      continue;
    }
    const who = owner ? `run ${owner.runId} (host ${owner.host}, pid ${owner.pid}, since ${owner.since})` : 'an unknown run (no owner recorded)';
    throw infraError(`target ${target.name}: locked by ${who}: ${dir}`, `wait for that run, or remove ${dir} on ${target.name} if it is gone`);
  }
  throw infraError(`target ${target.name}: could not take the lock ${dir}`);
}
