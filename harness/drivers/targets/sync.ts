import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Progress } from '../../lib/progress.js';
import type { Target } from './target.js';

/**
 * Makes the target's copy of an object set match the local one: skipped when the target's
 * manifest (with every object's SHA-256) is identical, uploaded whole otherwise.
 */
export async function syncObjects(target: Target, localDir: string, targetDir: string, progress: Progress, exclude: string[] = []): Promise<void> {
  const local = await readFile(path.join(localDir, 'manifest.json'), 'utf8');
  const there = await target.readFileIfExists(path.posix.join(targetDir, 'manifest.json'));
  if (there === local) return;
  const t0 = Date.now();
  // Uploaded beside the set and renamed into place: an interrupted upload never looks complete.
  const partial = `${targetDir}.partial`;
  await target.exec(['rm', '-rf', partial]);
  await target.upload(localDir, partial, { exclude });
  // Nested sets (the cold set lives inside the hot set's directory) survive a re-upload of the outer one.
  await target.exec(['sh', '-c', 'for d in "$1"/*/; do [ -d "$d" ] && [ ! -e "$2/$(basename "$d")" ] && mv "$d" "$2/"; done; rm -rf "$1" && mv "$2" "$1"', 'sh', targetDir, partial]);
  progress.log(`uploaded the object set to ${target.name}:${targetDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
