import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { leftovers, localJournal, ownerAlive, parseJournal, processStart, SELF, stateDir, type Journal, type JournalEntry, type JournalState, type UndoAction } from '../lib/journal.js';
import { inputError } from '../model/errors.js';
import { killProcessGroup } from '../lib/exec.js';
import { deleteNamespace } from './net/lab.js';
import { TRACEFS_MOUNT } from './os/tracefs.js';
import type { Target } from './targets/target.js';

/** Roots under which a journal may remove files: headgate's temp and state directories (and a remote target's work directory). */
function removable(p: string, workDir: string | null): boolean {
  const n = path.posix.normalize(p);
  if (n !== p || n.includes('/../') || !n.startsWith('/')) return false;
  const roots = [/^\/tmp\/hg-[^/]+/, /^\/var\/tmp\/headgate-[^/]+/, new RegExp(`^${stateDir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^/]+`)];
  if (workDir) roots.push(new RegExp(`^${workDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^/]+`));
  return roots.some((r) => r.test(n));
}

const SYSCTL = /^[a-z0-9_][a-z0-9_.%-]*$/i;
/** kld files a `kld:` knob loads: tcp_rack, tcp_bbr (sys/modules/tcp), tcphpts, cc_cubic and the other cc_* modules. */
const KLD_KNOB_FILE = /^(tcp_[a-z0-9_]+|tcphpts|cc_[a-z0-9_]+)$/;

/**
 * Carries out one undo action on a machine. Every action is idempotent (undoing twice is
 * harmless) and checks its own input, since a journal is a file someone could have edited.
 */
export async function undoOn(t: Target, u: UndoAction): Promise<void> {
  const os_ = (await t.os()).family;
  switch (u.kind) {
    case 'sysctl': {
      if (!SYSCTL.test(u.name)) throw inputError(`journal: sysctl name ${JSON.stringify(u.name)} refused`);
      const argv = os_ === 'freebsd' ? ['sysctl', `${u.name}=${u.value}`] : ['sysctl', '-q', '-w', `${u.name}=${u.value}`];
      await t.exec(argv);
      return;
    }
    case 'write': {
      if (!/^\/sys\/[A-Za-z0-9_.:/-]+$/.test(u.path) || u.path.includes('..')) throw inputError(`journal: ${u.path}: only /sys files are written back`);
      await t.exec(['sh', '-c', 'printf %s "$1" > "$2"', 'sh', u.value, u.path]);
      return;
    }
    case 'netns-del': {
      if (!/^hg-[a-z0-9-]+$/.test(u.name)) throw inputError(`journal: namespace ${u.name} is not headgate's`);
      await deleteNamespace(t, u.name);
      return;
    }
    case 'link-del': {
      if (!/^hg[a-z0-9]+$/.test(u.name)) throw inputError(`journal: link ${u.name} is not headgate's`);
      await t.exec(['ip', 'link', 'del', u.name], { allowFail: true });
      return;
    }
    case 'losetup-detach': {
      if (!removable(u.backing, t.workDir)) throw inputError(`journal: loop backing file ${u.backing} is outside headgate's directories`);
      const r = await t.exec(['losetup', '-j', u.backing], { allowFail: true });
      for (const dev of r.stdout.split('\n').map((l) => l.split(':')[0]).filter((d) => /^\/dev\/loop\d+$/.test(d))) {
        await t.exec(['losetup', '-d', dev], { allowFail: true });
      }
      return;
    }
    case 'md-detach': {
      if (!removable(u.backing, t.workDir)) throw inputError(`journal: md backing file ${u.backing} is outside headgate's directories`);
      for (const unit of await mdUnitsOf(t, u.backing)) await t.exec(['mdconfig', '-d', '-u', unit], { allowFail: true });
      return;
    }
    case 'md-umount': {
      if (!removable(u.backing, t.workDir)) throw inputError(`journal: md backing file ${u.backing} is outside headgate's directories`);
      // Only a filesystem on headgate's own md device, on exactly that mount point.
      const units = new Set((await mdUnitsOf(t, u.backing)).map((x) => `/dev/${x}`));
      const mounts = (await t.exec(['mount', '-p'], { allowFail: true })).stdout.split('\n').map((l) => l.split(/\s+/));
      if (mounts.some(([dev, mp]) => units.has(dev) && mp === u.mountPoint)) await t.exec(['umount', u.mountPoint]);
      return;
    }
    case 'rm': {
      if (!removable(u.path, t.workDir)) throw inputError(`journal: ${u.path} is outside headgate's directories; not removed`);
      // FreeBSD rm has no long options (bin/rm/rm.c getopt "dfiIPRrvWx"); -x is its one-file-system.
      await t.exec(os_ === 'freebsd' ? ['rm', '-rf', '-x', u.path] : ['rm', '-rf', '--one-file-system', u.path]);
      return;
    }
    case 'ssh-master': {
      if (!/^\/tmp\/hg-ssh-[0-9a-f]+$/.test(u.controlPath)) throw inputError(`journal: ${u.controlPath} is not headgate's ssh control socket`);
      // `-O exit` talks to the master through the socket; the destination is not contacted.
      await t.exec(['ssh', '-o', `ControlPath=${u.controlPath}`, '-O', 'exit', 'headgate-master'], { allowFail: true, timeoutMs: 10_000 });
      await t.exec(['rm', '-f', u.controlPath], { allowFail: true });
      return;
    }
    case 'jail-remove': {
      if (!/^hg[a-z0-9]+$/.test(u.name)) throw inputError(`journal: jail ${u.name} is not headgate's`);
      await t.exec(['jail', '-r', u.name], { allowFail: true });
      return;
    }
    case 'ifconfig-destroy': {
      if (!/^epair\d+a$/.test(u.name)) throw inputError(`journal: interface ${u.name} is not an epair headgate creates`);
      await t.exec(['ifconfig', u.name, 'destroy'], { allowFail: true });
      return;
    }
    case 'kldunload': {
      // The VNET lab's modules, and the kld: knobs' TCP stacks, HPTS and congestion-control files.
      if (!['if_epair', 'ipfw', 'dummynet'].includes(u.name) && !KLD_KNOB_FILE.test(u.name)) throw inputError(`journal: module ${u.name} is not one headgate loads`);
      await t.exec(['kldunload', u.name], { allowFail: true });
      return;
    }
    case 'kenv': {
      if (u.name !== 'net.inet.ip.fw.default_to_accept' || (u.value !== null && !/^[0-9]+$/.test(u.value))) throw inputError(`journal: kenv ${u.name} is not one headgate sets`);
      await t.exec(u.value === null ? ['kenv', '-q', '-u', u.name] : ['kenv', `${u.name}=${u.value}`], { allowFail: true });
      return;
    }
    case 'umount': {
      if (u.path !== TRACEFS_MOUNT) throw inputError(`journal: ${u.path}: only ${TRACEFS_MOUNT} is unmounted`);
      await t.exec(['umount', u.path], { allowFail: true });
      return;
    }
    case 'tracefs-instance': {
      if (!/^\/sys\/kernel\/(debug\/)?tracing\/instances\/hg-[0-9-]+$/.test(u.path)) throw inputError(`journal: ${u.path} is not a tracefs instance of headgate's`);
      await t.exec(['sh', '-c', 'test -d "$1" || exit 0; printf 0 > "$1/events/enable"; rmdir "$1"', 'sh', u.path], { allowFail: true });
      return;
    }
    case 'kill-group': {
      if (!(Number.isInteger(u.pid) && u.pid > 1)) throw inputError(`journal: pid ${u.pid} refused`);
      if (t.kind === 'local') {
        // Only the very process headgate started: a pid reused since then has another start time.
        if (processStart(u.pid) !== u.start) return;
        // The group, then the leader in case it left its group.
        killProcessGroup(u.pid, 'SIGKILL');
        try {
          process.kill(u.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        return;
      }
      const script = 'test "$(cut -d" " -f22 /proc/$1/stat 2>/dev/null)" = "$2" && { kill -KILL -- "-$1" 2>/dev/null; kill -KILL "$1"; }; true';
      await t.exec(['sh', '-c', script, 'sh', String(u.pid), u.start], { allowFail: true });
      return;
    }
  }
}

/** md(4) units backed by a file: `mdconfig -l -f FILE` prints their names on one line (mdconfig.c md_list). */
export async function mdUnitsOf(t: Pick<Target, 'exec'>, backing: string): Promise<string[]> {
  const r = await t.exec(['mdconfig', '-l', '-f', backing], { allowFail: true });
  return r.code === 0 ? r.stdout.split(/\s+/).filter((x) => /^md\d+$/.test(x)) : [];
}

/** What a replay did. */
export interface ReplayResult {
  restored: string[];
  failed: string[];
  torn: boolean;
}

/**
 * Undoes, newest first, what dead runs left in a journal, and marks each entry done. `alive`
 * says which owners still run (default: this machine's processes by pid and start time).
 */
export async function replayJournal(j: Journal, t: Target, log: (l: string) => void, alive?: (e: JournalEntry) => boolean): Promise<ReplayResult> {
  const state = await j.read();
  const todo = alive ? leftovers(state, (o) => alive({ owner: o } as JournalEntry)) : leftovers(state);
  const out: ReplayResult = { restored: [], failed: [], torn: state.torn };
  if (state.torn) log(`note: ${j.where}: its last line was torn (a run killed while writing it); ignored`);
  for (const e of todo) {
    try {
      await undoOn(t, e.undo);
      await j.done(e.id);
      out.restored.push(e.label);
      log(`restored what run pid ${e.owner.pid} (${e.at}) left: ${e.label}`);
    } catch (err) {
      out.failed.push(`${e.label}: ${(err as Error).message}`);
      log(`FAILED to restore what run pid ${e.owner.pid} left: ${e.label}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** This machine's leftovers from dead runs, newest first, without undoing them (doctor). */
export async function localLeftovers(): Promise<JournalEntry[]> {
  return leftovers(await localJournal().read(), (o) => ownerAlive(o, os.hostname()));
}

/** A journal in a file on a remote target (its work directory), appended and synced over the target's own exec. */
export class RemoteJournal implements Journal {
  readonly where: string;
  constructor(
    private readonly t: Pick<Target, 'name' | 'exec' | 'readFileIfExists'>,
    private readonly file: string,
  ) {
    this.where = `${t.name}:${file}`;
  }

  private async append(line: unknown): Promise<void> {
    const script = 'mkdir -p "$(dirname "$1")" && cat >> "$1" && { sync "$1" 2>/dev/null || sync; }';
    await this.t.exec(['sh', '-c', script, 'sh', this.file], { input: JSON.stringify(line) + '\n' });
  }

  async record(label: string, undo: UndoAction): Promise<string> {
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    await this.append({ id, at: new Date().toISOString(), owner: SELF, label, undo });
    return id;
  }

  async done(id: string): Promise<void> {
    await this.append({ done: id, at: new Date().toISOString() });
  }

  async read(): Promise<JournalState> {
    const text = await this.t.readFileIfExists(this.file);
    return text === null ? { entries: [], done: new Set(), torn: false } : parseJournal(text);
  }
}

/**
 * Replays what dead runs left on a target whose lock this process holds: every entry of another
 * process is a dead run's (the lock proves no other run is on the target), so it is undone.
 */
export function replayLocked(t: Target, log: (l: string) => void): Promise<ReplayResult | null> {
  if (!t.journal) return Promise.resolve(null);
  return replayJournal(t.journal, t, log, (e) => e.owner.host === SELF.host && e.owner.pid === SELF.pid);
}
