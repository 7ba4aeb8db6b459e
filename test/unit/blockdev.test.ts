import { describe, expect, it } from 'vitest';
import { checkBlockDeviceUnused, devMajorMinor, targetBlockFs } from '../../harness/drivers/os/blockdev.js';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { fixtureFs, sysDisk, type FixtureNode } from '../helpers/blockfs.js';

// A machine: root on nvme0n1p2 (259:2), /boot on nvme0n1p1, loop0..loop3, a second disk vdb.
const ROOT_MOUNTS = '/dev/nvme0n1p2 / ext4 rw,relatime 0 0\n/dev/nvme0n1p1 /boot vfat rw 0 0\nproc /proc proc rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n';
const ROOT_MOUNTINFO = '22 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw\n23 22 259:1 / /boot rw - vfat /dev/nvme0n1p1 rw\n24 22 0:21 / /proc rw - proc proc rw\n';
const SWAPS_NONE = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

function machine(extra: Record<string, FixtureNode> = {}, files: { mounts?: string; mountinfo?: string; swaps?: string } = {}) {
  return fixtureFs({
    ...sysDisk('nvme0n1', '259:0', { partitions: [['nvme0n1p1', '259:1'], ['nvme0n1p2', '259:2']] }),
    ...sysDisk('loop0', '7:0', { virtual: true }),
    ...sysDisk('loop1', '7:1', { virtual: true }),
    ...sysDisk('loop2', '7:2', { virtual: true, partitions: [['loop2p1', '259:8']] }),
    ...sysDisk('vdb', '254:16', { partitions: [['vdb1', '254:17']] }),
    '/dev/disk/by-id/virtio-scratch': { link: '../../vdb' },
    '/proc/mounts': { file: files.mounts ?? ROOT_MOUNTS },
    '/proc/self/mountinfo': { file: files.mountinfo ?? ROOT_MOUNTINFO },
    '/proc/swaps': { file: files.swaps ?? SWAPS_NONE },
    ...extra,
  });
}

async function refusal(p: Promise<unknown>): Promise<HeadgateError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HeadgateError);
  expect((e as HeadgateError).exitCode).toBe(2);
  return e as HeadgateError;
}

describe('--block-device: resolved to major:minor, refused when it or anything on it is in use', () => {
  it('a loop device with a mounted ext4 is refused however it is spelled (/dev//loop0, /dev/./loop0, a link)', async () => {
    const fs = machine(
      { '/dev/disk/by-label/lab': { link: '../../loop0' } },
      { mounts: `${ROOT_MOUNTS}/dev/loop0 /mnt/lab ext4 rw 0 0\n`, mountinfo: `${ROOT_MOUNTINFO}40 22 7:0 / /mnt/lab rw - ext4 /dev/loop0 rw\n` },
    );
    for (const spelled of ['/dev/loop0', '/dev//loop0', '/dev/./loop0', '/dev/../dev/loop0', '/dev/disk/by-label/lab']) {
      const e = await refusal(checkBlockDeviceUnused(spelled, fs));
      expect(e.message.split('\n')[0]).toMatch(new RegExp(`^--block-device ${spelled.replace(/[.]/g, '\\.')} .*7:0.*mounted on /mnt/lab`));
    }
  });

  it('a mount through /dev/mapper or /dev/disk/by-uuid is matched by major:minor, not by name', async () => {
    const fs = machine(
      { '/dev/disk/by-uuid/1234-abcd': { link: '../../loop1' } },
      { mounts: `${ROOT_MOUNTS}/dev/disk/by-uuid/1234-abcd /srv ext4 rw 0 0\n`, mountinfo: ROOT_MOUNTINFO },
    );
    expect((await refusal(checkBlockDeviceUnused('/dev/loop1', fs))).message).toMatch(/loop1 is mounted on \/srv \(as \/dev\/disk\/by-uuid\/1234-abcd\)/);
  });

  it("a partition's mount refuses the whole disk", async () => {
    const fs = machine({}, { mounts: `${ROOT_MOUNTS}/dev/vdb1 /data xfs rw 0 0\n` });
    expect((await refusal(checkBlockDeviceUnused('/dev/disk/by-id/virtio-scratch', fs))).message).toMatch(/its partition vdb1 is mounted on \/data/);
  });

  it('the disk holding the root filesystem is refused, even when only mountinfo knows it (/dev/root)', async () => {
    expect((await refusal(checkBlockDeviceUnused('/dev/nvme0n1', machine()))).message).toMatch(/its partition nvme0n1p2 holds the root filesystem/);
    const fs = machine({}, { mounts: '/dev/root / ext4 rw 0 0\n', mountinfo: '22 1 7:1 / /mnt rw - ext4 /dev/root rw\n' });
    expect((await refusal(checkBlockDeviceUnused('/dev/loop1', fs))).message).toMatch(/loop1 is mounted on \/mnt/);
  });

  it('a device-mapper (LVM, crypt) or md holder refuses it, on the disk or on a partition', async () => {
    const dm = machine({ ...sysDisk('loop0', '7:0', { virtual: true, holders: ['dm-0'] }) });
    expect((await refusal(checkBlockDeviceUnused('/dev/loop0', dm))).message).toMatch(/loop0 has dm-0 stacked on it/);
    const md = machine({ ...sysDisk('loop2', '7:2', { virtual: true, partitions: [['loop2p1', '259:8']], partitionHolders: { loop2p1: ['md127'] } }) });
    expect((await refusal(checkBlockDeviceUnused('/dev/loop2', md))).message).toMatch(/its partition loop2p1 has md127 stacked on it/);
  });

  it('swap refuses it: a swap partition by device number, a swap file by the filesystem it lives on', async () => {
    const fs = machine({}, { swaps: `${SWAPS_NONE}/dev/vdb1                               partition\t1048572\t\t0\t\t-2\n` });
    expect((await refusal(checkBlockDeviceUnused('/dev/vdb', fs))).message).toMatch(/its partition vdb1 is in use as swap/);
    // A swap file on a filesystem of loop1 whose mount this process cannot see: swap alone refuses it.
    const file = machine(
      { '/srv/swapfile': { file: '', dev: '7:1' } },
      { swaps: `${SWAPS_NONE}/srv/swapfile                           file\t1048572\t\t0\t\t-2\n`, mounts: 'proc /proc proc rw 0 0\n', mountinfo: '' },
    );
    expect((await refusal(checkBlockDeviceUnused('/dev/loop1', file))).message).toMatch(/loop1 is in use as swap \(\/srv\/swapfile\)/);
  });

  it('an unused device passes and comes back as its real path, the one fio and the scheduler knob use', async () => {
    expect(await checkBlockDeviceUnused('/dev//loop1', machine())).toEqual({ device: '/dev/loop1', majMin: '7:1' });
    expect(await checkBlockDeviceUnused('/dev/disk/by-id/virtio-scratch', machine())).toEqual({ device: '/dev/vdb', majMin: '254:16' });
  });

  it('refuses what is not a block device, missing devices, and devices sysfs does not know', async () => {
    const fs = machine({ '/dev/null': { file: '' }, '/dev/ghost': { block: '240:0' } });
    expect((await refusal(checkBlockDeviceUnused('/dev/null', fs))).message).toMatch(/^--block-device \/dev\/null: \/dev\/null is not a block device/);
    expect((await refusal(checkBlockDeviceUnused('/dev/nope', fs))).message).toMatch(/^--block-device \/dev\/nope: no such device/);
    expect((await refusal(checkBlockDeviceUnused('/dev/ghost', fs))).message).toMatch(/not in \/sys\/dev\/block/);
  });

  it('decodes dev_t as glibc encodes it (Node stat, stat -c %d)', () => {
    expect(devMajorMinor((259 << 8) | 2)).toBe('259:2');
    expect(devMajorMinor(0x700)).toBe('7:0');
    expect(devMajorMinor((8n << 8n) | 1n)).toBe('8:1');
    // minor 256 and above use the high bits
    expect(devMajorMinor(((300n & ~0xffn) << 12n) | (300n & 0xffn) | (7n << 8n))).toBe('7:300');
  });

  it('on a target: reads through readlink -f, stat -L (raw mode, hex major/minor) and ls, never by name', async () => {
    const t = new FakeTarget((argv) => {
      if (argv[0] === 'readlink') return { stdout: `${argv[3].replace(/\/+/g, '/')}\n` };
      if (argv[0] === 'stat' && argv[5] === '/dev/loop0') return { stdout: '61b0|7|0|5\n' };
      if (argv[0] === 'stat' && argv[5] === '/') return { stdout: '41ed|0|0|66306\n' };
      if (argv[0] === 'ls') return { stdout: '' };
      // No signature (blkid -p exit 2), and the exclusive open succeeds.
      if (argv[0] === 'sh' && argv[2].includes('blkid')) return { code: 2 };
      if (argv[0] === 'sh' && argv[2].includes('O_EXCL')) return { code: 0 };
      return { code: 1 };
    });
    const files: Record<string, string> = { '/sys/dev/block/7:0/dev': '7:0\n', '/proc/mounts': '', '/proc/swaps': '' };
    t.readFileIfExists = async (f: string) => files[f] ?? null;
    const fs = targetBlockFs(t);
    expect(await fs.stat('/dev/loop0')).toEqual({ type: 'block', rdev: '7:0', dev: '0:5' });
    expect(await fs.stat('/')).toEqual({ type: 'dir', rdev: '0:0', dev: '259:2' });
    expect(await new LinuxAdapter(t).checkDeviceUnused('/dev//loop0')).toBe('/dev/loop0');
    expect(t.transcript.some((l) => /^(dd|fio|wipefs|mkfs)/.test(l))).toBe(false);
  });
});
