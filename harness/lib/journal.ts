import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CleanupStack } from './cleanup.js';

/**
 * The restore journal: before headgate changes a machine it appends, fsynced, what undoes the
 * change; when the change is undone it appends that the entry is done. The in-memory restore
 * stack does the undoing in a live run; the journal is for a run that died (SIGKILL, OOM, a CI
 * runner's escalated cancel): the next command that opens the machine replays what is left.
 */

/** How to undo one change, as data (a closure cannot outlive the process that made it). */
export type UndoAction =
  /** Set a sysctl back (Linux: /proc/sys; FreeBSD: sysctl(8)). */
  | { kind: 'sysctl'; name: string; value: string }
  /** Write a /sys file back (an I/O scheduler, a queue setting). */
  | { kind: 'write'; path: string; value: string }
  /** Kill what runs in a network namespace and delete it (its veths and qdiscs go with it). */
  | { kind: 'netns-del'; name: string }
  /** Delete a network link left in the root namespace. */
  | { kind: 'link-del'; name: string }
  /** Detach every loop device backed by this file. */
  | { kind: 'losetup-detach'; backing: string }
  /** FreeBSD: detach every md(4) device backed by this file (mdconfig -l -f FILE, mdconfig -d -u N). */
  | { kind: 'md-detach'; backing: string }
  /** FreeBSD: unmount what an md(4) device backed by this file has mounted on this mount point. */
  | { kind: 'md-umount'; backing: string; mountPoint: string }
  /** Remove a file or directory headgate created (only under headgate's own roots). */
  | { kind: 'rm'; path: string }
  /** Kill a process group headgate started, if its leader is still the same process (pid and start time). */
  | { kind: 'kill-group'; pid: number; start: string }
  /** Stop the ssh master connection (ControlPersist) behind this control socket and remove the socket. */
  | { kind: 'ssh-master'; controlPath: string }
  /** FreeBSD: remove a jail headgate created (jail -r). */
  | { kind: 'jail-remove'; name: string }
  /** FreeBSD: destroy a cloned interface headgate created (ifconfig NAME destroy). */
  | { kind: 'ifconfig-destroy'; name: string }
  /** FreeBSD: unload a kernel module headgate loaded. */
  | { kind: 'kldunload'; name: string }
  /** FreeBSD: set a kernel environment variable back (null: unset it). */
  | { kind: 'kenv'; name: string; value: string | null }
  /** Linux: unmount a filesystem headgate mounted (only the tracefs mount point is accepted). */
  | { kind: 'umount'; path: string }
  /** Linux: remove a tracefs instance headgate created (its events are disabled first). */
  | { kind: 'tracefs-instance'; path: string };

/** Which process made a change: a journal entry is replayed only when its owner is gone. */
export interface Owner {
  host: string;
  pid: number;
  /** The process's start time (Linux /proc/PID/stat field 22), so a reused pid is not mistaken for it. */
  start: string;
}

/** One recorded change. */
export interface JournalEntry {
  id: string;
  at: string;
  owner: Owner;
  label: string;
  undo: UndoAction;
}

type Line = JournalEntry | { done: string; at: string };

/** What a journal holds: its entries (oldest first), which are done, and whether the last line was torn. */
export interface JournalState {
  entries: JournalEntry[];
  done: Set<string>;
  /** The last line was incomplete (a writer killed mid-line); it is ignored. */
  torn: boolean;
}

/** A journal on some machine. */
export interface Journal {
  /** Where it lives, for messages (a path, with the host for remote ones). */
  readonly where: string;
  /** Appends (fsynced) how to undo a change about to be made; returns the entry's id. */
  record(label: string, undo: UndoAction): Promise<string>;
  /** Marks an entry undone. */
  done(id: string): Promise<void>;
  read(): Promise<JournalState>;
}

/** Start time of a local process (clock ticks since boot), or null when it is gone. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** This process, as the owner of what it records. */
export const SELF: Owner = { host: os.hostname(), pid: process.pid, start: processStart(process.pid) ?? '' };

/** Whether an owner is a live process of this machine; owners on other hosts count as alive (not ours to judge). */
export function ownerAlive(o: Owner, host = os.hostname(), start: (pid: number) => string | null = processStart): boolean {
  if (o.host !== host) return true;
  const s = start(o.pid);
  return s !== null && s === o.start;
}

/** Parses journal text; a torn last line (killed writer) is ignored and reported. */
export function parseJournal(text: string): JournalState {
  const entries: JournalEntry[] = [];
  const done = new Set<string>();
  let torn = false;
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    let x: Line;
    try {
      x = JSON.parse(l) as Line;
    } catch {
      // Only the last line can be torn; anything else is damage worth a loud note, but still skipped.
      torn = torn || i >= lines.length - 2;
      return;
    }
    if ('done' in x) done.add(x.done);
    else if (x && typeof x.id === 'string' && x.undo) entries.push(x);
  });
  return { entries, done, torn };
}

/** Entries not yet undone whose owner is gone, newest first: the order to undo them in. */
export function leftovers(s: JournalState, alive: (o: Owner) => boolean = (o) => ownerAlive(o)): JournalEntry[] {
  return s.entries.filter((e) => !s.done.has(e.id) && !alive(e.owner)).reverse();
}

const newId = () => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/** A journal in a file of this machine; every line is appended and fsynced before the change. */
export class FileJournal implements Journal {
  constructor(readonly where: string) {}

  private async append(line: Line): Promise<void> {
    await mkdir(path.dirname(this.where), { recursive: true, mode: 0o700 });
    const fh = await open(this.where, 'a', 0o600);
    try {
      await fh.write(JSON.stringify(line) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async record(label: string, undo: UndoAction): Promise<string> {
    const id = newId();
    await this.append({ id, at: new Date().toISOString(), owner: SELF, label, undo });
    return id;
  }

  async done(id: string): Promise<void> {
    await this.append({ done: id, at: new Date().toISOString() });
  }

  async read(): Promise<JournalState> {
    return existsSync(this.where) ? parseJournal(await readFile(this.where, 'utf8')) : { entries: [], done: new Set(), torn: false };
  }
}

/** Where headgate keeps this machine's state (the journal, the local target's lock): HEADGATE_STATE_DIR or /var/lib/headgate. */
export function stateDir(): string {
  return process.env.HEADGATE_STATE_DIR || '/var/lib/headgate';
}

let local: FileJournal | undefined;
/** This machine's journal (one per machine, shared by every headgate process on it). */
export function localJournal(): FileJournal {
  const file = path.join(stateDir(), 'journal.jsonl');
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
