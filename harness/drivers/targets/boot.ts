import { infraError, inputError } from '../../model/errors.js';
import type { BootConfig, BootRecord } from '../../model/types.js';
import type { Target } from './target.js';

/** A FreeBSD kernel directory under /boot (what `nextboot -k` takes): one safe path component. */
const KERNEL_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** How a boot configuration is named in messages: "--b-boot kernel=kernel.head". */
export const bootName = (boot: BootConfig): string => `${boot.flag ?? 'boot'} ${boot.label}`;

/**
 * The loader settings of an `append=` on FreeBSD: NAME=VALUE words become loader environment
 * variables (`nextboot -e NAME=VALUE`: tunables such as hw.ibrs_disable=1), words starting with
 * '-' boot flags (`nextboot -o`: kernel_options, e.g. -v). Anything else has no FreeBSD meaning.
 */
export function freebsdAppend(boot: BootConfig): { env: string[]; options: string[] } {
  const env: string[] = [];
  const options: string[] = [];
  for (const w of (boot.append ?? '').split(/\s+/).filter(Boolean)) {
    // nextboot.sh refuses an empty name or value (`if [ -z "$var" -o -z "$value" ]; then
    // display_usage; exit 1`): refused here, before any boot, as the input error it is.
    if (/^[A-Za-z_][A-Za-z0-9_.]*=$/.test(w)) throw inputError(`${bootName(boot)}: append word ${JSON.stringify(w)}: a loader variable needs a value (nextboot -e NAME=VALUE refuses an empty one)`);
    if (/^[A-Za-z_][A-Za-z0-9_.]*=[^\s"]+$/.test(w)) env.push(w);
    else if (/^-[A-Za-z]+$/.test(w)) options.push(w);
    else throw inputError(`${bootName(boot)}: append word ${JSON.stringify(w)}: on FreeBSD an append holds loader variables NAME=VALUE (nextboot -e) or boot flags such as -v (nextboot -o)`);
  }
  return { env, options };
}

/**
 * The commands that boot a FreeBSD appliance once into a configuration: `nextboot -k KERNEL`,
 * `-e NAME=VALUE` per loader variable and `-o FLAGS` write /boot/nextboot.conf, which the loader
 * reads and then disables, so a kernel that does not come up falls back to the default one at the
 * next power cycle (sbin/reboot/nextboot.sh: getopts "aDe:fk:o:"; -k refuses a kernel without
 * /boot/KERNEL). Then a reboot, detached so the ssh session ends before the box goes down (left
 * out with `reboot: false`, for a caller that restarts the machine itself: vagrant reload).
 * With neither kernel nor append, `nextboot -D` removes a stale nextboot.conf first.
 */
export function freebsdBootCommands(boot: BootConfig, o: { reboot?: boolean } = {}): string[][] {
  if (boot.kernel !== undefined && !KERNEL_DIR.test(boot.kernel)) {
    throw inputError(`${bootName(boot)}: kernel=${boot.kernel}: a FreeBSD kernel is a directory name under /boot (e.g. kernel.head), not a path`);
  }
  if (boot.initrd !== undefined) throw inputError(`${bootName(boot)}: initrd= is for QEMU targets; a FreeBSD appliance boots kernel=NAME (nextboot -k)`);
  const { env, options } = freebsdAppend(boot);
  const once =
    boot.kernel || env.length || options.length
      ? ['nextboot', ...(boot.kernel ? ['-k', boot.kernel] : []), ...env.flatMap((e) => ['-e', e]), ...(options.length ? ['-o', options.join(' ')] : [])]
      : ['nextboot', '-D'];
  return o.reboot === false ? [once] : [once, ['sh', '-c', '(sleep 1; shutdown -r now) > /dev/null 2>&1 &']];
}

/**
 * Which /sbin/nextboot a FreeBSD target has (sbin/reboot/Makefile `SCRIPTS=	nextboot.sh`: a
 * shell script, installed without its suffix), told by text each upstream version has:
 * - head (freebsd-src 023fc80e, sbin/reboot/nextboot.sh): on a ZFS /boot it writes the one-shot
 *   flag to the pool's nvstore, `zfsbootcfg -z ${zfs} -n freebsd:nvstore -k nextboot_enable -v YES`,
 *   which the loader consumes: one-shot on ZFS too;
 * - older versions (releng/12.1 r326276 and the later `$FreeBSD$` one with `-a`/`fsync`) only
 *   write /boot/nextboot.conf and warn on ZFS: `WARNING: loader(8) has only R/O support for ZFS` /
 *   `nextboot.conf will NOT be reset in case of kernel boot failure` (the loader's own reset,
 *   stand/lua/config.lua checkNextboot(): rewrites `nextboot_enable="NO"` in place, "this won't
 *   work on every filesystem").
 * 'nvstore' when the script calls zfsbootcfg for nextboot_enable, else 'conf-only'.
 */
export function nextbootKind(script: string): 'nvstore' | 'conf-only' {
  return /^\s*zfsbootcfg\b[^\n]*\bnextboot_enable\b/m.test(script) ? 'nvstore' : 'conf-only';
}

/**
 * Whether /boot is on ZFS, the way nextboot.sh itself decides it (head and old alike):
 * `df -Tn "/boot/" 2>/dev/null | while read _fs _type _other ; do [ "zfs" = "${_type}" ] || continue`.
 * bin/df/df.c prtstat(): with -T each row is `%-*s` f_mntfromname, then `  %-*s` f_fstypename
 * (the header's second word is "Type").
 */
export function bootIsZfs(dfTn: string): boolean {
  return dfTn.split('\n').some((l) => l.trim().split(/\s+/)[1] === 'zfs');
}

/**
 * Before any nextboot that writes nextboot.conf (a kernel or loader settings): refuses (exit 2)
 * a target whose /boot is on ZFS and whose nextboot.sh is an older one that leaves
 * nextboot.conf in place after a failed boot, so a B kernel that panics would be chosen again
 * at every power cycle. The default boot (`nextboot -D`, which only removes the file) passes.
 * Reads /sbin/nextboot and runs `df -Tn /boot/`, nothing else.
 */
export async function checkFreebsdNextboot(t: Pick<Target, 'exec'>, target: string, boot: BootConfig): Promise<void> {
  const [once] = freebsdBootCommands(boot, { reboot: false });
  if (once[1] === '-D') return;
  const script = await t.exec(['cat', '/sbin/nextboot'], { allowFail: true });
  if (script.code === 0 && nextbootKind(script.stdout) === 'nvstore') return;
  const df = await t.exec(['df', '-Tn', '/boot/'], { allowFail: true });
  if (df.code !== 0) throw infraError(`target ${target}: df -Tn /boot/ failed (${df.stderr.trim().split('\n').pop() ?? ''}): cannot tell whether nextboot is one-shot there`);
  if (!bootIsZfs(df.stdout)) return;
  const which = script.code === 0 ? 'its /sbin/nextboot is an older nextboot.sh (no zfsbootcfg nvstore flag)' : `/sbin/nextboot could not be read (${script.stderr.trim().split('\n').pop() ?? ''})`;
  throw inputError(
    `${bootName(boot)}: target ${target}: /boot is on ZFS and ${which}: nextboot.conf is NOT reset after a failed boot there, so a kernel that does not come up would be booted again at every power cycle; kernel A/B by nextboot refused before any reboot`,
    'give the target an inventory boot.hook (a command that selects the next boot and reboots it), or update the appliance to a FreeBSD whose nextboot.sh writes nextboot_enable with zfsbootcfg',
  );
}

/** The boot file a FreeBSD kernel directory is loaded from (kern.bootfile after a boot into it). */
export const freebsdBootFile = (kernel: string): string => `/boot/${kernel}/kernel`;

/** What identifies one boot of a target: Linux's random boot_id, FreeBSD's kern.boottime. */
export async function bootId(t: Target): Promise<string> {
  const os = await t.os();
  if (os.family === 'freebsd') return (await t.exec(['sysctl', '-n', 'kern.boottime'])).stdout.trim();
  return (await t.readFile('/proc/sys/kernel/random/boot_id')).trim();
}

/** What a target runs after a reboot, as the target itself reports it (kernel, version, command line or boot file). */
export async function bootRecord(t: Target, side: 'A' | 'B', config: string, t0: number, method: string): Promise<BootRecord> {
  const os = await t.os();
  const fp = await os.fingerprint();
  const cmdline = os.family === 'freebsd' ? (await t.exec(['sysctl', '-n', 'kern.bootfile'])).stdout.trim() : (await t.readFile('/proc/cmdline')).trim();
  return { side, config, bootSec: (Date.now() - t0) / 1000, at: new Date().toISOString(), kernelRelease: fp.kernelRelease, kernelVersion: fp.kernelVersion, cmdline, method };
}

/**
 * A box rebooted into its own boot must come back on the kernel and command line (or boot file)
 * it ran before the A/B session; exit 3 otherwise (the session's restore and a journal replay).
 */
export function checkOwnBoot(target: string, r: Pick<BootRecord, 'kernelRelease' | 'cmdline'>, own: Pick<BootRecord, 'kernelRelease' | 'cmdline'>): void {
  if (r.kernelRelease === own.kernelRelease && r.cmdline === own.cmdline) return;
  throw infraError(
    `target ${target}: rebooted into its default boot but it runs ${r.kernelRelease} (${r.cmdline}), not ${own.kernelRelease} (${own.cmdline}) as before the A/B session`,
    'reboot it into its default boot by hand before anything else runs on it',
  );
}
