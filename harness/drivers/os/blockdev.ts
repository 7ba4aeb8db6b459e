import path from 'node:path';
import { inputError } from '../../model/errors.js';
import type { Target } from '../targets/target.js';

/** What a stat of a path (symlinks followed) tells about it: its type, its device number if a device node (rdev), the device of its filesystem (dev), both as "major:minor". */
export interface BlockStat {
  type: 'block' | 'char' | 'file' | 'dir' | 'other';
  rdev: string;
  dev: string;
}

/** The reads the in-use check needs, injected so fixture trees can stand in for /sys, /proc and /dev. */
export interface BlockFs {
  /** The file's text, or null when it does not exist. */
  readFile(p: string): Promise<string | null>;
  /** Entry names of a directory; [] when it does not exist. */
  readdir(p: string): Promise<string[]>;
  /** The path with every symlink, '.', '..' and '//' resolved; null when it does not exist. */
  realpath(p: string): Promise<string | null>;
  /** stat (following symlinks); null when it does not exist. */
  stat(p: string): Promise<BlockStat | null>;
}

/** Decodes a glibc dev_t (st_dev, st_rdev as Node and `stat -c %d` give them) into "major:minor". */
export function devMajorMinor(dev: number | bigint): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn & 0xffffffffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn);
  return `${major}:${minor}`;
}

/** /proc/mounts and /proc/swaps escape space, tab, newline and backslash as \ooo. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

interface Member {
  name: string;
  majMin: string;
  sysDir: string;
}

/**
 * Refuses (exit 2, naming the device and why) a block device that is in use: it, any partition of
 * it, or anything stacked on it. The device is resolved first (symlinks, `/dev//loop0`,
 * `/dev/./vda`) to its major:minor, and everything is compared by major:minor, never by name:
 * - it or a partition holds the root filesystem or is mounted (/proc/mounts sources resolved
 *   through /dev/mapper and /dev/disk/by-* links, and /proc/self/mountinfo's own major:minor);
 * - it or a partition is swap (/proc/swaps), or holds a swap file;
 * - it or a partition has holders (/sys/dev/block/MAJ:MIN/holders: device-mapper, md, LVM).
 * Returns the device's real path (what fio and the scheduler knob must use) and its major:minor.
 */
export async function checkBlockDeviceUnused(device: string, fs: BlockFs, flag = '--block-device'): Promise<{ device: string; majMin: string }> {
  const what = `${flag} ${device}`;
  const real = await fs.realpath(device);
  if (!real) throw inputError(`${what}: no such device`);
  const st = await fs.stat(real);
  if (!st || st.type !== 'block') throw inputError(`${what}: ${real} is not a block device`);
  const shownDev = real === device ? `${st.rdev}` : `${real}, ${st.rdev}`;
  const sysDir = await fs.realpath(`/sys/dev/block/${st.rdev}`);
  if (!sysDir || (await fs.readFile(path.posix.join(sysDir, 'dev')))?.trim() !== st.rdev) {
    throw inputError(`${what} (${shownDev}): not in /sys/dev/block, so whether it is in use cannot be checked; refusing it`);
  }

  // The device and its partitions (sysfs subdirectories named after it that have a `partition` file).
  const disk = path.posix.basename(sysDir);
  const members: Member[] = [{ name: disk, majMin: st.rdev, sysDir }];
  for (const child of await fs.readdir(sysDir)) {
    if (!child.startsWith(disk) || child === disk) continue;
    const dir = path.posix.join(sysDir, child);
    if ((await fs.readFile(path.posix.join(dir, 'partition'))) === null) continue;
    const mm = (await fs.readFile(path.posix.join(dir, 'dev')))?.trim();
    if (mm && /^\d+:\d+$/.test(mm)) members.push({ name: child, majMin: mm, sysDir: dir });
  }
  const byMajMin = new Map(members.map((m) => [m.majMin, m]));
  const whose = (m: Member) => (m.name === disk ? disk : `its partition ${m.name}`);
  const refuse = (why: string) => inputError(`${what} (${shownDev}): ${why}; the io-sched writer would overwrite it`);

  // The root filesystem: the device / lives on.
  const root = await fs.stat('/');
  const rootMember = root && byMajMin.get(root.dev);
  if (rootMember) throw refuse(`${whose(rootMember)} holds the root filesystem`);

  // Mounted: by the mount source's device number (links resolved), and by mountinfo's own major:minor.
  for (const line of ((await fs.readFile('/proc/mounts')) ?? '').split('\n')) {
    const [src, mnt] = line.split(' ');
    if (!src?.startsWith('/') || !mnt) continue;
    const s = await fs.stat(unescape(src));
    const m = s?.type === 'block' ? byMajMin.get(s.rdev) : undefined;
    if (m) throw refuse(`${whose(m)} is mounted on ${unescape(mnt)} (as ${unescape(src)})`);
  }
  for (const line of ((await fs.readFile('/proc/self/mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    const m = f[2] ? byMajMin.get(f[2]) : undefined;
    if (m) throw refuse(`${whose(m)} is mounted on ${unescape(f[4] ?? '?')}`);
  }

  // Swap: a swap partition by its device number, a swap file by the device of its filesystem.
  for (const line of ((await fs.readFile('/proc/swaps')) ?? '').split('\n').slice(1)) {
    const name = line.split(/\s+/)[0];
    if (!name) continue;
    const s = await fs.stat(unescape(name));
    const m = s && byMajMin.get(s.type === 'block' ? s.rdev : s.dev);
    if (m) throw refuse(`${whose(m)} is in use as swap (${unescape(name)})`);
  }

  // Stacked on it: device-mapper (LVM, crypt), md RAID, bcache... show up as holders.
  for (const m of members) {
    const holders = await fs.readdir(path.posix.join(m.sysDir, 'holders'));
    if (holders.length) throw refuse(`${whose(m)} has ${holders.join(', ')} stacked on it (device-mapper, md or LVM holders)`);
  }
  return { device: real, majMin: st.rdev };
}

/** The file type bits of st_mode (S_IFMT) as BlockStat types. */
const STAT_TYPES: Record<number, BlockStat['type']> = { 0o060000: 'block', 0o020000: 'char', 0o100000: 'file', 0o040000: 'dir' };

/** The reads of checkBlockDeviceUnused done on a Linux target (GNU coreutils: readlink, stat, ls). */
export function targetBlockFs(t: Target): BlockFs {
  return {
    readFile: (p) => t.readFileIfExists(p),
    async readdir(p) {
      const r = await t.exec(['ls', '-1A', '--', p], { allowFail: true });
      return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
    },
    async realpath(p) {
      // -f, not -e (BusyBox has no -e): a missing path is then told apart by stat and sysfs's dev file.
      const r = await t.exec(['readlink', '-f', '--', p], { allowFail: true });
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
    },
    async stat(p) {
      // Raw mode (%f), device major/minor in hex (%t %T), st_dev (%d): no locale-dependent words.
      const r = await t.exec(['stat', '-L', '-c', '%f|%t|%T|%d', '--', p], { allowFail: true });
      const [mode, maj, min, dev] = r.stdout.trim().split('|');
      if (r.code !== 0 || !/^\d+$/.test(dev ?? '')) return null;
      return { type: STAT_TYPES[parseInt(mode, 16) & 0o170000] ?? 'other', rdev: `${parseInt(maj, 16)}:${parseInt(min, 16)}`, dev: devMajorMinor(BigInt(dev)) };
    },
  };
}
