import type { Command } from 'commander';
import { writeAtomic } from '../lib/atomic.js';
import { inputError } from '../model/errors.js';
import { MIGRATIONS, readDocFile, SCHEMA_VERSION, validateDoc, type DocKind } from '../model/validate.js';
import { stringify as toYaml } from 'yaml';
import { action } from './common.js';

/** Registers `migrate FILE`: upgrades a config, rollout plan, baseline or run file written by an older headgate. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate <file>')
    .description('check a config, rollout plan, baseline or run file against the current schema and rewrite it in place (atomically) if a migration exists')
    .requiredOption('--kind <kind>', 'config | rollout | baseline | run')
    .option('--json', 'print what was done as JSON')
    .action(
      action(async (file: string, o: { kind: DocKind; json?: boolean }) => {
        if (!(o.kind in SCHEMA_VERSION) || o.kind === 'suite' || o.kind === 'inventory') throw inputError(`--kind ${o.kind}: must be config, rollout, baseline or run`);
        const doc = (await readDocFile(file)) as Record<string, unknown>;
        const v = doc?.schemaVersion;
        const want = SCHEMA_VERSION[o.kind];
        const say = (action: string, text: string) => process.stdout.write(o.json ? JSON.stringify({ file, kind: o.kind, from: v, to: want, action }) + '\n' : text + '\n');
        if (v === want) {
          validateDoc(o.kind, doc, file);
          say('none', `${file}: already ${o.kind} schema version ${v}, valid`);
          return;
        }
        if (typeof v !== 'number' || !MIGRATIONS[o.kind]?.[v]) throw inputError(`${file}: no migration known from ${o.kind} schema version ${String(v)} to ${want}`);
        let d = doc;
        for (let x = v; x < want; x++) d = MIGRATIONS[o.kind]![x]!(d);
        validateDoc(o.kind, d, file);
        await writeAtomic(file, /\.ya?ml$/i.test(file) ? toYaml(d) : JSON.stringify(d, null, 2) + '\n');
        say('upgraded', `${file}: upgraded ${o.kind} from schema version ${v} to ${want}`);
      }),
    );
}
