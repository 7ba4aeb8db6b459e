import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// H3: --block-device hands a device to fio's writer. Real loop devices here, each in a state the
// audit found accepted: the second device of a two-device btrfs (only the first is in
// /proc/mounts, no holders), an ext4 external journal of a mounted filesystem, an unmounted
// filesystem. Every refusal must leave the device's bytes as they were. ZFS is not in this
// kernel: its member signature comes from a scripted blkid.

const work = tempDir('hg-blk-');
const loops: string[] = [];
const mounts: string[] = [];
const sh = (cmd: string, ...args: string[]) => execFileSync('sh', ['-c', cmd, 'sh', ...args], { encoding: 'utf8' }).trim();
const have = (tool: string) => {
  try {
    sh('command -v "$1"', tool);
    return true;
  } catch {
    return false;
  }
};

function loop(name: string, mib: number): { dev: string; file: string } {
  const file = path.join(work, `${name}.img`);
  writeFileSync(file, '');
  sh('truncate -s "$1"M "$2"', String(mib), file);
  const dev = sh('losetup --find --show "$1"', file);
  loops.push(dev);
  return { dev, file };
}
/** Mounts dev on a fresh directory of the test (unmounted after the file). */
function mounted(dev: string, name: string): string {
  const mnt = path.join(work, name);
  mkdirSync(mnt);
  sh('mount "$1" "$2"', dev, mnt);
  mounts.push(mnt);
  return mnt;
}
const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

afterAll(() => {
  for (const m of mounts.reverse()) sh('umount "$1" || umount -l "$1"', m);
  for (const d of loops) sh('losetup -d "$1" || true', d);
});

/** The CLI on the device: exit code and stderr; the device's backing file must be byte for byte as before. */
async function refusedByCli(dev: string, file: string): Promise<string> {
  const before = digest(file);
  const r = await cli(['run', '--suite', 'io-sched', '--variant', 'none', '--block-device', dev, '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--out', path.join(work, 'out')]);
  expect(r.code, r.stderr).toBe(2);
  expect(digest(file), 'the device was written to').toBe(before);
  return r.stderr;
}

describe('--block-device refuses devices that something else claims (H3)', () => {
  it.runIf(have('mkfs.btrfs'))('the second device of a mounted two-device btrfs (raid1): a btrfs member, and the kernel holds it', async () => {
    const a = loop('bt-a', 300);
    const b = loop('bt-b', 300);
    sh('mkfs.btrfs -q -f -d raid1 -m raid1 "$1" "$2"', a.dev, b.dev);
    const mnt = mounted(a.dev, 'bt');
    sh('dd if=/dev/urandom of="$1"/fill bs=1M count=20 status=none && sync', mnt);
    // What the old check looked at: only A is in /proc/mounts, and B has no holders.
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(b.dev);
    expect(sh('ls -A /sys/block/"$1"/holders', path.basename(b.dev))).toBe('');
    const err = await refusedByCli(b.dev, b.file);
    expect(err).toContain(`--block-device ${b.dev}`);
    expect(err).toMatch(/btrfs/);
    // The filesystem is intact: a scrub finds no errors.
    expect(sh('btrfs scrub start -B "$1" 2>&1', mnt)).toMatch(/no errors found|Error summary: +no errors/);
    // The exclusive open alone (signature check passed by): EBUSY.
    const x = await new LocalTarget().exec(['sh', '-c', (await import('../../harness/drivers/os/device-claims.js')).EXCL_OPEN_SCRIPT, 'sh', b.dev], { allowFail: true });
    expect(x.code).toBe(16);
  }, 120_000);

  it('an ext4 external journal of a mounted filesystem', async () => {
    const j = loop('jnl', 64);
    const fsdev = loop('ext4', 64);
    sh('mke2fs -q -O journal_dev -b 4096 "$1" && mkfs.ext4 -q -b 4096 -J device="$1" "$2"', j.dev, fsdev.dev);
    mounted(fsdev.dev, 'ext');
    const err = await refusedByCli(j.dev, j.file);
    expect(err).toMatch(/an ext3\/ext4 external journal \(blkid: TYPE=jbd/);
  }, 60_000);

  it('an unmounted filesystem is refused by its signature; a device without any is accepted', async () => {
    const used = loop('unmounted', 32);
    sh('mkfs.ext4 -q -L data "$1"', used.dev);
    const err = await refusedByCli(used.dev, used.file);
    expect(err).toContain('an ext4 filesystem (blkid: TYPE=ext4, label "data")');
    const clean = loop('clean', 32);
    expect(await new LinuxAdapter(new LocalTarget()).checkDeviceUnused(clean.dev)).toBe(clean.dev);
  }, 60_000);

  it('a ZFS pool member (scripted blkid: no ZFS in this kernel) is refused before any exclusive open', async () => {
    const t = new FakeTarget((argv) => {
      if (argv[0] === 'readlink') return { stdout: `${argv[3]}\n` };
      if (argv[0] === 'stat' && argv[5] === '/dev/sdz') return { stdout: '61b0|8|f0|5\n' };
      if (argv[0] === 'stat' && argv[5] === '/') return { stdout: '41ed|0|0|66306\n' };
      if (argv[0] === 'ls') return { stdout: '' };
      // util-linux's zfs_member probe (libblkid/src/superblocks/zfs.c): TYPE, USAGE=raid, the pool name as LABEL.
      if (argv[0] === 'sh' && argv[2].includes('blkid')) return { stdout: 'DEVNAME=/dev/sdz\nLABEL=tank\nUUID=8512312309811049220\nUUID_SUB=17219364917632735233\nVERSION=5000\nTYPE=zfs_member\nUSAGE=raid\n' };
      return { code: 1 };
    });
    t.readFileIfExists = async (f: string) => ({ '/sys/dev/block/8:240/dev': '8:240\n', '/proc/mounts': '', '/proc/swaps': '' })[f] ?? null;
    const err = await new LinuxAdapter(t).checkDeviceUnused('/dev/sdz').catch((e: Error) => e.message);
    expect(err).toBe('--block-device /dev/sdz (8:240): it is a ZFS pool member (blkid: TYPE=zfs_member, label "tank"); the io-sched writer would overwrite it (headgate uses only a device without any signature)');
    expect(t.transcript.some((l) => /O_EXCL|fio|dd /.test(l))).toBe(false);
  });
});

describe('the scratch loop device io-sched uses by default', () => {
  it('is written end to end before any measurement (no unwritten extent for reads to skip), and removed with its file', async () => {
    const { CleanupStack } = await import('../../harness/lib/cleanup.js');
    const stack = new CleanupStack();
    const adapter = new LinuxAdapter(new LocalTarget());
    const file = path.join(work, 'scratch', 'scratch.img');
    let dev = '';
    try {
      dev = await adapter.scratchBlockDevice(file, 16, stack);
      expect(dev).toMatch(/^\/dev\/loop\d+$/);
      // filefrag -v flags extents that were allocated but never written ("unwritten"): fallocate
      // leaves every extent so, and reads of them never reach the disk.
      const extents = sh('filefrag -v "$1"', file);
      expect(extents).toMatch(/^\s*0:/m);
      expect(extents).not.toMatch(/unwritten/);
      expect(Number(sh('stat -c %s "$1"', file))).toBe(16 * 2 ** 20);
    } finally {
      await stack.unwind();
    }
    expect(sh('losetup -j "$1"', file)).toBe('');
    expect(() => readFileSync(file)).toThrow();
  }, 120_000);
});
