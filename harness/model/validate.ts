import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { inputError } from './errors.js';
import { configSchema, planGateSchema, upgradeConfigV1 } from './options.js';

const schemaDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schemas');

/** The document kinds headgate validates; each has a versioned JSON Schema in schemas/. */
export type DocKind = 'config' | 'suite' | 'baseline' | 'run' | 'inventory' | 'rollout';

/** Current schema version per document kind. */
export const SCHEMA_VERSION: Record<DocKind, number> = { config: 2, suite: 1, baseline: 1, run: 1, inventory: 1, rollout: 2 };

type Migration = (doc: Record<string, unknown>) => Record<string, unknown>;

/** Known upgrades, by kind and from-version: an older file is read through them (and `headgate migrate` rewrites it). */
export const MIGRATIONS: Partial<Record<DocKind, Record<number, Migration>>> = {
  // Version 2 names the run options as the flags do (durationSec -> duration, objects.totalMiB -> objectsMib).
  config: { 1: upgradeConfigV1 },
  rollout: {
    1: (doc) => {
      const gate = { ...((doc.gate ?? {}) as Record<string, unknown>) };
      for (const [from, to] of [['durationSec', 'duration'], ['warmupSec', 'warmup'], ['objectsMiB', 'objectsMib']]) {
        if (from in gate) {
          gate[to] = gate[from];
          delete gate[from];
        }
      }
      return { ...doc, schemaVersion: 2, ...(doc.gate ? { gate } : {}) };
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
// The config file and a rollout plan's gate block are the options schema (model/options.ts);
// the older versions stay so a version-1 file is checked as it was written before it is upgraded.
ajv.addSchema(configSchema());
ajv.addSchema(planGateSchema());
for (const name of ['run', 'suite', 'baseline', 'inventory', 'rollout', 'config-v1', 'rollout-v1']) {
  ajv.addSchema(JSON.parse(readFileSync(path.join(schemaDir, `${name}.schema.json`), 'utf8')));
}
const validators = new Map<DocKind, ValidateFunction>();
function validator(kind: DocKind): ValidateFunction {
  let v = validators.get(kind);
  if (!v) {
    v = ajv.getSchema(`headgate/${kind}`)!;
    validators.set(kind, v);
  }
  return v;
}

/** One readable phrase per ajv error, naming the key (as a JSON pointer) that is wrong. */
function describe(e: ErrorObject): string {
  const at = e.instancePath || '(top level)';
  switch (e.keyword) {
    case 'additionalProperties':
      return `${at === '(top level)' ? '' : at + '/'}${(e.params as { additionalProperty: string }).additionalProperty}: unknown key`;
    case 'required':
      return `${at === '(top level)' ? '' : at + '/'}${(e.params as { missingProperty: string }).missingProperty}: required key missing`;
    case 'enum':
      return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at}: ${e.message}`;
  }
}

/**
 * Validates a parsed document against its schema. Throws an input error (exit 2) that names
 * the file and every offending key at once, or a version message for files from another release.
 */
export function validateDoc<T>(kind: DocKind, doc: unknown, file: string): T {
  return validateDocInfo<T>(kind, doc, file).doc;
}

/** validateDoc, also saying which older version the document was upgraded from (to tell the user). */
export function validateDocInfo<T>(kind: DocKind, doc: unknown, file: string): { doc: T; upgradedFrom?: number } {
  const version = (doc as { schemaVersion?: unknown } | null)?.schemaVersion;
  const want = SCHEMA_VERSION[kind];
  if (typeof doc === 'object' && doc !== null && typeof version === 'number' && version < want && MIGRATIONS[kind]?.[version]) {
    // Check it as its own version first, so errors name the keys the user wrote.
    check(ajv.getSchema(`headgate/${kind}-v${version}`), kind, doc, file);
    let d = doc as Record<string, unknown>;
    for (let v = version; v < want; v++) d = MIGRATIONS[kind]![v]!(d);
    return { doc: validateDoc<T>(kind, d, file), upgradedFrom: version };
  }
  if (typeof doc === 'object' && doc !== null && typeof version === 'number' && version !== want) {
    throw inputError(
      version > want
        ? `${file}: written with ${kind} schema version ${version}, but this headgate reads version ${want}: upgrade headgate`
        : `${file}: written with ${kind} schema version ${version}, this headgate reads version ${want}: run \`headgate migrate ${file}\``,
    );
  }
  check(validator(kind), kind, doc, file);
  return { doc: doc as T };
}

function check(v: ValidateFunction | undefined, kind: DocKind, doc: unknown, file: string): void {
  if (v && !v(doc)) {
    const msgs = [...new Set((v.errors ?? []).map(describe))];
    throw inputError(`${file}: invalid ${kind}: ${msgs.join('; ')}`);
  }
}

/** Reads JSON (or YAML for .yaml/.yml) from disk; parse errors name the file and position. */
export async function readDocFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw inputError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  try {
    return /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw inputError(`${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Reads and validates a document file in one step. */
export async function loadDoc<T>(kind: DocKind, file: string): Promise<T> {
  return validateDoc<T>(kind, await readDocFile(file), file);
}

/** loadDoc, also saying which older version the file was upgraded from. */
export async function loadDocInfo<T>(kind: DocKind, file: string): Promise<{ doc: T; upgradedFrom?: number }> {
  return validateDocInfo<T>(kind, await readDocFile(file), file);
}
