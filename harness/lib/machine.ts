import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import { runSync } from './exec.js';

/**
 * Who a machine is and which boot it is in. The machine id names the installation (Linux
 * /etc/machine-id, FreeBSD kern.hostuuid); the boot id changes at every boot (Linux
 * /proc/sys/kernel/random/boot_id, FreeBSD kern.boottime's seconds and microseconds). Two targets
 * with the same pair are one kernel: one lock, one journal. A journal entry made in another boot
 * describes state that boot took with it.
 */
export interface MachineIdentity {
  /** The installation's id ('' when the machine has none readable). */
  id: string;
  /** This boot's id ('' when unreadable). */
  boot: string;
}

const readTrim = (f: string): string => {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch {
    return '';
  }
};

/** kern.boottime as `sysctl -n` prints it (sbin/sysctl/sysctl.c S_timeval: "{ sec = %jd, usec = %ld } "), as "SEC.USEC"; '' when not that form. */
export function parseBoottime(text: string): string {
  const m = /\{\s*sec\s*=\s*(\d+),\s*usec\s*=\s*(\d+)\s*\}/.exec(text);
  return m ? `${m[1]}.${m[2].padStart(6, '0')}` : '';
}

/**
 * The identity a machine reports through the output of MACHINE_IDENTITY_SCRIPT: lines `uname -s`,
 * the machine id, the boot id; on FreeBSD the boot id is kern.boot_id in hex (15.1 and later:
 * random per boot) or, where that node is missing, kern.boottime (which a clock step moves).
 */
export function parseMachineIdentity(text: string): MachineIdentity & { os: string } {
  const [osName = '', id = '', boot = '', boottime = ''] = text.split('\n').map((l) => l.trim());
  if (osName === 'FreeBSD') return { os: osName, id: id.toLowerCase(), boot: /^[0-9a-f]{8,}$/.test(boot) ? boot : parseBoottime(boottime) };
  return { os: osName, id: id.toLowerCase(), boot };
}

/**
 * One POSIX sh script that prints a machine's identity with base tools, for remote targets:
 * `uname -s`, then the machine id and the boot id (Linux: /etc/machine-id, boot_id); FreeBSD:
 * kern.hostuuid, kern.boot_id as hex (sysctl -b: 16 raw bytes; empty before 15.1), kern.boottime.
 */
export const MACHINE_IDENTITY_SCRIPT = [
  'uname -s',
  'if [ "$(uname -s)" = FreeBSD ]; then sysctl -n kern.hostuuid; sysctl -b kern.boot_id 2>/dev/null | od -An -tx1 | tr -d " \\n"; echo; sysctl -n kern.boottime; exit 0; fi',
  'cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null || echo',
  'cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo',
].join('\n');

let self: MachineIdentity | undefined;

/** This machine's identity (read once per process). */
export function localMachine(): MachineIdentity {
  if (self) return self;
  if (os.platform() === 'freebsd') {
    const id = parseMachineIdentity(runSync(['sh', '-c', MACHINE_IDENTITY_SCRIPT]).stdout);
    self = { id: id.id, boot: id.boot };
  } else {
    self = { id: (readTrim('/etc/machine-id') || readTrim('/var/lib/dbus/machine-id')).toLowerCase(), boot: readTrim('/proc/sys/kernel/random/boot_id') };
  }
  return self;
}

/** Whether two identities are one running kernel (same installation, same boot; both known). */
export function sameKernel(a: MachineIdentity, b: MachineIdentity): boolean {
  return a.id !== '' && a.boot !== '' && a.id === b.id && a.boot === b.boot;
}

/** This process's pid namespace (Linux: "pid:[4026531836]"), '' elsewhere: pids of another namespace cannot be judged from here. */
export function pidNamespace(pid: number | 'self' = 'self'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return '';
  }
}

/** What a process-start lookup found: its start time, or that it does not exist, or that it could not tell. */
export type StartLookup = { start: string } | { gone: true } | { unknown: string };

/**
 * Linux: field 22 of /proc/PID/stat (clock ticks since boot), counted after the last ')' since
 * the command name may hold spaces and parentheses.
 */
export function parseProcStatStart(stat: string): string | null {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null;
}

/**
 * FreeBSD: `TZ=UTC LC_ALL=C ps -o lstart= -p PID` prints ki_start in strftime's C-locale %c
 * ("%a %b %e %H:%M:%S %Y", bin/ps/print.c lstarted: whole seconds only; no base command prints
 * kinfo_proc's microseconds). As seconds since the epoch, or null when the text is not that form.
 */
export function parsePsLstart(text: string): number | null {
  const m = /^\s*[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})\s*$/.exec(text);
  if (!m) return null;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].indexOf(m[1]);
  if (mon < 0) return null;
  return Date.UTC(Number(m[6]), mon, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) / 1000;
}

/**
 * A FreeBSD start time as headgate records it: seconds since boot ("fb:N"). The kernel adds the
 * current boottime to ki_start (kern_proc.c fill_kinfo_proc), so both move together when the
 * clock is stepped; their difference does not. Compared with one second of tolerance (sameStart).
 */
export const freebsdStart = (lstartEpoch: number, boottimeSec: number): string => `fb:${Math.round(lstartEpoch - boottimeSec)}`;

/** Whether two recorded start times are the same process's: equal, or FreeBSD "fb:" forms within one second. */
export function sameStart(a: string, b: string): boolean {
  if (a === b) return a !== '';
  const fa = /^fb:(\d+)$/.exec(a);
  const fb = /^fb:(\d+)$/.exec(b);
  return !!fa && !!fb && Math.abs(Number(fa[1]) - Number(fb[1])) <= 1;
}

/** The start time of a process of this machine, told apart from "gone" and "could not tell". */
export function lookupProcessStart(pid: number): StartLookup {
  if (os.platform() === 'freebsd') {
    // ps exits 1 with no output and no stderr for a pid that does not exist (bin/ps/ps.c: ESRCH ignored, nkept == 0).
    const r = runSync(['env', 'TZ=UTC', 'LC_ALL=C', 'ps', '-o', 'lstart=', '-p', String(pid)]);
    if (r.code === 1 && r.stdout.trim() === '' && r.stderr.trim() === '') return { gone: true };
    const at = parsePsLstart(r.stdout);
    const boot = Number(parseBoottime(runSync(['sysctl', '-n', 'kern.boottime']).stdout).split('.')[0]);
    if (at === null || !Number.isFinite(boot) || boot <= 0) return { unknown: `ps -o lstart printed ${JSON.stringify(r.stdout.trim())}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}` };
    return { start: freebsdStart(at, boot) };
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? { gone: true } : { unknown: `/proc/${pid}/stat: ${code}` };
  }
  const s = parseProcStatStart(stat);
  return s ? { start: s } : { unknown: `/proc/${pid}/stat: no start time field` };
}

/** Start time of a local process, or null when it is gone or cannot be told (callers that must not mistake "unknown" for "gone" use lookupProcessStart). */
export function processStart(pid: number): string | null {
  const r = lookupProcessStart(pid);
  return 'start' in r ? r.start : null;
}

/** The command name of a local process (Linux /proc/PID/comm, at most 15 characters), '' when unreadable. */
export function processComm(pid: number): string {
  if (os.platform() === 'freebsd') {
    return runSync(['ps', '-o', 'comm=', '-p', String(pid)]).stdout.trim();
  }
  return readTrim(`/proc/${pid}/comm`);
}
