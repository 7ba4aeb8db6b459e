import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseBootSpec } from '../../harness/cli/ab.js';
import type { OsAdapter } from '../../harness/drivers/os/adapter.js';
import { bootIsZfs, freebsdBootCommands, freebsdBootFile, nextbootKind } from '../../harness/drivers/targets/boot.js';
import { SshTarget } from '../../harness/drivers/targets/ssh.js';
import type { ExecOptions } from '../../harness/drivers/targets/target.js';
import type { BootConfig } from '../../harness/model/types.js';
import { FakeTarget } from '../helpers/fake-target.js';

describe('ab --a-boot/--b-boot', () => {
  it('parses default and key=value pairs, an append keeping its own = and spaces', () => {
    expect(parseBootSpec('--a-boot', 'default')).toEqual({ label: 'default', flag: '--a-boot' });
    expect(parseBootSpec('--b-boot', 'append=mitigations=off nosmt; kernel=/boot/vmlinuz-6.12')).toEqual({ label: 'append=mitigations=off nosmt; kernel=/boot/vmlinuz-6.12', flag: '--b-boot', append: 'mitigations=off nosmt', kernel: '/boot/vmlinuz-6.12' });
  });
  it('refuses unknown keys, repeated keys, empty and control characters, naming the flag', () => {
    expect(() => parseBootSpec('--b-boot', 'cmdline=quiet')).toThrow(/^--b-boot cmdline=quiet: "cmdline=quiet" is not kernel=/);
    expect(() => parseBootSpec('--b-boot', 'append=a;append=b')).toThrow('--b-boot append=a;append=b: append given twice');
    expect(() => parseBootSpec('--a-boot', ' ')).toThrow(/^--a-boot: empty/);
    expect(() => parseBootSpec('--a-boot', 'append=x\nrm -rf /')).toThrow(/control characters are not allowed/);
  });
});

// FreeBSD appliance (fixture-tested: no FreeBSD here). nextboot's flags are those of
// sbin/reboot/nextboot.sh (getopts "aDe:fk:o:"): -k KERNEL (a directory under /boot), -o options.
describe('FreeBSD one-shot boot (nextboot)', () => {
  it('boots a kernel directory once with nextboot -k, boot options with -o, then reboots detached', () => {
    expect(freebsdBootCommands({ label: 'kernel=kernel.head', kernel: 'kernel.head' })).toEqual([
      ['nextboot', '-k', 'kernel.head'],
      ['sh', '-c', '(sleep 1; shutdown -r now) > /dev/null 2>&1 &'],
    ]);
    expect(freebsdBootCommands({ label: 'x', kernel: 'kernel.b', append: '-v' })[0]).toEqual(['nextboot', '-k', 'kernel.b', '-o', '-v']);
    // Loader variables (tunables) go through -e, one each; flags through -o.
    expect(freebsdBootCommands({ label: 'x', append: 'hw.ibrs_disable=1 vm.pmap.pti=0 -v' })[0]).toEqual(['nextboot', '-e', 'hw.ibrs_disable=1', '-e', 'vm.pmap.pti=0', '-o', '-v']);
    // vagrant reload restarts the VM itself: no shutdown step.
    expect(freebsdBootCommands({ label: 'k', kernel: 'kernel.b' }, { reboot: false })).toEqual([['nextboot', '-k', 'kernel.b']]);
    // The default boot: a stale nextboot.conf is removed first.
    expect(freebsdBootCommands({ label: 'default' })[0]).toEqual(['nextboot', '-D']);
    expect(freebsdBootFile('kernel.head')).toBe('/boot/kernel.head/kernel');
  });
  it('refuses a kernel that is a path or an initrd, which FreeBSD does not have', () => {
    expect(() => freebsdBootCommands({ label: 'kernel=../etc', kernel: '../etc' })).toThrow(/kernel=\.\.\/etc: a FreeBSD kernel is a directory name under \/boot/);
    expect(() => freebsdBootCommands({ label: 'i', initrd: '/x' })).toThrow(/initrd= is for QEMU targets/);
    // Messages name the flag; a Linux-style command-line word has no FreeBSD meaning.
    // An empty loader value would pass here and fail in nextboot.sh on the box (W10).
    expect(() => freebsdBootCommands({ label: 'append=hw.x=', flag: '--b-boot', append: 'hw.x=' })).toThrow(/^--b-boot append=hw\.x=: append word "hw\.x=": a loader variable needs a value/);
    expect(() => freebsdBootCommands({ label: 'append=quiet', flag: '--b-boot', append: 'quiet' })).toThrow(/^--b-boot append=quiet: append word "quiet": on FreeBSD an append holds loader variables NAME=VALUE \(nextboot -e\) or boot flags/);
  });
});

// W6: which nextboot.sh the appliance has. Fixtures are upstream sbin/reboot/nextboot.sh copied
// verbatim: nextboot.sh-head-023fc80e is freebsd/freebsd-src at commit
// 023fc80ee38a117fa65b2ccb2abf8bdc7dbd6fd9 (3032 characters; zfsbootcfg nvstore flag);
// nextboot.sh-releng-12.1-r326276 is the releng/12.1 file (its own keyword line: "$FreeBSD:
// releng/12.1/sbin/reboot/nextboot.sh 326276 2017-11-27 15:37:16Z pfg $"), read from the
// exported tree in jimskon/FreeBSDDevPF at e0b352d81ec73e2e071a9d511ba8d31a200e4776 (3181
// characters); apart from that keyword line it is the index's later `$FreeBSD$` version
// [V:194801863] the audit quotes.
const fixture = (f: string) => readFileSync(fileURLToPath(new URL(`../fixtures/freebsd/${f}`, import.meta.url)), 'utf8');
const HEAD_NEXTBOOT = fixture('nextboot.sh-head-023fc80e');
const OLD_NEXTBOOT = fixture('nextboot.sh-releng-12.1-r326276');

/**
 * `df -Tn /boot/` as bin/df/df.c prtstat() prints it (no BLOCKSIZE: getbsize() gives the
 * "512-blocks" header): `%-*s` "Filesystem", `  %-*s` "Type", ` %*s %*s %*s Capacity`,
 * `  Mounted on`; a row `%-*s` f_mntfromname, `  %-*s` f_fstypename, ` %*jd %*jd %*jd`,
 * ` %5.0f%%`, two spaces, `  %s` f_mntonname.
 */
function dfTn(from: string, type: string, on: string): string {
  const w = { from: Math.max(from.length, 'Filesystem'.length), type: Math.max(type.length, 'Type'.length), n: '512-blocks'.length };
  const head = `${'Filesystem'.padEnd(w.from)}  ${'Type'.padEnd(w.type)} ${'512-blocks'.padStart(w.n)} ${'Used'.padStart(w.n)} ${'Avail'.padStart(w.n)} Capacity  Mounted on\n`;
  const row = `${from.padEnd(w.from)}  ${type.padEnd(w.type)} ${'41943040'.padStart(w.n)} ${'2097152'.padStart(w.n)} ${'39845888'.padStart(w.n)} ${'5%'.padStart(6)}    ${on}\n`;
  return head + row;
}

/** A FreeBSD appliance behind ssh whose commands are answered by a scripted host (the transcript is what the box would receive). */
class ScriptedAppliance extends SshTarget {
  constructor(readonly scripted: FakeTarget) {
    super({ name: 'bsd-lab', host: 'bsd-lab.example' });
  }
  override exec(argv: string[], opts?: ExecOptions) {
    return this.scripted.exec(argv, opts);
  }
  override async os(): Promise<OsAdapter> {
    return { family: 'freebsd' } as OsAdapter;
  }
  select(boot: BootConfig) {
    return this.selectBoot(boot, 'B', true);
  }
}

function appliance(script: string, df: string) {
  const host = new FakeTarget((argv) => {
    const cmd = argv.join(' ');
    if (cmd === 'cat /sbin/nextboot') return { stdout: script };
    if (cmd === 'df -Tn /boot/') return { stdout: df };
    if (argv[0] === 'nextboot' || argv[0] === 'sh') return {};
    return undefined;
  });
  return { host, t: new ScriptedAppliance(host) };
}
const zfsBoot = dfTn('zroot/ROOT/default', 'zfs', '/');
const ufsBoot = dfTn('/dev/ada0p2', 'ufs', '/');
const kernelB: BootConfig = { label: 'kernel=kernel.b', flag: '--b-boot', kernel: 'kernel.b' };
const rebootCommands = (host: FakeTarget) => host.transcript.filter((c) => /^nextboot |shutdown/.test(c));

describe('nextboot on ZFS is one-shot only with the nvstore script (W6)', () => {
  it('tells the two upstream scripts apart by their own text, and a ZFS /boot the way nextboot.sh does', () => {
    expect(HEAD_NEXTBOOT).toContain('zfsbootcfg -z ${zfs} -n freebsd:nvstore -k nextboot_enable -v YES');
    expect(OLD_NEXTBOOT).toContain('nextboot.conf will NOT be reset in case of kernel boot failure');
    expect(nextbootKind(HEAD_NEXTBOOT)).toBe('nvstore');
    expect(nextbootKind(OLD_NEXTBOOT)).toBe('conf-only');
    expect(bootIsZfs(zfsBoot)).toBe(true);
    expect(bootIsZfs(ufsBoot)).toBe(false);
  });

  it('head script on ZFS: allowed, nextboot -k and the detached reboot are issued', async () => {
    const { host, t } = appliance(HEAD_NEXTBOOT, zfsBoot);
    await t.checkBoot(kernelB);
    await t.select(kernelB);
    expect(rebootCommands(host)).toEqual(['nextboot -k kernel.b', 'sh -c (sleep 1; shutdown -r now) > /dev/null 2>&1 &']);
  });

  it('old script on ZFS: refused (exit 2) naming the host and the reason, and nothing that reboots was run', async () => {
    const { host, t } = appliance(OLD_NEXTBOOT, zfsBoot);
    const err = await t.checkBoot(kernelB).then(() => null, (e: unknown) => e as Error & { exitCode: number });
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toMatch(/^--b-boot kernel=kernel\.b: target bsd-lab: \/boot is on ZFS and its \/sbin\/nextboot is an older nextboot\.sh .*nextboot\.conf is NOT reset after a failed boot/);
    // selectBoot (the reboot path) checks again before its first command.
    await expect(t.select(kernelB)).rejects.toThrow(/kernel A\/B by nextboot refused before any reboot/);
    expect(host.transcript).toEqual(['cat /sbin/nextboot', 'df -Tn /boot/', 'cat /sbin/nextboot', 'df -Tn /boot/']);
    expect(rebootCommands(host)).toEqual([]);
    // Loader variables write nextboot.conf too: refused alike. The default boot (nextboot -D only removes the file) passes.
    await expect(t.checkBoot({ label: 'append=hw.x=1', append: 'hw.x=1' })).rejects.toThrow(/refused before any reboot/);
    await t.checkBoot({ label: 'default' });
  });

  it('old script on UFS: allowed (the loader resets nextboot.conf itself)', async () => {
    const { host, t } = appliance(OLD_NEXTBOOT, ufsBoot);
    await t.checkBoot(kernelB);
    await t.select(kernelB);
    expect(rebootCommands(host)).toEqual(['nextboot -k kernel.b', 'sh -c (sleep 1; shutdown -r now) > /dev/null 2>&1 &']);
  });
});
