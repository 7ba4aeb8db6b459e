import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { infraError } from '../model/errors.js';

/** errno codes that mean "the disk (or a quota, or a file-size limit) has no room for this write". */
const NO_ROOM: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large (file-size limit)',
};

/**
 * A failed write as the error the user should see: no room (ENOSPC, EDQUOT, EFBIG) is an
 * infrastructure error (exit 3) naming the file, not an internal error; anything else is returned
 * unchanged. Writers here never replace a file half-way, so the previous version is still there.
 */
export function writeFailure(file: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && NO_ROOM[code]) {
    return infraError(`${file}: not written: ${NO_ROOM[code]} (${code}); the previous version, if any, is unchanged`, 'free space on that filesystem (or raise the quota / file-size limit) and run again', e);
  }
  return e;
}

/**
 * Keeps a file-size limit (ulimit -f, RLIMIT_FSIZE) an error instead of a death: node ignores
 * SIGXFSZ, so a write past the limit fails with EFBIG and ends as exit 3 naming the file. But a
 * library using signal-exit (write-file-atomic does) re-raises SIGXFSZ with its default action
 * while its handler is installed (the process dies with 153, no restores run) unless some other
 * listener exists. The CLI calls this once; it is idempotent.
 */
export function keepFileSizeLimitAnError(): void {
  if (!process.listeners('SIGXFSZ').includes(ignoreSignal)) process.on('SIGXFSZ', ignoreSignal);
}
function ignoreSignal(): void {}

/** fsyncs a file or a directory (for a directory: so what was created, renamed or linked in it survives a crash). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a directory, so a file created, renamed or linked in it survives a crash or power loss. */
export const fsyncDir = fsyncPath;

/**
 * Writes data to a new hidden temp file beside `file` (`.NAME.<random>.tmp`, never read as NAME),
 * fsyncs it and the directory, and returns its path: the caller renames it into place. On failure
 * the temp file is removed and no-room errors are mapped (writeFailure).
 */
export async function writeTempDurably(file: string, data: string | Buffer): Promise<string> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // The mode and owner of the file it replaces (as write-file-atomic kept them); a new file gets 0666 & ~umask.
    const old = await stat(file).catch(() => null);
    const fh = await open(tmp, 'wx', 0o666);
    try {
      if (old) {
        await fh.chmod(old.mode & 0o7777);
        if (process.getuid?.() === 0) await fh.chown(old.uid, old.gid);
      }
      // FileHandle.writeFile writes until every byte is out: a short write (full disk, file-size
      // limit) is retried and its error thrown, never taken for the whole file.
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(dir);
    return tmp;
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeFailure(file, e);
  }
}

/**
 * Writes a file atomically, creating parent directories: every byte to a temp file beside it,
 * fsync, rename over the file, fsync the directory. Readers and crashes see the old file or the
 * new one, never part of one; a full disk (ENOSPC, EDQUOT, EFBIG) is exit 3 naming the file, with
 * the old file untouched. (write-file-atomic is not used: it issues one write() and ignores a
 * short count, so on a nearly full disk it renames a truncated file into place.)
 */
export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = await writeTempDurably(file, data);
  try {
    await rename(tmp, file);
    await fsyncDir(path.dirname(file));
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeFailure(file, e);
  }
}

/** Writes pretty JSON atomically; readers never see a half-written file. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
