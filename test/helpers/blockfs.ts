import path from 'node:path';
import type { BlockFs, BlockStat } from '../../harness/drivers/os/blockdev.js';

/** One entry of a fixture tree: a text file, a symlink, a block device node, or an (empty) directory. */
export type FixtureNode = { file: string; dev?: string } | { link: string } | { block: string } | { dir: true };

/**
 * An in-memory /dev, /sys and /proc for checkBlockDeviceUnused: symlinks, '.', '..' and '//' are
 * resolved as the kernel would, directories exist wherever an entry lies below them, and every
 * regular file (unless it names its own dev) and directory lives on the root filesystem's device (rootDev).
 */
export function fixtureFs(tree: Record<string, FixtureNode>, rootDev = '259:2'): BlockFs {
  const isDir = (p: string) => p === '/' || 'dir' in (tree[p] ?? {}) || Object.keys(tree).some((k) => k.startsWith(`${p}/`));
  const exists = (p: string) => p in tree || isDir(p);
  const resolve = (p: string, depth = 0): string | null => {
    if (depth > 40) return null;
    let cur = '/';
    const parts = p.split('/').filter((x) => x && x !== '.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === '..') {
        cur = path.posix.dirname(cur);
        continue;
      }
      const next = path.posix.join(cur, part);
      const node = tree[next];
      if (node && 'link' in node) {
        const target = path.posix.resolve(cur, node.link);
        const rest = parts.slice(i + 1).join('/');
        return resolve(rest ? `${target}/${rest}` : target, depth + 1);
      }
      if (!exists(next)) return null;
      cur = next;
    }
    return cur;
  };
  return {
    async readFile(p) {
      const r = resolve(p);
      const n = r === null ? undefined : tree[r];
      return n && 'file' in n ? n.file : null;
    },
    async readdir(p) {
      const r = resolve(p);
      if (r === null || !isDir(r)) return [];
      const prefix = r === '/' ? '/' : `${r}/`;
      return [...new Set(Object.keys(tree).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('/')[0]))];
    },
    async realpath(p) {
      return resolve(p);
    },
    async stat(p): Promise<BlockStat | null> {
      const r = resolve(p);
      if (r === null) return null;
      const n = tree[r];
      if (n && 'block' in n) return { type: 'block', rdev: n.block, dev: '0:5' };
      return { type: n && 'file' in n ? 'file' : 'dir', rdev: '0:0', dev: (n && 'file' in n && n.dev) || rootDev };
    },
  };
}

/** A disk in /sys: /sys/dev/block/MAJ:MIN links to its directory, with dev, partitions and holders. */
export function sysDisk(
  name: string,
  majMin: string,
  o: { partitions?: [string, string][]; holders?: string[]; partitionHolders?: Record<string, string[]>; virtual?: boolean } = {},
): Record<string, FixtureNode> {
  const dir = o.virtual ? `/sys/devices/virtual/block/${name}` : `/sys/devices/pci0000:00/0000:00:04.0/block/${name}`;
  const out: Record<string, FixtureNode> = {
    [`/dev/${name}`]: { block: majMin },
    [`/sys/dev/block/${majMin}`]: { link: `../../${dir.slice('/sys/'.length)}` },
    [`${dir}/dev`]: { file: `${majMin}\n` },
    [`${dir}/queue/scheduler`]: { file: '[mq-deadline] none\n' },
    [`${dir}/holders`]: { dir: true },
  };
  for (const h of o.holders ?? []) out[`${dir}/holders/${h}`] = { link: `../../${h}` };
  for (const [p, mm] of o.partitions ?? []) {
    out[`/dev/${p}`] = { block: mm };
    out[`/sys/dev/block/${mm}`] = { link: `../../${dir.slice('/sys/'.length)}/${p}` };
    out[`${dir}/${p}/dev`] = { file: `${mm}\n` };
    out[`${dir}/${p}/partition`] = { file: `${p.replace(/^\D+\d*\D*/, '')}\n` };
    out[`${dir}/${p}/holders`] = { dir: true };
    for (const h of o.partitionHolders?.[p] ?? []) out[`${dir}/${p}/holders/${h}`] = { link: `../../../${h}` };
  }
  return out;
}
