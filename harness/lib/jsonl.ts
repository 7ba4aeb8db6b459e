import { existsSync } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { inputError } from '../model/errors.js';
import { fsyncPath, writeFailure } from './atomic.js';

// Append-only JSON-lines logs (rollout audit, bisect steps). One append is one line, fsynced
// before it returns. A crash in the middle of an append leaves a torn last line: readers skip it
// and say so, and the next writer cuts it off before appending, so it is never glued to a whole line.

/** The complete entries of a JSON-lines file; a torn last line is left out and returned. A bad line before it is exit 2 naming file:line. */
export async function readJsonLines<T>(file: string): Promise<{ entries: T[]; torn?: string }> {
  const text = existsSync(file) ? await readFile(file, 'utf8') : '';
  const lines = text.split('\n');
  // Everything after the last newline is an append that never finished (empty when the file is whole).
  const tail = lines.pop() ?? '';
  const entries: T[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      entries.push(JSON.parse(l) as T);
    } catch (e) {
      throw inputError(`${file}:${i + 1}: unreadable line (${(e as Error).message}); only a torn last line is skipped`);
    }
  });
  return tail ? { entries, torn: tail } : { entries };
}

/**
 * Cuts off a torn last line (it never finished, so the action it announced never started) and
 * returns it, so the caller can say so; a whole file is left untouched and gives null.
 */
export async function repairJsonLines(file: string): Promise<string | null> {
  if (!existsSync(file)) return null;
  // The common case (a whole file) costs one byte read.
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return null;
    const last = Buffer.alloc(1);
    await fh.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return null;
  } finally {
    await fh.close();
  }
  const buf = await readFile(file);
  const keep = buf.lastIndexOf(0x0a) + 1;
  const torn = buf.subarray(keep).toString('utf8');
  await truncate(file, keep);
  await fsyncPath(file);
  return torn;
}

/** Appends one JSON line and fsyncs it; a torn last line left by a crash is cut off first (and returned). */
export async function appendJsonLine(file: string, value: unknown): Promise<{ repaired: string | null }> {
  const repaired = await repairJsonLines(file);
  const fh = await open(file, 'a');
  try {
    await fh.write(JSON.stringify(value) + '\n');
    await fh.sync();
  } catch (e) {
    throw writeFailure(file, e);
  } finally {
    await fh.close();
  }
  return { repaired };
}
