import { describe, expect, it } from 'vitest';
import { parseBootSpec } from '../../harness/cli/ab.js';
import { freebsdBootCommands, freebsdBootFile } from '../../harness/drivers/targets/boot.js';

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
