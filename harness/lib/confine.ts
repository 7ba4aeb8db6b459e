import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { inputError } from '../model/errors.js';

/**
 * Names and paths from a user or a file (DESIGN.md "Safety"): every name that becomes a path is
 * checked here, and every path built from one must stay inside its root, symlinks included.
 * Failures are input errors (exit 2) whose first line names the flag, file or key and the value.
 */

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A value as shown in a one-line message: JSON-quoted (control characters escaped), at most 200 characters. */
export function shown(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  const q = JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s);
  return q;
}

/** Whether value is a safe name: a letter or digit, then letters, digits, '.', '_', '-' (128 at most), no '..'. */
export function isSafeName(value: unknown): value is string {
  return typeof value === 'string' && SAFE_NAME.test(value) && !value.includes('..');
}

/**
 * Returns value when it is a safe name (a target or lab name, profile, suite id, run id), else
 * throws an input error naming `kind` (the flag, file or key it came from) and the value.
 */
export function safeName(kind: string, value: unknown): string {
  if (isSafeName(value)) return value;
  throw inputError(`${kind} ${shown(value)}: not a valid name (a letter or digit, then letters, digits, '.', '_' or '-'; at most 128 characters; no '..')`);
}

/** True when p is root or below it (both absolute and normalized). */
export function isInside(root: string, p: string): boolean {
  if (p === root) return true;
  return p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * The real path of p as far as it exists: the realpath of its deepest existing ancestor with the
 * missing rest appended. A dangling symlink is followed to where it points (a later mkdir or write
 * through it would land there), up to 40 links.
 */
export function realpathOfExisting(p: string, depth = 0): string {
  const abs = path.resolve(p);
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...tail);
    } catch {
      // Missing, or a dangling symlink: follow the link by hand, else go one level up.
      let link: string | null = null;
      try {
        if (lstatSync(cur).isSymbolicLink()) link = readlinkSync(cur);
      } catch {
        link = null;
      }
      if (link !== null && depth < 40) return path.join(realpathOfExisting(path.resolve(path.dirname(cur), link), depth + 1), ...tail);
      const up = path.dirname(cur);
      if (up === cur) return path.join(cur, ...tail);
      tail.unshift(path.basename(cur));
      cur = up;
    }
  }
}

/**
 * root joined with parts, resolved; throws an input error starting with `what` and naming the
 * value unless the result stays inside root, both as written and after resolving symlinks of the
 * parts that exist (so a symlink inside root cannot lead out).
 */
export function confineAs(what: string, root: string, ...parts: string[]): string {
  const value = parts.join('/');
  if (parts.some((p) => p.includes('\0'))) throw inputError(`${what} ${shown(value)}: contains a NUL byte`);
  const base = path.resolve(root);
  const target = path.resolve(base, ...parts);
  if (!isInside(base, target)) throw inputError(`${what} ${shown(value)}: resolves to ${target}, outside ${base}`);
  const realBase = realpathOfExisting(base);
  const realTarget = realpathOfExisting(target);
  if (!isInside(realBase, realTarget)) throw inputError(`${what} ${shown(value)}: leads through a symlink to ${realTarget}, outside ${base}`);
  return target;
}

/** root joined with parts, resolved; an input error naming the value unless it stays inside root (see confineAs). */
export function confine(root: string, ...parts: string[]): string {
  return confineAs('path', root, ...parts);
}

// ---- kernel knob names --------------------------------------------------------------------

const LINUX_SYSCTL = /^[a-z0-9_][a-z0-9_.-]*(\/[a-z0-9_.-]+)*$/;
const SYSFS_SEGMENT = /^[A-Za-z0-9_.:+@,-]+$/;
const FREEBSD_SYSCTL = /^[a-z0-9_.%-]+$/;

/**
 * The /proc/sys file of a Linux sysctl name: dotted (net.ipv4.tcp_wmem) or with slashes
 * (net/ipv4/conf/eth0.100/rp_filter, where dots are literal, as sysctl(8) reads them).
 * Throws an input error naming `what` and the name unless it maps to a file under /proc/sys.
 */
export function linuxSysctlPath(what: string, name: string): string {
  const segs = name.includes('/') ? name.split('/') : name.split('.');
  if (!LINUX_SYSCTL.test(name) || name.includes('..') || segs.some((s) => s === '' || s === '.')) {
    throw inputError(`${what} ${shown(name)}: not a sysctl name (lower-case letters, digits, '_', '-', '.' or '/' between parts; no '..')`);
  }
  return confineAs(what, '/proc/sys', ...segs);
}

/**
 * Checks the spelling of a sysfs knob path (/sys/block/loop0/queue/scheduler): absolute, under
 * /sys, no '.', '..' or empty parts. Where it really leads is checked on the target (realpath).
 */
export function checkSysfsKnobPath(what: string, name: string): string {
  const segs = name.split('/').slice(1);
  if (!name.startsWith('/sys/') || segs.length < 2 || segs.some((s) => s === '.' || s === '..' || !SYSFS_SEGMENT.test(s))) {
    throw inputError(`${what} ${shown(name)}: not a path under /sys (absolute, no '.', '..' or empty parts)`);
  }
  return name;
}

/** A FreeBSD sysctl name (kern.ipc.tls.enable, dev.cpu.0.freq, kern.cam.ada.0.iosched.%parent): lower case, digits, '_', '.', '%', '-'; not an option. */
export function checkFreebsdSysctlName(what: string, name: string): string {
  if (!FREEBSD_SYSCTL.test(name) || name.startsWith('-') || name.split('.').some((s) => s === '')) {
    throw inputError(`${what} ${shown(name)}: not a FreeBSD sysctl name (lower-case letters, digits, '_', '%', '-', parts joined by '.'; not starting with '-')`);
  }
  return name;
}

/**
 * A knob name from a flag or suite file that may be set on either OS (ab's --b-knob): a Linux
 * sysctl, a /sys path, a FreeBSD sysctl or kld:MODULE. Throws an input error naming `what` and the name.
 */
export function checkKnobName(what: string, name: string): string {
  if (name.startsWith('/')) return checkSysfsKnobPath(what, name);
  if (name.startsWith('kld:')) {
    if (!/^[a-z0-9_][a-z0-9_.-]*$/.test(name.slice(4))) throw inputError(`${what} ${shown(name)}: not a kernel module name`);
    return name;
  }
  // Slashes (or '..') only make sense as a Linux sysctl path: checked as one, so the message says why.
  if (name.includes('/') || name.includes('..') || LINUX_SYSCTL.test(name)) {
    linuxSysctlPath(what, name);
    return name;
  }
  return checkFreebsdSysctlName(what, name);
}

/** Whether s holds a control character (C0 or DEL): never allowed in a name, option or boot setting a user gives. */
export const hasControlChars = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
