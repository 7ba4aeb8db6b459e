import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Progress } from '../core/progress.js';
import type { Target } from './target.js';

/**
 * Makes the target's copy of an object set match the local one: skipped when the target's
 * manifest (with every object's SHA-256) is identical, uploaded whole otherwise.
 */
export async function syncObjects(target: Target, localDir: string, targetDir: string, progress: Progress): Promise<void> {
  const local = await readFile(path.join(localDir, 'manifest.json'), 'utf8');
  const there = await target.readFileIfExists(path.posix.join(targetDir, 'manifest.json'));
  if (there === local) return;
  const t0 = Date.now();
  // Uploaded beside the set and renamed into place: an interrupted upload never looks complete.
  const partial = `${targetDir}.partial`;
  await target.exec(['rm', '-rf', partial]);
  await target.upload(localDir, partial);
  await target.exec(['rm', '-rf', targetDir]);
  await target.exec(['mv', partial, targetDir]);
  progress.log(`uploaded the object set to ${target.name}:${targetDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
