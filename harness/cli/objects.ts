import type { Command } from 'commander';
import { DEFAULTS } from '../model/options.js';
import { writeObjectSet } from '../app/objects.js';
import { action, intArg, numArg } from './common.js';

/** Registers `objects --out DIR`: the object set for a server the user runs (lab-appliance mode). */
export function registerObjects(program: Command): void {
  program
    .command('objects')
    .description('write the seeded object set (and manifest.json) so an existing server can serve exactly what the harness verifies')
    .requiredOption('--out <dir>', 'directory to write (the server\'s document root)')
    .option('--seed <n>', 'seed', intArg, DEFAULTS.seed)
    .option('--objects-mib <n>', 'total size in MiB (use the same value as the run: default 96, --quick 32)', numArg, DEFAULTS.full.totalMiB)
    .option('--json', 'print the manifest summary as JSON')
    .action(
      action(async (o: { out: string; seed: number; objectsMib: number; json?: boolean }) => {
        const { objects, bytes } = await writeObjectSet(o.out, o.seed, o.objectsMib);
        if (o.json) {
          process.stdout.write(JSON.stringify({ dir: o.out, seed: o.seed, objects, bytes, manifest: 'manifest.json' }, null, 2) + '\n');
          return;
        }
        process.stdout.write(`${objects} objects, ${(bytes / 2 ** 20).toFixed(1)} MiB, seed ${o.seed} -> ${o.out} (manifest.json lists paths, sizes and sha256)\n`);
      }),
    );
}
