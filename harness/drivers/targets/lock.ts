import os from 'node:os';
import path from 'node:path';
import { infraError } from '../../model/errors.js';
import { pidAlive } from '../../lib/process.js';
import type { Target } from './target.js';
import { stateDir } from '../../lib/journal.js';
import { sleep } from '../../lib/cleanup.js';

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
 * Takes the target's lock: `mkdir` of WORKDIR/lock (for the local machine: the state directory's)
 * is atomic on every filesystem, so two runs (from any machines) never share one machine. A lock
 * left by a dead run of this machine is taken over; any other held lock is exit 3 naming its
 * owner, unless `waitSec` allows waiting for it.
 */
export async function acquireTargetLock(
  target: Target,
  runId: string,
  waitSec = 0,
  log: (line: string) => void = () => {},
  sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
): Promise<TargetLock> {
  const t0 = Date.now();
  const deadline = t0 + waitSec * 1000;
  let waiting = false;
  for (;;) {
    try {
      const lock = await tryLock(target, runId);
      if (waiting) log(`target ${target.name}: lock taken after waiting ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return lock;
    } catch (e) {
      // --wait-lock: another run holds the target; wait for it (bounded) instead of failing.
      if (Date.now() >= deadline || !/locked by/.test((e as Error).message)) throw e;
      if (!waiting) log(`${(e as Error).message.split(': ').slice(0, 2).join(': ')}: waiting up to ${waitSec} s for it`);
      waiting = true;
      await sleepMs(Math.min(2000, Math.max(100, deadline - Date.now())));
    }
  }
}

async function tryLock(target: Target, runId: string): Promise<TargetLock> {
  // The local machine's lock lives in headgate's state directory; a remote target's in its work directory.
  const base = target.workDir ?? stateDir();
  const dir = path.posix.join(base, 'lock');
  const ownerFile = path.posix.join(dir, 'owner.json');
  const me: LockOwner = { host: os.hostname(), pid: process.pid, runId, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    await target.exec(['mkdir', '-p', base]);
    const r = await target.exec(['mkdir', dir], { allowFail: true });
    if (r.code === 0) {
      await target.writeFile(ownerFile, JSON.stringify(me) + '\n');
      return {
        release: async () => {
          await target.exec(['rm', '-rf', dir]);
        },
      };
    }
    // The holder writes its owner file just after its mkdir: a lock taken a moment ago may not name
    // its owner yet, so look once more before calling it unknown.
    const text = (await target.readFileIfExists(ownerFile)) ?? (await sleep(300).then(() => target.readFileIfExists(ownerFile)));
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
