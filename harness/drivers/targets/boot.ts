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
