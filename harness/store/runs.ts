import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { confineAs, safeName } from '../lib/confine.js';
import { inputError } from '../model/errors.js';
import type { RunRecord } from '../model/types.js';
import { loadDoc } from '../model/validate.js';

/** A regular file (symlinks followed)? */
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/**
 * Finds a run's run.json: a path (a directory holding run.json, or its run.json), or a run id,
 * which must be a safe name and is looked up inside the reports directory (never outside it).
 * Anything else, /etc/passwd.json or ../../x included, is an input error naming the value.
 */
export function resolveRunPath(spec: string, reportsDir = 'reports'): string {
  if (spec.includes('\0')) throw inputError(`run ${JSON.stringify(spec)}: not a run id or run directory`);
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  if (isDir) {
    const file = path.join(spec, 'run.json');
    if (!isFile(file)) throw inputError(`run ${spec}: directory holds no run.json`);
    return file;
  }
  if (path.basename(spec) === 'run.json' && isFile(spec)) return spec;
  const looksLikePath = spec.includes('/') || spec.includes(path.sep) || spec.startsWith('.') || spec.endsWith('.json');
  if (looksLikePath) throw inputError(`run ${spec}: no run found (a path must be a run directory holding run.json)`);
  const id = safeName('run id', spec);
  const file = confineAs('run id', reportsDir, id, 'run.json');
  if (!isFile(file)) throw inputError(`run id ${id}: no run found (looked for ${file})`);
  return file;
}

/**
 * Checks the names and paths a run.json holds before any becomes a path: the run id, profile and
 * suite ids are safe names, and every artifact and the console log stay inside the run directory
 * (symlinks included). A hostile run.json is exit 2 naming the file and key, and nothing is read.
 */
export function checkRunRecordPaths(run: RunRecord, runDir: string, file = path.join(runDir, 'run.json')): void {
  safeName(`${file}: runId`, run.runId);
  safeName(`${file}: profile`, run.profile);
  if (run.target.console !== undefined) confineAs(`${file}: target.console`, runDir, run.target.console);
  for (const [i, s] of run.suites.entries()) {
    safeName(`${file}: suites[${i}].id`, s.id);
    for (const [j, v] of s.variants.entries()) {
      for (const [name, rel] of Object.entries(v.artifacts ?? {})) confineAs(`${file}: suites[${i}].variants[${j}].artifacts[${JSON.stringify(name)}]`, runDir, rel);
    }
  }
}

/** Loads and validates a run record (schema, then its names and paths); returns it with its directory. */
export async function loadRunRecord(spec: string, reportsDir?: string): Promise<{ run: RunRecord; runDir: string; file: string }> {
  const file = resolveRunPath(spec, reportsDir);
  const run = await loadDoc<RunRecord>('run', file);
  const runDir = path.dirname(path.resolve(file));
  checkRunRecordPaths(run, runDir, file);
  return { run, runDir, file };
}

/**
 * The run directories a merge argument stands for: the argument itself when it is a run (a run
 * directory, run.json or run id), or else, for a directory that holds runs (a CI shard's --out,
 * possibly with a retried attempt beside the failed one), every child directory with a run.json.
 * Child directories without run.json are returned as skipped.
 */
export function runsIn(spec: string, reportsDir?: string): { specs: string[]; skipped: string[] } {
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  if (!isDir || existsSync(path.join(spec, 'run.json'))) {
    resolveRunPath(spec, reportsDir);
    return { specs: [spec], skipped: [] };
  }
  const children = readdirSync(spec, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(spec, d.name))
    .sort();
  const specs = children.filter((c) => existsSync(path.join(c, 'run.json')));
  if (!specs.length) throw inputError(`${spec}: no run found (neither ${path.join(spec, 'run.json')} nor a run directory inside it)`);
  return { specs, skipped: children.filter((c) => !specs.includes(c)) };
}
