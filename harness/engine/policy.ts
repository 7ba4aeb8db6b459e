import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { UndoPolicy } from '../drivers/journal.js';
import { loadDoc } from '../model/validate.js';
import type { OsFamily, SuiteManifest, VariantDef } from '../model/types.js';
import { suitesDir, SUITE_ID } from './discovery.js';

const FAMILIES: OsFamily[] = ['linux', 'freebsd'];

/** The knob names a manifest declares per OS: its variants' knobs and its setsKnobs. */
export function manifestKnobs(m: Pick<SuiteManifest, 'variants' | 'setsKnobs'>): Record<OsFamily, string[]> {
  const out: Record<OsFamily, string[]> = { linux: [], freebsd: [] };
  for (const os of FAMILIES) {
    const names = new Set<string>(m.setsKnobs?.[os] ?? []);
    for (const v of m.variants as VariantDef[]) for (const k of Object.keys(v.knobs?.[os] ?? {})) names.add(k);
    out[os] = [...names];
  }
  return out;
}

let cached: Promise<UndoPolicy> | undefined;

/**
 * What a restore journal may write back: every knob the built-in suites (the repository's suites/)
 * declare (variant knobs and setsKnobs), read from their manifests only (no suite code runs).
 * Knobs of a run's private suites (HEADGATE_SUITES_DIR) or its user (ab --b-knob) pass through
 * that run's own declaration in the journal, so a restore run without the same environment (after
 * a SIGKILL, from another shell) still writes them back.
 */
export function undoPolicy(): Promise<UndoPolicy> {
  cached ??= (async () => {
    const knobs: Record<OsFamily, string[]> = { linux: [], freebsd: [] };
    for (const dir of [suitesDir()]) {
      if (!existsSync(dir)) continue;
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const file = path.join(dir, e.name, 'suite.json');
        if (!e.isDirectory() || !SUITE_ID.test(e.name) || !existsSync(file)) continue;
        const k = manifestKnobs(await loadDoc<SuiteManifest>('suite', file));
        for (const os of FAMILIES) knobs[os].push(...k[os]);
      }
    }
    return { knobs };
  })();
  return cached;
}
