import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { importsOf } from './imports.js';
import { tsFiles } from './sources.js';

/**
 * What may import what, as allow-lists. A place is a folder of harness/ (`cli`), a module in it
 * (`model/types`, `lib/exec.ts`) or `suites` (every suites/<id>/); the most specific place that
 * lists a module decides.
 */
export interface LayeringRules {
  /** harness/<folder>: the other harness/ folders or modules it may import (its own folder always). */
  harness: Record<string, string[]>;
  /** What suites/<id>/ may import of harness/; its own folder always, a sibling suite never. */
  suites: string[];
  /**
   * Modules from outside the tree (npm packages, `node:` builtins; `node:*` stands for every builtin
   * no narrower entry names) and the places that may import each.
   */
  external: Record<string, string[]>;
  /** Imports allowed although a rule forbids them, `file -> specifier`, each with the reason it is still there. */
  exceptions: Record<string, string>;
}

/** What checkLayering found: every list empty means the tree follows the rules and every rule is used. */
export interface LayeringReport {
  /** `file:line imports spec (why not)`. */
  violations: string[];
  /** Folders of harness/ no rule names (and files lying directly in harness/). */
  unknown: string[];
  /** Allow-list entries and exceptions that no import uses any more. */
  stale: string[];
  /** Imports let through by an exception, with its reason. */
  excused: string[];
}

const BUILTINS = new Set(builtinModules);

/** The package an external specifier loads: `node:fs` for `fs` too, `a/b` for `a/b/c`, `@s/a` for `@s/a/b`. */
function packageOf(spec: string): string {
  if (spec.startsWith('node:')) return spec;
  if (BUILTINS.has(spec.split('/')[0])) return `node:${spec}`;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** A module path without its extension, with / separators: `harness/cli/run.ts` -> `harness/cli/run`. */
const modulePath = (rel: string) =>
  rel
    .split(path.sep)
    .join('/')
    .replace(/\.(ts|js|json)$/, '');

/** Whether module `mod` (`model/types`) is the place `place` (`model`, `model/types`, `lib/exec.ts`) or inside it. */
const within = (mod: string, place: string) => {
  const p = place.replace(/\.(ts|js)$/, '');
  return mod === p || mod.startsWith(`${p}/`);
};

/** Subdirectories of dir (none when it does not exist). */
const folders = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => statSync(path.join(dir, f)).isDirectory()) : [];

/** Why an import of a file of `from` (a harness folder or suite) breaks the rules, or null; notes the entry used. */
function whyNot(
  root: string,
  rules: LayeringRules,
  file: string,
  from: string,
  spec: string,
  used: Set<string>,
): string | null {
  const inSuite = from.startsWith('suites/');
  if (!spec.startsWith('.')) {
    const pkg = packageOf(spec);
    const key = rules.external[pkg] ? pkg : pkg.startsWith('node:') ? 'node:*' : pkg;
    const place = inSuite ? 'suites' : modulePath(path.relative(path.join(root, 'harness'), file));
    const allowed = (rules.external[key] ?? []).find((p) => within(place, p));
    if (allowed) used.add(`${key} in ${allowed}`);
    return allowed
      ? null
      : rules.external[key]
        ? `${key} only in ${rules.external[key].join(', ')}`
        : `${key} is in no allow-list`;
  }
  const to = modulePath(path.relative(root, path.resolve(path.dirname(file), spec))); // harness/cli/run
  if (inSuite) {
    const allowed = rules.suites.find((p) => within(to, `harness/${p}`));
    if (allowed) used.add(`suites -> ${allowed}`);
    if (allowed || within(to, from)) return null;
    return to.startsWith('suites/')
      ? `a suite imports another suite (${to.split('/')[1]})`
      : `suites may import only ${rules.suites.join(', ')}`;
  }
  if (!to.startsWith('harness/')) return 'outside harness/';
  const target = to.slice('harness/'.length);
  if (target.split('/')[0] === from) return null;
  const allowed = (rules.harness[from] ?? []).find((p) => within(target, p));
  if (allowed) used.add(`${from} -> ${allowed}`);
  return allowed
    ? null
    : `${from} may import ${(rules.harness[from] ?? []).join(', ') || 'nothing else'}, not ${target.split('/')[0]}`;
}

/** Allow-list entries and exceptions that no import used: rules that no longer describe the code. */
function staleEntries(rules: LayeringRules, used: Set<string>): string[] {
  const stale: string[] = [];
  for (const [from, places] of Object.entries(rules.harness)) {
    for (const p of places)
      if (!used.has(`${from} -> ${p}`)) stale.push(`harness/${from} may import ${p}, but no file does`);
  }
  for (const p of rules.suites)
    if (!used.has(`suites -> ${p}`)) stale.push(`suites may import harness/${p}, but no suite does`);
  for (const [pkg, places] of Object.entries(rules.external)) {
    for (const p of places) if (!used.has(`${pkg} in ${p}`)) stale.push(`${p} may import ${pkg}, but does not`);
  }
  for (const e of Object.keys(rules.exceptions))
    if (!used.has(`exception ${e}`)) stale.push(`exception ${e}: the import is gone or allowed now`);
  return stale;
}

/**
 * Checks the imports of root/harness and root/suites against the rules: static and type-only
 * imports, export-from, side-effect imports and dynamic import(), read with the TypeScript parser.
 */
export function checkLayering(root: string, rules: LayeringRules): LayeringReport {
  const report: LayeringReport = { violations: [], unknown: [], stale: [], excused: [] };
  const used = new Set<string>();
  const harnessDir = path.join(root, 'harness');
  const suitesDir = path.join(root, 'suites');
  const topOf = (dir: string, f: string) => path.relative(dir, f).split(path.sep)[0];
  const harnessFiles = existsSync(harnessDir) ? tsFiles(harnessDir) : [];

  const unknown = new Set(
    [...harnessFiles.map((f) => topOf(harnessDir, f)), ...folders(harnessDir)].filter((l) => !(l in rules.harness)),
  );
  report.unknown = [...unknown].sort().map((l) => `harness/${l}: not in the layering rules`);

  const files = [
    ...harnessFiles.map((f) => ({ f, from: topOf(harnessDir, f) })),
    ...(existsSync(suitesDir) ? tsFiles(suitesDir) : []).map((f) => ({ f, from: `suites/${topOf(suitesDir, f)}` })),
  ];
  for (const { f, from } of files) {
    const rel = path.relative(root, f);
    for (const i of importsOf(readFileSync(f, 'utf8'), f)) {
      const why = whyNot(root, rules, f, from, i.spec, used);
      if (!why) continue;
      const excuse = rules.exceptions[`${rel} -> ${i.spec}`];
      if (excuse === undefined) {
        report.violations.push(`${rel}:${i.line} imports ${i.spec} (${why})`);
      } else {
        used.add(`exception ${rel} -> ${i.spec}`);
        report.excused.push(`${rel}:${i.line} imports ${i.spec}: ${excuse}`);
      }
    }
  }
  report.stale = staleEntries(rules, used);
  return report;
}
