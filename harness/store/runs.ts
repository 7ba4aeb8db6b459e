import { existsSync } from 'node:fs';
import path from 'node:path';
import { inputError } from '../model/errors.js';
import type { RunRecord } from '../model/types.js';
import { loadDoc } from '../model/validate.js';

/** Finds a run by directory, run.json path, or run id inside the reports directory. */
export function resolveRunPath(spec: string, reportsDir = 'reports'): string {
  const candidates = [spec, path.join(spec, 'run.json'), path.join(reportsDir, spec, 'run.json')];
  const file = candidates.find((c) => c.endsWith('.json') && existsSync(c));
  if (!file) throw inputError(`${spec}: no run found (looked for ${candidates.filter((c) => c.endsWith('.json')).join(', ')})`);
  return file;
}

/** Loads and validates a run record; returns it with its directory. */
export async function loadRunRecord(spec: string, reportsDir?: string): Promise<{ run: RunRecord; runDir: string; file: string }> {
  const file = resolveRunPath(spec, reportsDir);
  const run = await loadDoc<RunRecord>('run', file);
  return { run, runDir: path.dirname(path.resolve(file)), file };
}
