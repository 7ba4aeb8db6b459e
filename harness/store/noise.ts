import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from '../lib/atomic.js';
import { confineAs, safeName } from '../lib/confine.js';
import { inputError } from '../model/errors.js';
import type { NoiseProfile } from '../verdict/noise.js';

/** Where a profile's noise calibration lives. */
export function noisePath(baselinesDir: string, profile: string): string {
  // The profile becomes a path part: a safe name, and the file stays inside the baselines directory.
  return confineAs('profile', baselinesDir, safeName('profile', profile), 'noise.json');
}

/** Reads a profile's noise calibration, or null when the profile was never calibrated. */
export async function loadNoise(baselinesDir: string, profile: string): Promise<NoiseProfile | null> {
  const file = noisePath(baselinesDir, profile);
  if (!existsSync(file)) return null;
  let doc: NoiseProfile;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as NoiseProfile;
  } catch (e) {
    throw inputError(`${file}: not valid JSON (${(e as Error).message}); restore it from git or run \`headgate calibrate\` again`);
  }
  if (doc.schemaVersion !== 1 || typeof doc.metrics !== 'object' || doc.metrics === null) {
    throw inputError(`${file}: schemaVersion: expected 1 with a "metrics" object; run \`headgate calibrate\` again`);
  }
  for (const [k, e] of Object.entries(doc.metrics)) {
    if (!(e.cv >= 0) || !(e.drift >= 0) || !Array.isArray(e.residuals)) throw inputError(`${file}: metrics/${k}: needs cv >= 0, drift >= 0 and residuals[]`);
  }
  return doc;
}

/** Writes a noise calibration atomically. */
export async function saveNoise(baselinesDir: string, doc: NoiseProfile): Promise<string> {
  const file = noisePath(baselinesDir, doc.profile);
  await writeJsonAtomic(file, doc);
  return file;
}

