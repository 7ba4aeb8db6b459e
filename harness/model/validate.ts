import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { inputError } from './errors.js';

const schemaDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schemas');

/** The document kinds headgate validates; each has a versioned JSON Schema in schemas/. */
export type DocKind = 'config' | 'suite' | 'baseline' | 'run' | 'inventory' | 'rollout';

/** Current schema version per document kind. */
export const SCHEMA_VERSION: Record<DocKind, number> = { config: 1, suite: 1, baseline: 1, run: 1, inventory: 1, rollout: 1 };

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
for (const kind of ['run', 'config', 'suite', 'baseline', 'inventory', 'rollout'] as DocKind[]) {
  ajv.addSchema(JSON.parse(readFileSync(path.join(schemaDir, `${kind}.schema.json`), 'utf8')));
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
  const version = (doc as { schemaVersion?: unknown } | null)?.schemaVersion;
  const want = SCHEMA_VERSION[kind];
  if (typeof doc === 'object' && doc !== null && typeof version === 'number' && version !== want) {
    throw inputError(
      version > want
        ? `${file}: written with ${kind} schema version ${version}, but this headgate reads version ${want}: upgrade headgate`
        : `${file}: written with ${kind} schema version ${version}, this headgate reads version ${want}: run \`headgate migrate ${file}\``,
    );
  }
  const v = validator(kind);
  if (!v(doc)) {
    const msgs = [...new Set((v.errors ?? []).map(describe))];
    throw inputError(`${file}: invalid ${kind}: ${msgs.join('; ')}`);
  }
  return doc as T;
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
