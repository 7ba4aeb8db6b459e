import { inputError } from '../../model/errors.js';
import type { BootConfig, BootRecord } from '../../model/types.js';
import type { Target } from './target.js';

/** A FreeBSD kernel directory under /boot (what `nextboot -k` takes): one safe path component. */
const KERNEL_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The commands that boot a FreeBSD appliance once into a configuration: `nextboot -k KERNEL`
 * (and `-o OPTIONS` for added boot options) writes /boot/nextboot.conf, which the loader reads
 * and then disables, so a kernel that does not come up falls back to the default one at the
 * next power cycle (sbin/reboot/nextboot.sh: getopts "aDe:fk:o:"; -k refuses a kernel without
 * /boot/KERNEL). Then a reboot, detached so the ssh session ends before the box goes down.
 * With neither kernel nor options, `nextboot -D` removes a stale nextboot.conf first.
 */
export function freebsdBootCommands(boot: BootConfig): string[][] {
  if (boot.kernel !== undefined && !KERNEL_DIR.test(boot.kernel)) {
    throw inputError(`ab boot ${boot.label}: kernel=${boot.kernel}: a FreeBSD kernel is a directory name under /boot (e.g. kernel.head), not a path`);
  }
  if (boot.initrd !== undefined) throw inputError(`ab boot ${boot.label}: initrd= is for QEMU targets; a FreeBSD appliance boots kernel=NAME (nextboot -k)`);
  const once = boot.kernel || boot.append ? ['nextboot', ...(boot.kernel ? ['-k', boot.kernel] : []), ...(boot.append ? ['-o', boot.append] : [])] : ['nextboot', '-D'];
  return [once, ['sh', '-c', '(sleep 1; shutdown -r now) > /dev/null 2>&1 &']];
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
