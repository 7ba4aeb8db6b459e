import writeFileAtomic from 'write-file-atomic';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Writes a file atomically (temp file + fsync + rename), creating parent directories. */
export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, data, { fsync: true });
}

/** Writes pretty JSON atomically; readers never see a half-written file. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
