import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadDoc } from '../model/validate.js';
import { inputError } from '../model/errors.js';
import type { Suite, SuiteModule } from './suite.js';
import type { SuiteManifest } from '../model/types.js';

/** The repository's suites/ folder (HEADGATE_SUITES_DIR overrides it, e.g. for tests). */
export function suitesDir(): string {
  return process.env.HEADGATE_SUITES_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../suites');
}

/**
 * Loads every suites/<id>/ folder that has a suite.json: adding a suite is adding a folder.
 * A broken manifest or module is an input error naming the file.
 */
export async function discoverSuites(dir = suitesDir()): Promise<Suite[]> {
  if (!existsSync(dir)) throw inputError(`${dir}: suites folder not found`);
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name));
  const suites: Suite[] = [];
  for (const e of entries) {
    const manifestFile = path.join(dir, e.name, 'suite.json');
    if (!existsSync(manifestFile)) continue;
    const manifest = await loadDoc<SuiteManifest>('suite', manifestFile);
    if (manifest.id !== e.name) throw inputError(`${manifestFile}: /id "${manifest.id}" must match its folder name "${e.name}"`);
    const ids = manifest.variants.map((v) => v.id);
    const dup = ids.find((v, i) => ids.indexOf(v) !== i);
    if (dup) throw inputError(`${manifestFile}: /variants: duplicate variant id "${dup}"`);
    const moduleFile = path.join(dir, e.name, 'index.ts');
    if (!existsSync(moduleFile)) throw inputError(`${path.join(dir, e.name)}: suite has suite.json but no index.ts`);
    let mod: { default?: SuiteModule };
    try {
      mod = (await import(pathToFileURL(moduleFile).href)) as { default?: SuiteModule };
    } catch (err) {
      throw inputError(`${moduleFile}: cannot load suite: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!mod.default || typeof mod.default.prepare !== 'function') throw inputError(`${moduleFile}: default export must be defineSuite({ prepare })`);
    suites.push({ ...mod.default, manifest });
  }
  return suites;
}

/** Picks suites by id (all if none given); unknown ids are input errors that list the known ones. */
export function selectSuites(all: Suite[], ids: string[]): Suite[] {
  if (ids.length === 0) return all;
  return ids.map((id) => {
    const s = all.find((x) => x.manifest.id === id);
    if (!s) throw inputError(`--suite ${id}: unknown suite (known: ${all.map((x) => x.manifest.id).join(', ')})`);
    return s;
  });
}
