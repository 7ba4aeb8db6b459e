import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { infraError } from '../../model/errors.js';
import { pidAlive } from '../../lib/process.js';
import { localMachine, lookupProcessStart, pidNamespace, sameStart } from '../../lib/machine.js';
import { SELF } from '../../lib/journal.js';
import { sleep } from '../../lib/cleanup.js';
import { LocalTarget } from './local.js';
import type { Target } from './target.js';

/**
 * One run per machine: the lock is a directory `lock` in headgate's home on the target's machine
 * (mkdir is atomic on every filesystem), whatever name reached the machine: a target that runs on
 * this kernel (local, a netns lab, ssh to localhost) takes this machine's lock, and every ssh name
 * of a remote box reaches the same home. Its owner file says which process holds it; a lock whose
 * owner is a dead process of this machine (pid and start time, same pid namespace) is taken over
 * under a second mutex, so two runs can never both take over one stale lock; a lock is released
 * only by its owner.
 */

/** A held per-machine lock. */
export interface TargetLock {
  release(): Promise<void>;
}

/** Who holds a lock, as written into it. */
export interface LockOwner {
  host: string;
  pid: number;
  runId: string;
  since: string;
  /** The owner's machine id, boot, pid namespace and start time (absent in locks of older versions). */
  machine?: string;
  boot?: string;
  pidns?: string;
  start?: string;
  /** A random token naming this very lock: release and takeover compare it, never just the pid. */
  token?: string;
}

/** How a lock's owner is judged: only a process of this machine, in this pid namespace, can be found dead. */
export interface Liveness {
  host: string;
  machine: string;
  pidns: string;
  lookup: typeof lookupProcessStart;
  /** Legacy owners (host and pid only). */
  pidAlive: (pid: number) => boolean;
}

const HERE = (): Liveness => ({ host: os.hostname(), machine: localMachine().id, pidns: pidNamespace(), lookup: lookupProcessStart, pidAlive });

/** Whether a recorded owner is a dead process of this machine (its lock may be taken over). */
export function ownerIsStale(owner: LockOwner, me: Liveness = HERE()): boolean {
  if (owner.machine === undefined || owner.start === undefined) return owner.host === me.host && !me.pidAlive(owner.pid);
  if (owner.machine !== me.machine) return false; // another controller's run: not ours to judge
  if (owner.pidns && me.pidns && owner.pidns !== me.pidns) return false; // another pid namespace: its pids mean nothing here
  const s = me.lookup(owner.pid);
  if ('gone' in s) return true;
  if ('unknown' in s) return false;
  return !sameStart(s.start, owner.start);
}

/** The machine a target's lock belongs to (two targets with the same key share one lock). */
export function lockKey(t: Pick<Target, 'machine' | 'home' | 'onController'>): string {
  return t.onController ? `controller:${localMachine().id}` : `${t.machine.id || '?'}:${t.home}`;
}

/** Locks this process holds, by lockKey: a second target of this command on the same machine waits its turn. */
const heldHere = new Map<string, Promise<void>>();

/**
 * Takes the machine's lock for a target: `host` runs the lock's commands (the target itself, or
 * this machine for a target that runs here). A lock held by another live run is exit 3 naming its
 * owner, unless `waitSec` allows waiting for it. Another target of this same command on the same
 * machine is waited for (its runs are serialized, never concurrent).
 */
export async function acquireTargetLock(
  target: Target,
  runId: string,
  waitSec = 0,
  log: (line: string) => void = () => {},
  sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
): Promise<TargetLock> {
  // A target on this kernel takes this machine's lock with this machine's own commands.
  const host: Target = target.onController && target.kind !== 'local' ? new LocalTarget() : target;
  const key = lockKey(target);
  const mine = heldHere.get(key);
  if (mine) {
    log(`target ${target.name}: another target of this command runs on the same machine; waiting for it`);
    while (heldHere.has(key)) await heldHere.get(key);
  }
  let done!: () => void;
  heldHere.set(key, new Promise<void>((r) => (done = r)));
  const t0 = Date.now();
  const deadline = t0 + waitSec * 1000;
  let waiting = false;
  try {
    for (;;) {
      try {
        const lock = await tryLock(target, host, runId);
        if (waiting) log(`target ${target.name}: lock taken after waiting ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        return {
          release: async () => {
            try {
              await lock.release();
            } finally {
              heldHere.delete(key);
              done();
            }
          },
        };
      } catch (e) {
        // --wait-lock: another run holds the target; wait for it (bounded) instead of failing.
        if (Date.now() >= deadline || !/locked by/.test((e as Error).message)) throw e;
        if (!waiting) log(`${(e as Error).message.split(': ').slice(0, 2).join(': ')}: waiting up to ${waitSec} s for it`);
        waiting = true;
        await sleepMs(Math.min(2000, Math.max(100, deadline - Date.now())));
      }
    }
  } catch (e) {
    heldHere.delete(key);
    done();
    throw e;
  }
}

const parseOwner = (text: string | null): LockOwner | null => {
  try {
    const o = text ? (JSON.parse(text) as LockOwner) : null;
    return o && typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
};

async function tryLock(target: Target, host: Target, runId: string): Promise<TargetLock> {
  const dir = path.posix.join(target.home, 'lock');
  const ownerFile = path.posix.join(dir, 'owner.json');
  const mutex = path.posix.join(target.home, 'lock.takeover');
  const me: LockOwner = { host: os.hostname(), pid: process.pid, runId, since: new Date().toISOString(), machine: SELF.machine, boot: SELF.boot, pidns: SELF.pidns, start: SELF.start, token: randomBytes(8).toString('hex') };
  const take = async (): Promise<boolean> => {
    const r = await host.exec(['mkdir', '-m', '700', dir], { allowFail: true });
    if (r.code !== 0) return false;
    await host.writeFile(ownerFile, JSON.stringify(me) + '\n');
    return true;
  };
  const held: TargetLock = {
    release: async () => {
      // Only our own lock: one taken over (wrongly) by another run stays theirs.
      const now = parseOwner(await host.readFileIfExists(ownerFile).catch(() => null));
      if (now && now.token !== undefined && now.token !== me.token) throw infraError(`target ${target.name}: the lock ${dir} is no longer this run's (now ${now.runId}, pid ${now.pid}); left as it is`);
      await host.exec(['rm', '-rf', dir]);
    },
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await take()) return held;
    // The holder writes its owner file just after its mkdir: a lock taken a moment ago may not name
    // its owner yet, so look once more before calling it unknown.
    const text = (await host.readFileIfExists(ownerFile)) ?? (await sleep(300).then(() => host.readFileIfExists(ownerFile)));
    const owner = parseOwner(text);
    if (owner && ownerIsStale(owner)) {
      if (await takeOver(host, dir, ownerFile, mutex, owner, take)) return held;
      await sleep(100 + Math.random() * 200);
      continue;
    }
    const who = owner ? `run ${owner.runId} (host ${owner.host}, pid ${owner.pid}, since ${owner.since})` : 'an unknown run (no owner recorded)';
    throw infraError(`target ${target.name}: locked by ${who}: ${dir}`, `wait for that run, or remove ${dir} on ${target.name} if it is gone`);
  }
  throw infraError(`target ${target.name}: could not take the lock ${dir}`);
}

/**
 * Takes over a stale lock under a second mutex (lock.takeover, also a mkdir): only its holder
 * removes the stale lock, and only if the owner file still names the stale owner it judged, so two
 * runs that both saw the stale lock cannot both end up holding it.
 */
async function takeOver(host: Target, dir: string, ownerFile: string, mutex: string, stale: LockOwner, take: () => Promise<boolean>): Promise<boolean> {
  const mine = JSON.stringify({ ...SELF, since: new Date().toISOString() });
  const m = await host.exec(['mkdir', '-m', '700', mutex], { allowFail: true });
  if (m.code !== 0) {
    // Another run is taking over now; a mutex left by a dead one goes (its owner judged like a lock's).
    const holder = parseOwner(await host.readFileIfExists(path.posix.join(mutex, 'owner.json')));
    if (holder && ownerIsStale({ ...holder, runId: 'takeover', since: '' })) await host.exec(['rm', '-rf', mutex]);
    return false;
  }
  try {
    await host.writeFile(path.posix.join(mutex, 'owner.json'), mine + '\n');
    const now = parseOwner(await host.readFileIfExists(ownerFile));
    const same = now && now.pid === stale.pid && now.since === stale.since && now.token === stale.token;
    if (!same) return false;
    await host.exec(['rm', '-rf', dir]);
    return await take();
  } finally {
    await host.exec(['rm', '-rf', mutex]);
  }
}
