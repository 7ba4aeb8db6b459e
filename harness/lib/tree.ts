import { copyFile, chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { extract } from 'tar';

/**
 * Copying trees that came from somewhere headgate does not trust (a target's server logs, a
 * guest's artifacts) as root: only regular files and directories, never links, device nodes or
 * FIFOs, never the sender's owners, and modes reduced to 0644/0755 (no setuid, setgid or sticky
 * bit, nothing writable by others). What is left out is named in the returned list.
 */

/** The mode a copied entry gets: 0755 for directories and owner-executable files, 0644 otherwise. */
export const safeMode = (isDir: boolean, mode: number): number => (isDir || (mode & 0o100) !== 0 ? 0o755 : 0o644);

/** Top-level exclusions as shell-style patterns (only * is special), matched against entry names. */
const matcher = (exclude: string[] = []) => {
  const res = exclude.map((e) => new RegExp(`^${e.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (name: string) => res.some((re) => re.test(name));
};

/**
 * Copies src's regular files and directories into dest (created if needed), with safe modes and
 * this process's ownership; symlinks, devices, FIFOs and sockets are skipped and listed. Top-level
 * entries matching `exclude` are left out.
 */
export async function copyTreeSafely(src: string, dest: string, o: { exclude?: string[] } = {}): Promise<string[]> {
  const skipped: string[] = [];
  const excluded = matcher(o.exclude);
  const walk = async (from: string, to: string, top: boolean) => {
    await mkdir(to, { recursive: true, mode: 0o755 });
    for (const name of await readdir(from)) {
      if (top && excluded(name)) continue;
      const a = path.join(from, name);
      const b = path.join(to, name);
      const st = await lstat(a);
      if (st.isDirectory()) await walk(a, b, false);
      else if (st.isFile()) {
        await copyFile(a, b);
        await chmod(b, safeMode(false, st.mode));
      } else skipped.push(path.relative(src, a));
    }
  };
  await walk(src, dest, true);
  return skipped;
}

/** tar entry types that are regular files or directories (node-tar's names); everything else is refused. */
const KEPT = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/**
 * Extracts a tar stream into dest as a safe copy: regular files and directories only (links,
 * devices and FIFOs are skipped and listed), no owners kept (root would otherwise restore the
 * sender's), modes reduced to 0644/0755, and no path that leaves dest (node-tar refuses '..' and
 * absolute names). Resolves with the skipped entries once the stream is fully extracted.
 */
export async function extractTarSafely(stream: NodeJS.ReadableStream, dest: string): Promise<string[]> {
  await mkdir(dest, { recursive: true, mode: 0o755 });
  const skipped: string[] = [];
  const x = extract({
    cwd: dest,
    preserveOwner: false,
    strict: false,
    filter: (p, entry) => {
      const type = (entry as { type?: string }).type ?? '';
      if (!KEPT.has(type)) {
        skipped.push(`${p} (${type})`);
        return false;
      }
      const e = entry as { mode?: number };
      e.mode = safeMode(type === 'Directory', e.mode ?? 0o644);
      return true;
    },
  });
  await new Promise<void>((resolve, reject) => {
    x.on('error', reject);
    x.on('close', () => resolve());
    stream.on('error', reject);
    stream.pipe(x as unknown as NodeJS.WritableStream);
  });
  return skipped;
}
