import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CleanupStack } from './cleanup.js';
import { ensureHome, ensurePrivateDir, homeDir } from './home.js';
import { localMachine, lookupProcessStart, pidNamespace, sameStart, type MachineIdentity } from './machine.js';
import { infraError } from '../model/errors.js';
import { fsyncDir, writeFailure } from './atomic.js';

/**
 * The restore journal: before headgate changes a machine it appends, fsynced, what undoes the
 * change; when the change is undone it appends that the entry is done. The in-memory restore
 * stack does the undoing in a live run; the journal is for a run that died (SIGKILL, OOM, a CI
 * runner's escalated cancel): the next command that opens the machine replays what is left.
 * A journal lives only in headgate's home on that machine (lib/home.ts), which is checked every
 * time it is opened: another user cannot plant one.
 */

/** How to undo one change, as data (a closure cannot outlive the process that made it). */
export type UndoAction =
  /**
   * Set a sysctl back to `value` (Linux: /proc/sys; FreeBSD: sysctl(8)), only while it still holds
   * `set` (what headgate wrote). `netns`: it was set inside that network namespace.
   */
  | { kind: 'sysctl'; name: string; value: string; set?: string; netns?: string }
  /** Write a /sys file back (an I/O scheduler, a queue setting), only while it still holds `set`. */
  | { kind: 'write'; path: string; value: string; set?: string }
  /** Kill what runs in a network namespace and delete it (its veths and qdiscs go with it). */
  | { kind: 'netns-del'; name: string }
  /** Delete a network link left in the root namespace. */
  | { kind: 'link-del'; name: string }
  /** Detach every loop device backed by this file. */
  | { kind: 'losetup-detach'; backing: string }
  /**
   * FreeBSD: detach every md(4) device backed by this file (mdconfig -l -f FILE, mdconfig -d -u N).
   * Replay only: headgate no longer makes md(4) filesystems (cold cache needs a real device, W1),
   * but a journal left by an older headgate that did must still be undone.
   */
  | { kind: 'md-detach'; backing: string }
  /** FreeBSD: unmount what an md(4) device backed by this file has mounted on this mount point (replay only, as md-detach). */
  | { kind: 'md-umount'; backing: string; mountPoint: string }
  /**
   * FreeBSD: mount the user's objects filesystem again if it is not mounted (a cold-cache remount
   * interrupted between its umount and its mount). Only a node ending in /objects or /.objects.
   */
  | { kind: 'remount'; node: string; special: string; fstype: 'ufs' | 'zfs' }
  /** Remove a file or directory headgate created (only inside headgate's home on that machine). */
  | { kind: 'rm'; path: string }
  /** Kill a process group headgate started (`program`), if its leader is still the same process (pid and start time). */
  | { kind: 'kill-group'; pid: number; start: string; program?: string }
  /** Stop the ssh master connection (ControlPersist) behind this control socket and remove the socket. */
  | { kind: 'ssh-master'; controlPath: string }
  /** FreeBSD: remove a jail headgate created (jail -r). */
  | { kind: 'jail-remove'; name: string }
  /** FreeBSD: destroy a cloned interface headgate created (ifconfig NAME destroy). */
  | { kind: 'ifconfig-destroy'; name: string }
  /** FreeBSD: unload a kernel module headgate loaded. */
  | { kind: 'kldunload'; name: string }
  /** FreeBSD: set a kernel environment variable back (null: unset it), only while it still holds `set`. */
  | { kind: 'kenv'; name: string; value: string | null; set?: string }
  /** Linux: unmount a filesystem headgate mounted (only the tracefs mount point is accepted). */
  | { kind: 'umount'; path: string }
  /** Linux: remove a tracefs instance headgate created (its events are disabled first). */
  | { kind: 'tracefs-instance'; path: string }
  /**
   * Reboot a box a kernel A/B session left on a test boot into its own boot (the target's boot
   * hook or nextboot), unless it already runs what it ran before the session: this kernel
   * release and version, and this command line (Linux) or kern.bootfile (FreeBSD).
   */
  | { kind: 'boot-default'; kernelRelease: string; kernelVersion: string; cmdline: string };

/** Undo kinds whose change outlives a reboot (files; a box's choice of boot); every other kind is state of one boot. */
export const PERSISTENT_KINDS: ReadonlySet<UndoAction['kind']> = new Set(['rm', 'boot-default']);

/** Which process made a change: a journal entry is replayed only when its owner is gone. */
export interface Owner {
  host: string;
  pid: number;
  /** The process's start time (Linux /proc/PID/stat field 22; FreeBSD procstat), so a reused pid is not mistaken for it. */
  start: string;
  /** The owner's machine and boot (absent in entries written before they were recorded). */
  machine?: string;
  boot?: string;
  /** The owner's pid namespace: a pid of another namespace cannot be judged from this one. */
  pidns?: string;
}

/** One recorded change. */
export interface JournalEntry {
  id: string;
  at: string;
  owner: Owner;
  label: string;
  undo: UndoAction;
  /** The boot of the machine the change was made on (state of another boot is gone with it). */
  boot?: string;
  /** That machine's id (a journal copied or shared to another machine is not replayed there). */
  machine?: string;
}

/** Names of knobs a run was given by its user (ab --a-knob/--b-knob): its sysctl entries may restore only these besides the suites' own. */
export interface KnobDeclaration {
  declare: 'user-knobs';
  at: string;
  owner: Owner;
  names: string[];
}

type Line = JournalEntry | { done: string; at: string; note?: string } | KnobDeclaration;

/** What a journal holds: its entries (oldest first), which are done, user knobs per owner, and damaged lines. */
export interface JournalState {
  entries: JournalEntry[];
  done: Set<string>;
  /** The last line was incomplete (a writer killed mid-line); it is ignored. */
  torn: boolean;
  /** User-declared knob names by owner key (ownerKey). */
  userKnobs?: Map<string, Set<string>>;
  /** Lines other than the last that could not be read (1-based line numbers): reported, skipped. */
  damaged?: number[];
}

/** A journal on some machine. */
export interface Journal {
  /** Where it lives, for messages (a path, with the host for remote ones). */
  readonly where: string;
  /** Appends (fsynced) how to undo a change about to be made; returns the entry's id. */
  record(label: string, undo: UndoAction): Promise<string>;
  /** Marks an entry undone (with a note when it was reported rather than undone). */
  done(id: string, note?: string): Promise<void>;
  read(): Promise<JournalState>;
  /** Records the knob names this process's user gave, before any of them is set. */
  declareUserKnobs?(names: string[]): Promise<void>;
}

/** The key of an owner in JournalState.userKnobs. */
export const ownerKey = (o: Owner): string => `${o.machine ?? o.host}:${o.boot ?? ''}:${o.pid}:${o.start}`;

/** Start time of a local process (clock ticks since boot on Linux), or null when it is gone or cannot be read. */
export { processStart } from './machine.js';

const selfStart = lookupProcessStart(process.pid);
/** This process, as the owner of what it records. */
export const SELF: Owner = {
  host: os.hostname(),
  pid: process.pid,
  start: 'start' in selfStart ? selfStart.start : '',
  machine: localMachine().id,
  boot: localMachine().boot,
  pidns: pidNamespace(),
};

/**
 * Whether an owner may still be running. Owners on other machines count as alive (not ours to
 * judge), as do owners in another pid namespace and owners whose start time cannot be read here:
 * replaying a live run's entries would undo its changes under it. An owner of an earlier boot of
 * this machine is dead, as is one whose pid is gone or now has another start time.
 */
export function ownerAlive(o: Owner, me: { host: string; machine: MachineIdentity; pidns: string } = { host: os.hostname(), machine: localMachine(), pidns: SELF.pidns ?? '' }, lookup: (pid: number) => ReturnType<typeof lookupProcessStart> = lookupProcessStart): boolean {
  if (o.machine !== undefined ? o.machine !== me.machine.id : o.host !== me.host) return true;
  if (o.pidns && me.pidns && o.pidns !== me.pidns) return true;
  const s = lookup(o.pid);
  if ('gone' in s) return false;
  // Unreadable: alive, unless it belongs to a boot that has ended (its processes went with it).
  if ('unknown' in s) return !(o.boot !== undefined && me.machine.boot !== '' && o.boot !== me.machine.boot);
  return sameStart(s.start, o.start);
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isOwner = (x: unknown): x is Owner => isObject(x) && typeof x.host === 'string' && Number.isInteger(x.pid) && typeof x.start === 'string';

/** Parses journal text; a torn last line (killed writer) is ignored and reported, as is any line that is not a journal line. */
export function parseJournal(text: string): JournalState {
  const entries: JournalEntry[] = [];
  const seen = new Set<string>();
  const done = new Set<string>();
  const userKnobs = new Map<string, Set<string>>();
  const damaged: number[] = [];
  let torn = false;
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    const last = i === lines.length - 1;
    let x: unknown;
    try {
      x = JSON.parse(l);
    } catch {
      // A line without its newline is a writer killed mid-line; any other bad line is damage.
      if (last) torn = true;
      else damaged.push(i + 1);
      return;
    }
    if (isObject(x) && typeof x.done === 'string') done.add(x.done);
    else if (isObject(x) && x.declare === 'user-knobs' && isOwner(x.owner) && Array.isArray(x.names)) {
      const k = ownerKey(x.owner);
      const set = userKnobs.get(k) ?? new Set<string>();
      for (const n of x.names) if (typeof n === 'string') set.add(n);
      userKnobs.set(k, set);
    } else if (isObject(x) && typeof x.id === 'string' && isOwner(x.owner) && isObject(x.undo) && typeof x.undo.kind === 'string' && typeof x.label === 'string') {
      // The same entry twice (an append repeated after a compaction raced it) counts once.
      if (!seen.has(x.id)) entries.push(x as unknown as JournalEntry);
      seen.add(x.id);
    } else damaged.push(i + 1);
  });
  return { entries, done, torn, userKnobs, damaged };
}

/** Entries not yet undone whose owner is gone, newest first: the order to undo them in. */
export function leftovers(s: JournalState, alive: (o: Owner) => boolean = (o) => ownerAlive(o)): JournalEntry[] {
  return s.entries.filter((e) => !s.done.has(e.id) && !alive(e.owner)).reverse();
}

/** A fresh entry id. */
export const newEntryId = (): string => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/** Bytes above which a journal is compacted (rewritten with only the entries not yet done). */
export const COMPACT_BYTES = 256 * 1024;

/**
 * A journal in headgate's home on this machine; every line is appended and fsynced before the
 * change. A short write is retried until every byte is out (a full disk is exit 3 and the change
 * is not made); a line left without its newline by a killed writer is closed before the next
 * append, so it never swallows the next entry.
 */
export class FileJournal implements Journal {
  /** The machine the journal describes (entries carry its boot, so another boot's state is not replayed). */
  constructor(
    readonly where: string,
    private readonly machine: () => MachineIdentity = localMachine,
  ) {}

  /** The journal's directory, checked as headgate's own every time the journal is opened. */
  private checkDir(): void {
    ensurePrivateDir(path.dirname(this.where));
  }

  private async append(line: Line): Promise<void> {
    this.checkDir();
    const text = JSON.stringify(line) + '\n';
    for (let attempt = 0; attempt < 3; attempt++) {
      const fh = await open(this.where, 'a+', 0o600);
      let ino: number;
      try {
        const st = await fh.stat();
        ino = st.ino;
        // A torn last line (no newline) gets one, so this entry starts a line of its own.
        let prefix = '';
        if (st.size > 0) {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, st.size - 1);
          if (last[0] !== 0x0a) prefix = '\n';
        }
        const buf = Buffer.from(prefix + text);
        let off = 0;
        while (off < buf.length) {
          const { bytesWritten } = await fh.write(buf, off, buf.length - off);
          if (bytesWritten <= 0) throw infraError(`${this.where}: journal write made no progress`);
          off += bytesWritten;
        }
        await fh.sync();
      } catch (e) {
        throw writeFailure(this.where, e);
      } finally {
        await fh.close();
      }
      // A compaction renamed a new file over this one while we wrote: write the line again to the new one.
      const now = await stat(this.where).catch(() => null);
      if (now && now.ino === ino) return;
    }
    throw infraError(`${this.where}: the journal kept being replaced while appending to it`);
  }

  async record(label: string, undo: UndoAction): Promise<string> {
    const id = newEntryId();
    const m = this.machine();
    await this.append({ id, at: new Date().toISOString(), owner: SELF, label, undo, boot: m.boot, machine: m.id });
    return id;
  }

  async done(id: string, note?: string): Promise<void> {
    await this.append({ done: id, at: new Date().toISOString(), ...(note ? { note } : {}) });
  }

  async declareUserKnobs(names: string[]): Promise<void> {
    if (names.length) await this.append({ declare: 'user-knobs', at: new Date().toISOString(), owner: SELF, names });
  }

  async read(): Promise<JournalState> {
    this.checkDir();
    return existsSync(this.where) ? parseJournal(await readFile(this.where, 'utf8')) : { entries: [], done: new Set(), torn: false };
  }

  /**
   * Rewrites the journal with only what is still pending (entries not done and their owners' knob
   * declarations) once it has grown past COMPACT_BYTES, without a lock other appenders would have
   * to take: the old file stays open; the compacted one is renamed over it; then whatever reached
   * the old file meanwhile is forwarded. An append that lands on the old file after that read sees
   * the file replaced (append checks the inode) and writes its line again; a line that arrives
   * twice counts once. One compaction at a time (a mkdir mutex).
   */
  async compact(): Promise<boolean> {
    this.checkDir();
    const size = (await stat(this.where).catch(() => null))?.size ?? 0;
    if (size < COMPACT_BYTES) return false;
    const mutex = `${this.where}.compacting`;
    try {
      await mkdir(mutex, { mode: 0o700 });
    } catch {
      // Another process compacts now (or one died doing it: its mutex goes after ten minutes).
      const st = await stat(mutex).catch(() => null);
      if (st && Date.now() - st.mtimeMs > 600_000) await rm(mutex, { recursive: true, force: true });
      return false;
    }
    const old = await open(this.where, 'r');
    try {
      const text = (await old.readFile()).toString('utf8');
      const s = parseJournal(text);
      const pending = s.entries.filter((e) => !s.done.has(e.id));
      const keepOwners = new Set(pending.map((e) => ownerKey(e.owner)));
      const lines: string[] = [];
      for (const l of text.split('\n')) {
        try {
          const x = JSON.parse(l) as Record<string, unknown>;
          if (x.declare === 'user-knobs' && isOwner(x.owner) && keepOwners.has(ownerKey(x.owner))) lines.push(l);
        } catch {
          /* damaged or torn: dropped with the done entries */
        }
      }
      lines.push(...pending.map((e) => JSON.stringify(e)));
      const tmp = `${this.where}.${randomBytes(6).toString('hex')}.tmp`;
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(lines.length ? lines.join('\n') + '\n' : '');
        await fh.sync();
      } catch (e) {
        await fh.close();
        await rm(tmp, { force: true });
        throw writeFailure(this.where, e);
      }
      await fh.close();
      await rename(tmp, this.where);
      await fsyncDir(path.dirname(this.where));
      // Lines appended to the old file since it was read (readFile goes on from where it stopped): forwarded.
      const rest = (await old.readFile()).toString('utf8');
      for (const l of rest.split('\n').filter((x) => x.trim())) {
        try {
          await this.append(JSON.parse(l) as Line);
        } catch {
          /* a torn line of a writer killed meanwhile */
        }
      }
      return true;
    } finally {
      await old.close();
      await rm(mutex, { recursive: true, force: true });
    }
  }
}

/** Where headgate keeps this machine's state (the journal, the lock, private per-run directories): HEADGATE_STATE_DIR or /var/lib/headgate. */
export function stateDir(): string {
  return homeDir();
}

let local: FileJournal | undefined;
/** This machine's journal (one per machine, shared by every headgate process on it), in its checked home. */
export function localJournal(): FileJournal {
  const file = path.join(ensureHome(), 'journal.jsonl');
  if (!local || local.where !== file) local = new FileJournal(file);
  return local;
}

/**
 * Records how to undo a change, puts the live undo on the restore stack, then makes the change:
 * a SIGKILL at any point after this leaves a journal entry the next command can replay. When the
 * change itself fails, the undo still runs at unwind (harmless: it restores what was there).
 */
export async function journaled<T>(
  journal: Journal | undefined,
  stack: CleanupStack,
  label: string,
  undo: UndoAction,
  change: () => Promise<T>,
  restore: () => Promise<void>,
): Promise<T> {
  const id = journal ? await journal.record(label, undo) : null;
  stack.push(label, async () => {
    await restore();
    if (id) await journal!.done(id);
  });
  return change();
}
