import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { infraError, inputError } from '../model/errors.js';

/**
 * headgate's home on this machine: the one directory that holds its lock, its restore journal and
 * every private per-run directory (lab and QEMU state, TLS keys, ssh control sockets, scratch
 * images, nginx prefixes). Root obeys only what it made itself, so every time the home is opened
 * it must be a real directory (no symlink anywhere on its path), owned by this user (root), mode
 * 0700, below ancestors no other user can write to. Anything else is exit 3 naming the path:
 * another user could have planted a journal, a lock or a symlink there.
 */

/**
 * The default home: persistent (a lock must survive a kernel A/B's reboots), not world-writable
 * /tmp or /var/tmp; /var/db on FreeBSD (hier(7): a base install has no /var/lib).
 */
export const DEFAULT_HOME = os.platform() === 'freebsd' ? '/var/db/headgate' : '/var/lib/headgate';

/** headgate's home on a remote machine by OS: persistent, root's own, not /tmp or /var/tmp (hier(7): /var/db on FreeBSD). */
export const REMOTE_HOME = { linux: '/var/lib/headgate', freebsd: '/var/db/headgate' } as const;

/** A home path: absolute, normalized, plain names only (it is also spelled into remote shell scripts). */
const HOME_PATH = /^(\/[A-Za-z0-9._-]+)+$/;

/** This machine's home: HEADGATE_STATE_DIR or /var/lib/headgate (checked: absolute, normalized, plain names). */
export function homeDir(): string {
  const dir = process.env.HEADGATE_STATE_DIR || DEFAULT_HOME;
  return checkHomePath('HEADGATE_STATE_DIR', dir);
}

/** Refuses (exit 2, naming `what`) a home path that is not absolute and normalized or that holds other than plain names. */
export function checkHomePath(what: string, dir: string): string {
  if (!HOME_PATH.test(dir) || path.posix.normalize(dir) !== dir || dir.split('/').some((c) => c === '.' || c === '..')) {
    throw inputError(`${what} ${JSON.stringify(dir)}: not an absolute, normalized path of plain names (letters, digits, '.', '_', '-')`);
  }
  if (dir.split('/').length < 3) throw inputError(`${what} ${JSON.stringify(dir)}: a top-level directory cannot be headgate's home; use a directory of its own, such as ${DEFAULT_HOME}`);
  return dir;
}

/** The user headgate runs as (root on every machine it changes); the owner its home must have. */
const euid = (): number => process.geteuid?.() ?? 0;

/** Why a path's ancestor is unsafe to hold headgate's home, or null: a symlink, not a directory, or writable by another user without the sticky bit. */
export function unsafeAncestor(p: string, st: Pick<Stats, 'isSymbolicLink' | 'isDirectory' | 'uid' | 'mode'>, uid: number): string | null {
  if (st.isSymbolicLink()) return `${p} is a symlink`;
  if (!st.isDirectory()) return `${p} is not a directory`;
  if (st.uid !== 0 && st.uid !== uid) return `${p} is owned by uid ${st.uid}, not root`;
  // Group- or world-writable without the sticky bit: another user could rename what is in it.
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return `${p} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}) and not sticky`;
  return null;
}

/** Why a path is not a private directory of this user, or null: a real directory owned by uid, mode 0700 (no group or other bits). */
export function notPrivate(p: string, st: Pick<Stats, 'isSymbolicLink' | 'isDirectory' | 'uid' | 'mode'>, uid: number): string | null {
  if (st.isSymbolicLink()) return `${p} is a symlink`;
  if (!st.isDirectory()) return `${p} is not a directory`;
  if (st.uid !== uid) return `${p} is owned by uid ${st.uid}, not by uid ${uid} (headgate did not make it)`;
  if ((st.mode & 0o077) !== 0) return `${p} has mode ${(st.mode & 0o7777).toString(8)}, not 700`;
  return null;
}

const lstatOrNull = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
};

/** The exit-3 error for a home (or private directory) that fails its checks. */
function refused(dir: string, why: string): Error {
  return infraError(`${dir}: refused as headgate's directory: ${why}`, `headgate trusts only a directory it made itself (owned by root, mode 0700, no symlink on its path); move ${dir} away after checking who made it`);
}

/**
 * Checks (and makes, when missing) a private directory of this user: every existing ancestor is
 * a real directory owned by root (or this user) that others cannot write to unless it is sticky;
 * missing ancestors are made 0755, the directory itself 0700 with an exclusive mkdir; then it must
 * be a real directory owned by this user with mode 0700. Exit 3 naming the path otherwise.
 */
export function ensurePrivateDir(dir: string): string {
  const uid = euid();
  const parts = dir.split('/').filter(Boolean);
  let cur = '';
  for (const [i, c] of parts.entries()) {
    cur += `/${c}`;
    const last = i === parts.length - 1;
    let st = lstatOrNull(cur);
    if (!st) {
      try {
        mkdirSync(cur, { mode: last ? 0o700 : 0o755 });
      } catch (e) {
        // Someone made it between the lstat and the mkdir: it is checked like any existing one below.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw infraError(`${cur}: cannot create headgate's directory: ${(e as Error).message}`);
      }
      st = lstatOrNull(cur);
      if (!st) throw refused(cur, 'it vanished while being created');
    }
    const why = last ? notPrivate(cur, st, uid) : unsafeAncestor(cur, st, uid);
    if (why) throw refused(dir, why);
  }
  return dir;
}

/**
 * A directory inside a checked home (home/work, home/ssh): made 0700 when missing; an existing one
 * must be a real directory (no symlink) owned by this user. Its mode does not matter: nobody else
 * can reach inside a 0700 home.
 */
export function ensureHomeSubdir(home: string, sub: string): string {
  const dir = path.join(ensurePrivateDir(home), sub);
  const uid = euid();
  let st = lstatOrNull(dir);
  if (!st) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw infraError(`${dir}: cannot create: ${(e as Error).message}`);
    }
    st = lstatOrNull(dir);
  }
  if (!st) throw refused(dir, 'it vanished while being created');
  if (st.isSymbolicLink() || !st.isDirectory() || st.uid !== uid) throw refused(dir, notPrivate(dir, st, uid) ?? 'not a directory of this user');
  return dir;
}

/** This machine's home, checked (and made when missing) every time it is opened. */
export function ensureHome(): string {
  return ensurePrivateDir(homeDir());
}

/**
 * A fresh private directory with an unpredictable name inside the home's `kind` subdirectory
 * (home/labs/lab-3f9c0a12b4e1, home/qemu/...): made 0700 with an exclusive mkdir, so nothing
 * planted can be reused. Returns its path.
 */
export function freshPrivateDir(kind: string, prefix: string): string {
  const parent = ensureHomeSubdir(ensureHome(), kind);
  for (let i = 0; i < 8; i++) {
    const dir = path.join(parent, `${prefix}${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw infraError(`${dir}: cannot create: ${(e as Error).message}`);
    }
    return ensurePrivateDir(dir);
  }
  throw infraError(`${parent}: could not make a fresh directory in 8 tries`);
}

/** Whether p lies strictly inside dir (both absolute and normalized), as spelled. */
export function strictlyInside(dir: string, p: string): boolean {
  return p.startsWith(dir.endsWith('/') ? dir : `${dir}/`) && path.posix.normalize(p) === p;
}

/**
 * Whether every component of p from inside `root` down to p's parent is a real directory (no
 * symlink), so an operation on p acts on what p spells. p itself may be a symlink (removing one
 * removes the link). False when p is not strictly inside root.
 */
export function noSymlinkBelow(root: string, p: string, lstat: (q: string) => Pick<Stats, 'isSymbolicLink' | 'isDirectory'> | null = lstatOrNull): boolean {
  if (!strictlyInside(root, p)) return false;
  const rel = p.slice(root.length + 1).split('/');
  let cur = root;
  for (const c of rel.slice(0, -1)) {
    cur += `/${c}`;
    const st = lstat(cur);
    if (!st) return true; // missing: nothing below it exists either
    if (st.isSymbolicLink() || !st.isDirectory()) return false;
  }
  return true;
}

/**
 * The POSIX sh script that checks (and makes) a home on a remote machine with base tools only
 * (ls -ldn prints mode, links, uid the same way on GNU and FreeBSD: bin/ls/print.c printlong):
 * `sh -c SCRIPT sh DIR UID`. Prints nothing and exits 0 when DIR is a real directory owned by
 * UID with mode 0700 below safe ancestors; else prints one line saying why and exits 3.
 */
export const REMOTE_HOME_SCRIPT = [
  'dir=$1 uid=$2 cur=',
  'for c in $(printf %s "$dir" | tr / " "); do',
  '  cur="$cur/$c"',
  '  last=0; [ "$cur" = "$dir" ] && last=1',
  '  if [ ! -e "$cur" ] && [ ! -L "$cur" ]; then',
  '    if [ $last = 1 ]; then mkdir -m 700 "$cur" 2>/dev/null; else mkdir -m 755 "$cur" 2>/dev/null; fi',
  '  fi',
  '  set -- $(ls -ldn "$cur" 2>/dev/null)',
  '  m=${1:-?} o=${3:-?}',
  '  case $m in l*) echo "$cur is a symlink"; exit 3;; d*) ;; *) echo "$cur is not a directory"; exit 3;; esac',
  '  if [ $last = 1 ]; then',
  '    [ "$o" = "$uid" ] || { echo "$cur is owned by uid $o, not by uid $uid (headgate did not make it)"; exit 3; }',
  '    case $m in d???------*) ;; *) echo "$cur has mode $m, not drwx------"; exit 3;; esac',
  '  else',
  '    [ "$o" = 0 ] || [ "$o" = "$uid" ] || { echo "$cur is owned by uid $o, not root"; exit 3; }',
  '    case $m in ?????????[tT]*) ;; d????w*|d???????w*) echo "$cur is writable by other users ($m) and not sticky"; exit 3;; esac',
  '  fi',
  'done',
].join('\n');

/** The exit-3 error for a remote home that failed REMOTE_HOME_SCRIPT. */
export function remoteHomeRefused(where: string, dir: string, why: string): Error {
  return refused(`${where}:${dir}`, why || 'the check could not run');
}
