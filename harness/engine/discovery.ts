import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadDoc } from '../model/validate.js';
import { inputError } from '../model/errors.js';
import { manifestMetricProblems } from '../probes/registry.js';
import type { Suite, SuiteModule } from './suite.js';
import type { SuiteManifest } from '../model/types.js';

/** What a suite id (and so its folder name) may look like: it becomes part of paths on the target. */
export const SUITE_ID = /^[a-z0-9][a-z0-9-]*$/;

/** The repository's own suites/ folder. */
export function suitesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../suites');
}

/**
 * The folders suites are loaded from: the repository's suites/, then each folder of
 * HEADGATE_SUITES_DIR (colon-separated). Private suites kept outside the repository add to the
 * built-in ones instead of hiding them.
 */
export function suiteDirs(env: Record<string, string | undefined> = process.env): string[] {
  const extra = (env.HEADGATE_SUITES_DIR ?? '').split(path.delimiter).filter(Boolean).map((d) => path.resolve(d));
  return [...new Set([suitesDir(), ...extra])];
}

/** Not suites by convention: hidden folders and installed packages beside private suites. */
const IGNORED = (name: string) => name.startsWith('.') || name === 'node_modules';

/**
 * Loads every <dir>/<id>/ folder that has a suite.json: adding a suite is adding a folder.
 * A broken manifest or module, a metric no declared probe produces, a folder name that is not a
 * suite id, or one suite id in two folders is an input error naming the file.
 */
export async function discoverSuites(dirs: string | string[] = suiteDirs()): Promise<Suite[]> {
  const suites: Suite[] = [];
  const seen = new Map<string, string>();
  for (const dir of typeof dirs === 'string' ? [dirs] : dirs) {
    if (!existsSync(dir)) throw inputError(`${dir}: suites folder not found`);
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !IGNORED(e.name)).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const folder = path.join(dir, e.name);
      // Checked before the name is used in any path: it names server directories and artifacts later.
      if (!SUITE_ID.test(e.name)) throw inputError(`${folder}: a suite folder name must be a suite id (${SUITE_ID.source})`);
      const manifestFile = path.join(folder, 'suite.json');
      if (!existsSync(manifestFile)) continue;
      const other = seen.get(e.name);
      if (other) throw inputError(`suite ${e.name} is defined twice: ${other} and ${folder} (HEADGATE_SUITES_DIR adds to the built-in suites; rename one)`);
      seen.set(e.name, folder);
      suites.push(await loadSuite(folder, e.name));
    }
  }
  return suites;
}

/** One suite folder: its manifest validated and checked against its probes (before any of its code runs), then its module. */
async function loadSuite(folder: string, name: string): Promise<Suite> {
  const manifestFile = path.join(folder, 'suite.json');
  const manifest = await loadDoc<SuiteManifest>('suite', manifestFile);
  if (manifest.id !== name) throw inputError(`${manifestFile}: /id "${manifest.id}" must match its folder name "${name}"`);
  const ids = manifest.variants.map((v) => v.id);
  const dup = ids.find((v, i) => ids.indexOf(v) !== i);
  if (dup) throw inputError(`${manifestFile}: /variants: duplicate variant id "${dup}"`);
  const problems = manifestMetricProblems(manifest);
  if (problems.length) throw inputError(`${manifestFile}: ${problems.join('; ')}`);
  const moduleFile = path.join(folder, 'index.ts');
  if (!existsSync(moduleFile)) throw inputError(`${folder}: suite has suite.json but no index.ts`);
  let mod: { default?: SuiteModule };
  try {
    mod = (await import(pathToFileURL(moduleFile).href)) as { default?: SuiteModule };
  } catch (err) {
    throw inputError(`${moduleFile}: cannot load suite: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!mod.default || typeof mod.default.prepare !== 'function') throw inputError(`${moduleFile}: default export must be defineSuite({ prepare })`);
  return { ...mod.default, manifest };
}

/** Picks suites by id (all if none given); malformed or unknown ids are input errors that list the known ones. */
export function selectSuites(all: Suite[], ids: string[]): Suite[] {
  if (ids.length === 0) return all;
  return ids.map((id) => {
    if (!SUITE_ID.test(id)) throw inputError(`--suite ${JSON.stringify(id)}: not a suite id (${SUITE_ID.source})`);
    const s = all.find((x) => x.manifest.id === id);
    if (!s) throw inputError(`--suite ${id}: unknown suite (known: ${all.map((x) => x.manifest.id).join(', ')})`);
    return s;
  });
}
