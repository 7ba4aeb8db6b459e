import type { Command } from 'commander';
import { readDocFile, SCHEMA_VERSION, validateDoc, type DocKind } from '../model/validate.js';
import { inputError } from '../model/errors.js';
import { action } from './common.js';

/** Known migrations, by kind and from-version. Version 1 is the first: none yet. */
const MIGRATIONS: Partial<Record<DocKind, Record<number, (doc: Record<string, unknown>) => Record<string, unknown>>>> = {};

/** Registers `migrate FILE`: upgrades a config, baseline or run file written by an older headgate. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate <file>')
    .description('check a config, baseline or run file against the current schema and upgrade it if a migration exists')
    .requiredOption('--kind <kind>', 'config | baseline | run')
    .action(
      action(async (file: string, o: { kind: DocKind }) => {
        if (!(o.kind in SCHEMA_VERSION)) throw inputError(`--kind ${o.kind}: must be config, baseline or run`);
        const doc = (await readDocFile(file)) as Record<string, unknown>;
        const v = doc?.schemaVersion;
        if (v === SCHEMA_VERSION[o.kind]) {
          validateDoc(o.kind, doc, file);
          process.stdout.write(`${file}: already ${o.kind} schema version ${v}, valid\n`);
          return;
        }
        const step = typeof v === 'number' ? MIGRATIONS[o.kind]?.[v] : undefined;
        if (!step) throw inputError(`${file}: no migration known from ${o.kind} schema version ${String(v)} to ${SCHEMA_VERSION[o.kind]}`);
      }),
    );
}
