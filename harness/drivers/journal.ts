import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PERSISTENT_KINDS, leftovers, localJournal, newEntryId, ownerKey, parseJournal, SELF, type Journal, type JournalEntry, type JournalState, type Owner, type UndoAction } from '../lib/journal.js';
import { homeDir, noSymlinkBelow, strictlyInside } from '../lib/home.js';
import { freebsdStart, localMachine, lookupProcessStart, parseBoottime, parsePsLstart, processComm, sameStart, type MachineIdentity } from '../lib/machine.js';
import { checkFreebsdSysctlName, checkSysfsKnobPath, linuxSysctlPath } from '../lib/confine.js';
import { infraError } from '../model/errors.js';
import { killProcessGroup } from '../lib/exec.js';
import type { OsFamily } from '../model/types.js';
import { deleteNamespace } from './net/lab.js';
import { parseMountP } from './os/parsers/freebsd.js';
import { sysfsChoice } from './os/parsers/linux.js';
import { TRACEFS_MOUNT, tracefsMount } from './os/tracefs.js';
import { kldunloadWaiting } from './os/kld.js';
import type { ExecOptions, ExecResult, Target } from './targets/target.js';
import { bootRecord, checkOwnBoot } from './targets/boot.js';

/**
 * Replaying a journal: what dead runs left on a machine is undone, newest first, by the kind's own
 * handler. Every handler accepts only its own kind of object and checks it before any command
 * that changes something: a sysctl or /sys file a suite declares (or the run declared as its
 * user's knob) and only while it still holds what headgate set; a path inside headgate's home with
 * no symlink on the way; a process group whose leader is a program headgate starts, with its
 * recorded start time. State of an earlier boot is reported, not replayed.
 */

/** The knobs journal entries may restore: the names (or patterns, '*' for one segment) the suites declare, per OS. */
export interface UndoPolicy {
  knobs: Partial<Record<OsFamily, string[]>>;
}

/** A policy that allows no knob (entries of runs whose user knobs were declared still pass). */
export const NO_KNOBS: UndoPolicy = { knobs: {} };

/** Splits a knob into segments: sysfs paths and slash-form sysctls by '/', dotted sysctls by '.'. */
const segments = (name: string): string[] => (name.includes('/') ? name.split('/').filter(Boolean) : name.split('.'));

/** Whether a knob name matches a declared name or pattern ('*' matches one segment). */
export function knobMatches(pattern: string, name: string): boolean {
  const p = segments(pattern);
  const n = segments(name);
  return p.length === n.length && p.every((s, i) => s === '*' || s === n[i]);
}

/** The dotted name of a Linux sysctl given dotted or with slashes (a literal '.' in a slash part is '/' in the dotted form, as sysctl(8) writes it). */
export function dottedSysctl(name: string): string {
  return name.includes('/') ? name.split('/').filter(Boolean).map((s) => s.replace(/\./g, '/')).join('.') : name;
}

/** Whether the policy or the owner's own declaration allows a knob on this OS. */
export function knobAllowed(policy: UndoPolicy, family: OsFamily, name: string, declared?: Set<string>): boolean {
  const alts = family === 'linux' && !name.startsWith('/') ? [name, dottedSysctl(name), name.replace(/\./g, '/')] : [name];
  const allowed = [...(policy.knobs[family] ?? []), ...(declared ?? [])];
  return alts.some((n) => allowed.some((p) => knobMatches(p, n) || knobMatches(p, dottedSysctl(n))));
}

/** Programs headgate starts and leaves running for a while: the only process-group leaders a journal may kill. */
export const HEADGATE_PROGRAMS = ['nginx', 'sshd', 'qemu-system-x86', 'qemu-system-x86_64', 'qemu-system-aarch64', 'fio', 'iperf3', 'sh', 'ssh', 'ip', 'timeout', 'vagrant', 'chromium', 'chrome', 'node', 'wrk', 'dd'];

/**
 * Why an entry was not undone but reported: refused (not an object headgate could have made; a
 * failure of the replay) or not replayed (another boot's state, a value changed since: facts to
 * report). Either way it is marked done with this note.
 */
class Reported extends Error {
  constructor(
    message: string,
    readonly refused = true,
  ) {
    super(message);
  }
}
const notReplayed = (why: string) => new Reported(why, false);

/** Runs a name or path check; its refusal (an input error) becomes a Reported refusal of the entry. */
function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Reported((e as Error).message);
  }
}

/** Whether a command name (/proc/PID/comm: at most 15 characters) is one of HEADGATE_PROGRAMS. */
export const isHeadgateProgram = (comm: string): boolean => HEADGATE_PROGRAMS.some((p) => comm === p.slice(0, 15));

/** What replaying one journal entry needs to know about the machine. */
export interface UndoScope {
  /** The machine the entries describe. */
  target: Target;
  family: OsFamily;
  /** headgate's home there: paths may be removed only inside it (or inside `roots`). */
  home: string;
  /** Other private directories of headgate's there (a target's inventory workDir). */
  roots?: string[];
  /** That machine's identity now (entries of another boot or machine are reported, not replayed). */
  machine: MachineIdentity;
  policy: UndoPolicy;
  /** Knob names the owner of the entry declared as its user's. */
  declared?: Set<string>;
  /** Progress of a long undo (a reboot). */
  log?: (line: string) => void;
}

const exec = (t: Target, argv: string[], o: ExecOptions = {}): Promise<ExecResult> => t.exec(argv, { allowFail: true, ...o });

/** A target whose commands run inside a network namespace of the same machine (ip netns exec NS). */
function inNamespace(t: Target, ns: string): Target {
  return new Proxy(t, {
    get(obj, prop, recv) {
      if (prop === 'exec') return (argv: string[], o?: ExecOptions) => obj.exec(['ip', 'netns', 'exec', ns, ...argv], o);
      if (prop === 'readFileIfExists') return async (f: string) => {
        const r = await obj.exec(['ip', 'netns', 'exec', ns, 'cat', f], { allowFail: true });
        return r.code === 0 ? r.stdout : null;
      };
      return Reflect.get(obj, prop, recv);
    },
  });
}

/**
 * Whether p is a path headgate could have made on that machine: inside its home, spelled
 * normalized, with no symlink between the home and p. Checked on the target itself (pwd -P of
 * the parent must be the parent as spelled), or with lstat for this machine.
 */
async function pathIsOurs(s: UndoScope, p: string): Promise<boolean> {
  const root = [s.home, ...(s.roots ?? [])].find((r) => strictlyInside(r, p));
  if (!root) return false;
  if (s.target.kind === 'local') return noSymlinkBelow(root, p);
  // A missing parent is fine: nothing below it exists to act on.
  const r = await exec(s.target, ['sh', '-c', 'd=$(dirname "$1"); [ -d "$d" ] || { echo missing; exit 0; }; [ "$(cd "$d" && pwd -P)" = "$d" ] && echo ok', 'sh', p]);
  return ['ok', 'missing'].includes(r.stdout.trim());
}

/** The current value of a knob as the entry's kind reads it; null when it does not exist. */
async function currentValue(t: Target, family: OsFamily, u: Extract<UndoAction, { kind: 'sysctl' | 'write' | 'kenv' }>): Promise<string | null> {
  if (u.kind === 'kenv') {
    const r = await exec(t, ['kenv', '-q', u.name]);
    return r.code === 0 ? r.stdout.trim() : null;
  }
  if (u.kind === 'write') {
    const v = await t.readFileIfExists(u.path);
    return v === null ? null : sysfsChoice(v);
  }
  if (family === 'freebsd') {
    const r = await exec(t, ['sysctl', '-n', u.name]);
    return r.code === 0 ? r.stdout.trim() : null;
  }
  const v = await t.readFileIfExists(linuxSysctlPath('journal sysctl', u.name));
  return v === null ? null : v.trim();
}

const norm = (v: string) => v.replace(/\s+/g, ' ').trim();

/**
 * Writes a value back only while the knob still holds what headgate set: someone who changed it
 * since (an admin, a later run) keeps their value, and the entry is reported instead.
 */
async function restoreValue(s: UndoScope, t: Target, u: Extract<UndoAction, { kind: 'sysctl' | 'write' | 'kenv' }>, write: () => Promise<void>): Promise<string | null> {
  const now = await currentValue(t, s.family, u);
  const old = u.value;
  if (now === null) return `${u.kind === 'write' ? u.path : u.name} no longer exists`;
  if (old !== null && norm(now) === norm(old)) return null; // already back
  if (u.set !== undefined && norm(now) !== norm(u.set)) throw notReplayed(`it now holds ${JSON.stringify(now)}, not the ${JSON.stringify(u.set)} headgate set: changed since, left as it is`);
  await write();
  return null;
}

/**
 * Carries out one undo action on a machine. Every action is idempotent (undoing twice is
 * harmless) and checks its own input before anything that changes the machine; a refusal throws
 * Reported (the entry is marked done with the reason and the replay counts it as failed).
 */
export async function undoEntry(s: UndoScope, e: Pick<JournalEntry, 'undo' | 'boot' | 'machine'>): Promise<void> {
  const u = e.undo;
  const t0 = s.target;
  if (e.machine && s.machine.id && e.machine !== s.machine.id) throw notReplayed(`recorded on machine ${e.machine}, this is ${s.machine.id}: not replayed here`);
  if (e.boot && s.machine.boot && e.boot !== s.machine.boot && !PERSISTENT_KINDS.has(u.kind)) {
    throw notReplayed('made in an earlier boot of this machine: that boot took the change with it; not replayed');
  }
  switch (u.kind) {
    case 'sysctl': {
      const file = checked(() => (s.family === 'freebsd' ? checkFreebsdSysctlName('journal sysctl', u.name) : linuxSysctlPath('journal sysctl', u.name)));
      if (!knobAllowed(s.policy, s.family, u.name, s.declared)) throw new Reported(`sysctl ${u.name} is neither a suite's knob nor one its run's user gave: not restored`);
      let t = t0;
      if (u.netns) {
        if (!/^hg-[a-z0-9-]+$/.test(u.netns)) throw new Reported(`namespace ${u.netns} is not headgate's`);
        const listed = await exec(t0, ['ip', 'netns', 'list']);
        const alive = listed.stdout.split('\n').some((l) => l.split(/\s+/)[0] === u.netns);
        // A namespace's own sysctls (net.*) went with it; the rest are the machine's.
        if (!alive && dottedSysctl(u.name).startsWith('net.')) return;
        if (alive) t = inNamespace(t0, u.netns);
      }
      const argv = s.family === 'freebsd' ? ['sysctl', `${u.name}=${u.value}`] : ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', u.value, file];
      const gone = await restoreValue(s, t, u, async () => {
        const r = await exec(t, argv);
        if (r.code !== 0) throw infraError(`sysctl ${u.name}=${u.value}: ${r.stderr.trim().split('\n').pop()}`);
      });
      if (gone) throw notReplayed(gone);
      return;
    }
    case 'write': {
      checked(() => checkSysfsKnobPath('journal /sys file', u.path));
      if (!knobAllowed(s.policy, s.family, u.path, s.declared)) throw new Reported(`${u.path} is neither a suite's knob nor one its run's user gave: not written`);
      // Where it really leads (symlinks in /sys are the norm): it must stay under /sys.
      const real = (await exec(t0, ['readlink', '-f', '--', u.path])).stdout.trim();
      if (!/^\/sys\/[^\n]+$/.test(real) || real.split('/').includes('..')) throw new Reported(`${u.path} resolves to ${real || 'nothing'}, not a file under /sys`);
      const gone = await restoreValue(s, t0, u, async () => {
        const r = await exec(t0, ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', u.value, real]);
        if (r.code !== 0) throw infraError(`write ${u.path}: ${r.stderr.trim().split('\n').pop()}`);
      });
      if (gone) throw notReplayed(gone);
      return;
    }
    case 'netns-del': {
      if (!/^hg-[a-z0-9-]+$/.test(u.name)) throw new Reported(`namespace ${u.name} is not headgate's`);
      await deleteNamespace(t0, u.name);
      return;
    }
    case 'link-del': {
      if (!/^hg[a-z0-9]+$/.test(u.name)) throw new Reported(`link ${u.name} is not headgate's`);
      await exec(t0, ['ip', 'link', 'del', u.name]);
      return;
    }
    case 'losetup-detach': {
      if (!(await pathIsOurs(s, u.backing))) throw new Reported(`loop backing file ${u.backing} is not inside headgate's home ${s.home}`);
      const r = await exec(t0, ['losetup', '-j', u.backing]);
      for (const dev of r.stdout.split('\n').map((l) => l.split(':')[0]).filter((d) => /^\/dev\/loop\d+$/.test(d))) await exec(t0, ['losetup', '-d', dev]);
      return;
    }
    case 'md-detach': {
      if (!(await pathIsOurs(s, u.backing))) throw new Reported(`md backing file ${u.backing} is not inside headgate's home ${s.home}`);
      for (const unit of await mdUnitsOf(t0, u.backing)) await exec(t0, ['mdconfig', '-d', '-u', unit]);
      return;
    }
    case 'md-umount': {
      if (!(await pathIsOurs(s, u.backing))) throw new Reported(`md backing file ${u.backing} is not inside headgate's home ${s.home}`);
      // Only a filesystem on headgate's own md device, on exactly that mount point.
      const units = new Set((await mdUnitsOf(t0, u.backing)).map((x) => `/dev/${x}`));
      if (parseMountP((await exec(t0, ['mount', '-p'])).stdout).some((e) => units.has(e.special) && e.node === u.mountPoint)) await t0.exec(['umount', u.mountPoint]);
      return;
    }
    case 'remount': {
      // Only the user's dedicated objects filesystem, named as headgate names it (see coldCache).
      const why = remountRefusal(u);
      if (why) throw new Reported(why);
      const mounted = parseMountP((await exec(t0, ['mount', '-p'])).stdout).some((e) => e.node === u.node);
      if (!mounted) await exec(t0, u.fstype === 'zfs' ? ['mount', '-t', 'zfs', u.special, u.node] : ['mount', u.node]);
      return;
    }
    case 'rm': {
      if (!(await pathIsOurs(s, u.path))) throw new Reported(`${u.path} is not inside headgate's home ${s.home} (or a symlink leads there): not removed`);
      // FreeBSD rm has no long options (bin/rm/rm.c getopt "dfiIPRrvWx"); -x is its one-file-system.
      await t0.exec(s.family === 'freebsd' ? ['rm', '-rf', '-x', u.path] : ['rm', '-rf', '--one-file-system', u.path]);
      return;
    }
    case 'ssh-master': {
      // Control sockets live in this machine's home (ssh/), never in a world-writable directory.
      const dir = path.join(s.home, 'ssh');
      if (!strictlyInside(dir, u.controlPath) || path.dirname(u.controlPath) !== dir || !noSymlinkBelow(s.home, u.controlPath)) throw new Reported(`${u.controlPath} is not a control socket in ${dir}`);
      // `-O exit` talks to the master through the socket; the destination is not contacted.
      await exec(t0, ['ssh', '-o', `ControlPath=${u.controlPath}`, '-O', 'exit', 'headgate-master'], { timeoutMs: 10_000 });
      await exec(t0, ['rm', '-f', u.controlPath]);
      return;
    }
    case 'jail-remove': {
      if (!/^hg[a-z0-9]+$/.test(u.name)) throw new Reported(`jail ${u.name} is not headgate's`);
      await exec(t0, ['jail', '-r', u.name]);
      return;
    }
    case 'ifconfig-destroy': {
      if (!/^epair\d+a$/.test(u.name)) throw new Reported(`interface ${u.name} is not an epair headgate creates`);
      await exec(t0, ['ifconfig', u.name, 'destroy']);
      return;
    }
    case 'kldunload': {
      // The VNET lab's modules, and the kld: knobs' TCP stacks, HPTS and congestion-control files.
      if (!['if_epair', 'ipfw', 'dummynet'].includes(u.name) && !knobAllowed(s.policy, 'freebsd', `kld:${u.name}`, s.declared)) throw new Reported(`module ${u.name} is not one headgate loads`);
      // Not loaded any more is what the undo wants; busy (EBUSY: connections still hold a TCP
      // stack, W7) is waited for within 2 x MSL, then the entry stays pending for the next replay.
      const r = await kldunloadWaiting(t0, u.name, s.log);
      if (!r.ok) throw infraError(`kldunload ${u.name}: ${r.message}`);
      return;
    }
    case 'kenv': {
      if (u.name !== 'net.inet.ip.fw.default_to_accept' || (u.value !== null && !/^[0-9]+$/.test(u.value))) throw new Reported(`kenv ${u.name} is not one headgate sets`);
      const gone = await restoreValue(s, t0, u, async () => void (await exec(t0, u.value === null ? ['kenv', '-q', '-u', u.name] : ['kenv', `${u.name}=${u.value}`])));
      if (gone && u.value !== null) throw notReplayed(gone);
      return;
    }
    case 'umount': {
      if (u.path !== TRACEFS_MOUNT) throw new Reported(`${u.path}: only ${TRACEFS_MOUNT} is unmounted`);
      const mounted = tracefsMount((await t0.readFileIfExists('/proc/mounts')) ?? '') === u.path;
      if (mounted) await exec(t0, ['umount', u.path]);
      return;
    }
    case 'tracefs-instance': {
      // An instance of headgate's own, in whatever tracefs is mounted now (the kernel's own mount point or another).
      const root = tracefsMount((await t0.readFileIfExists('/proc/mounts')) ?? '');
      const okPath = /^\/sys\/kernel\/(debug\/)?tracing\/instances\/hg-[0-9-]+$/.test(u.path) || (root !== null && path.posix.dirname(u.path) === `${root}/instances` && /^hg-[0-9-]+$/.test(path.posix.basename(u.path)));
      if (!okPath) throw new Reported(`${u.path} is not a tracefs instance of headgate's`);
      await exec(t0, ['sh', '-c', 'test -d "$1" || exit 0; printf 0 > "$1/events/enable"; rmdir "$1"', 'sh', u.path]);
      return;
    }
    case 'kill-group': {
      if (!(Number.isInteger(u.pid) && u.pid > 1) || typeof u.start !== 'string' || u.start === '') throw new Reported(`pid ${u.pid} refused`);
      if (t0.kind === 'local') {
        // Only the very process headgate started: a pid reused since then has another start time.
        const st = lookupProcessStart(u.pid);
        if ('gone' in st) return void (await killOrphans(t0, u.pid, u.start));
        if ('unknown' in st) throw infraError(`pid ${u.pid}: start time unreadable (${st.unknown}); not killed`);
        if (!sameStart(st.start, u.start)) return;
        const comm = processComm(u.pid);
        if (!isHeadgateProgram(comm)) throw new Reported(`pid ${u.pid} runs ${comm || 'an unknown program'}, not a program headgate starts: not killed`);
        // The group, then the leader in case it left its group.
        killProcessGroup(u.pid, 'SIGKILL');
        try {
          process.kill(u.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        return;
      }
      const r = await exec(t0, ['sh', '-c', REMOTE_PROCESS_SCRIPT, 'sh', String(u.pid)]);
      if (r.code !== 0) throw infraError(`pid ${u.pid} on ${t0.name}: could not read its start time: ${r.stderr.trim().split('\n').pop()}`);
      const p = parseRemoteProcess(r.stdout);
      if (!p) return void (await killOrphans(t0, u.pid, u.start));
      if (!sameStart(p.start, u.start)) return;
      if (!isHeadgateProgram(p.comm)) throw new Reported(`pid ${u.pid} runs ${p.comm || 'an unknown program'}, not a program headgate starts: not killed`);
      // `kill -s KILL -- -PGID`: the form dash and FreeBSD sh both accept (dash refuses `kill -KILL -- -PGID`,
      // which left a server's workers running after their master was gone).
      await exec(t0, ['sh', '-c', 'kill -s KILL -- "-$1" 2>/dev/null; kill -s KILL "$1" 2>/dev/null; true', 'sh', String(u.pid)]);
      return;
    }
    case 'boot-default': {
      if (![u.kernelRelease, u.kernelVersion, u.cmdline].every((v) => typeof v === 'string' && v !== '')) throw new Reported('a boot-default entry without the boot it restores');
      const now = await bootRecord(t0, 'A', 'default', Date.now(), 'journal');
      if (now.kernelRelease === u.kernelRelease && now.kernelVersion === u.kernelVersion && now.cmdline === u.cmdline) return; // already back
      if (!t0.reboot) throw new Reported(`target ${t0.name} runs ${now.kernelRelease} (${now.cmdline}), not its own boot ${u.kernelRelease} (${u.cmdline}), and headgate cannot reboot it: reboot it into its default boot by hand`);
      checkOwnBoot(t0.name, await t0.reboot({ label: 'default', flag: 'restore' }, 'A', s.log ?? (() => {})), u);
      return;
    }
    default:
      throw new Reported(`unknown undo kind ${JSON.stringify((u as { kind: unknown }).kind)}`);
  }
}

/**
 * Kills what is left of a process group whose leader is gone (a server master that exited on the
 * dropped session's SIGHUP, leaving its workers): on Linux, the processes in that group (a pgid
 * is not reused while the group exists) that started no earlier than the leader and run a program
 * headgate starts. Arguments: PGID, the leader's start (clock ticks), the program names.
 */
export const ORPHANS_SCRIPT = [
  'g=$1 s=$2; shift 2; progs=" $* "',
  '[ -d /proc/self ] || exit 0',
  'for d in /proc/[0-9]*; do',
  '  st=$(cat "$d/stat" 2>/dev/null) || continue',
  '  c=$(cat "$d/comm" 2>/dev/null) || continue',
  '  case "$progs" in *" $c "*) ;; *) continue;; esac',
  '  set -- $(printf %s "$st" | sed "s/.*) //")',
  '  [ "$3" = "$g" ] || continue',
  '  shift 19',
  '  [ "$1" -ge "$s" ] 2>/dev/null && kill -s KILL "${d#/proc/}" 2>/dev/null',
  'done',
  'true',
].join('\n');

/** Linux start times (clock ticks) only: a FreeBSD "fb:" start has no orphan sweep (its members are found by ps -g where needed). */
async function killOrphans(t: Pick<Target, 'exec' | 'name'>, pgid: number, start: string): Promise<void> {
  if (!/^\d+$/.test(start)) return;
  await t.exec(['sh', '-c', ORPHANS_SCRIPT, 'sh', String(pgid), start, ...HEADGATE_PROGRAMS], { allowFail: true });
}

/**
 * Prints what identifies a process on a target, for parseRemoteProcess: on Linux "linux", the
 * start time (/proc/PID/stat field 22, counted after the last ')') and /proc/PID/comm; on FreeBSD
 * "freebsd", `ps -o lstart=` in UTC and the C locale, kern.boottime and `ps -o comm=`. Prints
 * nothing more than the first word when the process is gone.
 */
export const REMOTE_PROCESS_SCRIPT = [
  'p=$1',
  'if [ "$(uname -s)" = FreeBSD ]; then echo freebsd; env TZ=UTC LC_ALL=C ps -o lstart= -p "$p" || exit 0; sysctl -n kern.boottime; ps -o comm= -p "$p"; exit 0; fi',
  'echo linux; [ -r /proc/$p/stat ] || exit 0; sed "s/.*) //" /proc/$p/stat | cut -d" " -f20; cat /proc/$p/comm',
].join('\n');

/** The start time (as headgate records it) and command name from REMOTE_PROCESS_SCRIPT's output; null when the process is gone. */
export function parseRemoteProcess(text: string): { start: string; comm: string } | null {
  const l = text.split('\n').map((x) => x.trim());
  if (l[0] === 'linux') return l[1] ? { start: l[1], comm: l[2] ?? '' } : null;
  if (l[0] === 'freebsd') {
    const at = l[1] ? parsePsLstart(l[1]) : null;
    const boot = Number(parseBoottime(l[2] ?? '').split('.')[0]);
    return at !== null && boot > 0 ? { start: freebsdStart(at, boot), comm: l[3] ?? '' } : null;
  }
  return null;
}

/** md(4) units backed by a file: `mdconfig -l -f FILE` prints their names on one line (mdconfig.c md_list). */
export async function mdUnitsOf(t: Pick<Target, 'exec'>, backing: string): Promise<string[]> {
  const r = await t.exec(['mdconfig', '-l', '-f', backing], { allowFail: true });
  return r.code === 0 ? r.stdout.split(/\s+/).filter((x) => /^md\d+$/.test(x)) : [];
}

/** What a replay did. */
export interface ReplayResult {
  restored: string[];
  /** Entries that could not be undone (still pending) or were refused (marked done with the reason). */
  failed: string[];
  /** Entries reported instead of replayed (another boot, changed since): marked done. */
  reported: string[];
  torn: boolean;
}

/**
 * Undoes, newest first, what dead runs left in a journal, and marks each entry done. `alive`
 * says which owners still run (default: this machine's processes by pid and start time). A
 * refused entry is marked done with the reason and counts as failed; one whose undo failed stays
 * pending for the next replay.
 */
export async function replayJournal(
  j: Journal,
  scope: Omit<UndoScope, 'declared'>,
  log: (l: string) => void,
  alive?: (o: Owner) => boolean,
): Promise<ReplayResult> {
  const state = await j.read();
  const todo = alive ? leftovers(state, alive) : leftovers(state);
  const out: ReplayResult = { restored: [], failed: [], reported: [], torn: state.torn };
  if (state.torn) log(`note: ${j.where}: its last line was torn (a run killed while writing it); ignored`);
  if (state.damaged?.length) log(`note: ${j.where}: line${state.damaged.length > 1 ? 's' : ''} ${state.damaged.join(', ')} could not be read and ${state.damaged.length > 1 ? 'were' : 'was'} skipped`);
  for (const e of todo) {
    try {
      await undoEntry({ ...scope, declared: state.userKnobs?.get(ownerKey(e.owner)), log }, e);
      await j.done(e.id);
      out.restored.push(e.label);
      log(`restored what run pid ${e.owner.pid} (${e.at}) left: ${e.label}`);
    } catch (err) {
      const why = (err as Error).message;
      if (err instanceof Reported) {
        await j.done(e.id, why);
        // Another boot's state and a value changed since are facts to report, not failures.
        if (!err.refused) {
          out.reported.push(`${e.label}: ${why}`);
          log(`not replayed (run pid ${e.owner.pid}, ${e.at}): ${e.label}: ${why}`);
          continue;
        }
        out.failed.push(`${e.label}: REFUSED: ${why}`);
        log(`REFUSED what run pid ${e.owner.pid} (${e.at}) left: ${e.label}: ${why}`);
        continue;
      }
      out.failed.push(`${e.label}: ${why}`);
      log(`FAILED to restore what run pid ${e.owner.pid} left: ${e.label}: ${why}`);
    }
  }
  if ('compact' in j && typeof (j as { compact?: unknown }).compact === 'function') await (j as unknown as { compact(): Promise<boolean> }).compact().catch((err) => log(`note: ${j.where}: not compacted: ${(err as Error).message}`));
  return out;
}

/** This machine's leftovers from dead runs, newest first, without undoing them (doctor). */
export async function localLeftovers(): Promise<JournalEntry[]> {
  return leftovers(await localJournal().read());
}

/** The scope of this machine's own journal: its home, its identity, the OS headgate runs on. */
export function localScope(target: Target, policy: UndoPolicy): Omit<UndoScope, 'declared'> {
  return { target, family: os.platform() === 'freebsd' ? 'freebsd' : 'linux', home: homeDir(), machine: localMachine(), policy };
}

/** The script that appends stdin to a remote journal: closes a torn last line first, fails on a short write, then syncs. */
const REMOTE_APPEND = [
  'f=$1',
  'if [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -tx1 | tr -d " \\n")" != 0a ]; then printf "\\n" >> "$f" || exit 1; fi',
  'cat >> "$f" || exit 1',
  'sync "$f" 2>/dev/null || sync',
].join('\n');

/** A journal in a file in headgate's home on a remote target, appended and synced over the target's own exec. */
export class RemoteJournal implements Journal {
  readonly where: string;
  constructor(
    private readonly t: Pick<Target, 'name' | 'exec' | 'readFileIfExists'>,
    private readonly file: string,
    private readonly machine: () => MachineIdentity,
  ) {
    this.where = `${t.name}:${file}`;
  }

  private async append(line: unknown): Promise<void> {
    await this.t.exec(['sh', '-c', REMOTE_APPEND, 'sh', this.file], { input: JSON.stringify(line) + '\n' });
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
    const text = await this.t.readFileIfExists(this.file);
    return text === null ? { entries: [], done: new Set(), torn: false } : parseJournal(text);
  }

  /** Rewrites the journal with only pending entries (run under the target's lock: no other writer). */
  async compact(): Promise<boolean> {
    const text = await this.t.readFileIfExists(this.file);
    if (text === null || text.length < 256 * 1024) return false;
    const s = parseJournal(text);
    const pending = s.entries.filter((e) => !s.done.has(e.id));
    const keep = new Set(pending.map((e) => ownerKey(e.owner)));
    const decls = text.split('\n').filter((l) => {
      try {
        const x = JSON.parse(l) as { declare?: string; owner?: Owner };
        return x.declare === 'user-knobs' && x.owner && keep.has(ownerKey(x.owner));
      } catch {
        return false;
      }
    });
    const body = [...decls, ...pending.map((e) => JSON.stringify(e))].join('\n');
    const tmp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    await this.t.exec(['sh', '-c', 'cat > "$1" && { sync "$1" 2>/dev/null || sync; } && mv -f "$1" "$2"', 'sh', tmp, this.file], { input: body ? body + '\n' : '' });
    return true;
  }
}

/**
 * A journal of this machine seen through a network-namespace target (a netns lab): the entries go
 * to the machine's own journal, so a SIGKILLed run's changes are replayed from there; sysctls are
 * tagged with the namespace they were set in (net.* of a namespace goes with it).
 */
export class NamespacedJournal implements Journal {
  constructor(
    private readonly base: Journal,
    private readonly netns: string,
  ) {}
  get where(): string {
    return this.base.where;
  }
  record(label: string, undo: UndoAction): Promise<string> {
    return this.base.record(`${label} (in ${this.netns})`, undo.kind === 'sysctl' ? { ...undo, netns: this.netns } : undo);
  }
  done(id: string, note?: string): Promise<void> {
    return this.base.done(id, note);
  }
  read(): Promise<JournalState> {
    return this.base.read();
  }
  declareUserKnobs(names: string[]): Promise<void> {
    return this.base.declareUserKnobs?.(names) ?? Promise.resolve();
  }
}

/**
 * Replays what dead runs left on a target whose lock this process holds: every entry of another
 * process is a dead run's (the lock proves no other run is on the target), so it is undone.
 */
export function replayLocked(t: Target, scope: Omit<UndoScope, 'declared'>, log: (l: string) => void): Promise<ReplayResult> {
  return replayJournal(t.journal, scope, log, (o) => o.pid === SELF.pid && o.host === SELF.host && o.start === SELF.start);
}

/**
 * Replays the journal a target's changes go to: this machine's (shared by every headgate process
 * here, so only dead owners' entries) when the target runs on this kernel, through `local`; else
 * the target's own, whose lock the caller holds.
 */
export async function replayFor(t: Target, local: Target, policy: UndoPolicy, log: (l: string) => void): Promise<ReplayResult> {
  if (t.onController) return replayJournal(localJournal(), localScope(local, policy), log);
  const family = (await t.os()).family;
  return replayLocked(t, { target: t, family, home: t.home, roots: t.workDir ? [t.workDir] : [], machine: t.machine, policy }, log);
}

/** The exit-3 error for replays that left something undone: a machine in an unknown state is not measured. */
export function replayFailure(where: string, r: ReplayResult): Error | null {
  if (!r.failed.length) return null;
  return infraError(`${where}: what a dead run left could not all be restored (${r.failed.length}): ${r.failed[0]}${r.failed.length > 1 ? ` (+${r.failed.length - 1} more)` : ''}`, 'look at the lines above; `headgate restore` retries, `headgate doctor` lists what is left');
}

/** Reads a journal's text from its file contents: exported for tests that inspect what was appended. */
export { parseJournal };

/** Why a remount entry is not one headgate could have written (null: it could). */
export function remountRefusal(u: { node: string; special: string; fstype: string }): string | null {
  const safePath = (p: string) => p.startsWith('/') && /^[A-Za-z0-9._/-]+$/.test(p) && !p.split('/').includes('..');
  if (!safePath(u.node) || !/\/\.?objects$/.test(u.node)) return `remount ${u.node}: only an objects filesystem (an absolute path ending in /objects or /.objects) is mounted again`;
  if (u.fstype === 'ufs' && safePath(u.special) && u.special.startsWith('/dev/')) return null;
  if (u.fstype === 'zfs' && /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/.test(u.special)) return null;
  return `remount ${u.node}: ${u.fstype} ${u.special} is not a UFS device under /dev or a ZFS dataset name`;
}
