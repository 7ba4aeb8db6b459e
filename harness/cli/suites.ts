import type { Command } from 'commander';
import Table from 'cli-table3';
import { suitesOnTarget } from '../app/suites.js';
import { action } from './common.js';

/** Registers `suites`: what exists and whether it can run on the chosen target, and why not. */
export function registerSuites(program: Command): void {
  program
    .command('suites')
    .description('list suites, their variants and metrics, and whether each variant can run on the target')
    .option('--target <name>', 'target to probe', 'local')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { target: string; inventory?: string; json?: boolean }) => {
        const { os, suites: out } = await suitesOnTarget(o.target, o.inventory);
        if (o.json) {
          process.stdout.write(JSON.stringify({ target: o.target, os, suites: out }, null, 2) + '\n');
          return;
        }
        for (const s of out) {
          process.stdout.write(`${s.id}: ${s.title} [feature: ${s.feature}]\n`);
          const t = new Table({ head: ['variant', `runs on ${o.target}`, 'description'], style: { head: [], border: [] }, colWidths: [24, 48, 56], wordWrap: true });
          for (const v of s.variants) t.push([v.id + (v.default ? '' : ' (opt-in)'), v.runnable ? 'yes' : `no: ${v.reason}`, v.description]);
          process.stdout.write(t.toString() + '\n');
          const mt = new Table({ head: ['metric', 'unit', 'better', 'noise floor', 'gating'], style: { head: [], border: [] } });
          for (const m of s.metrics) mt.push([m.id, m.unit, m.direction, `${(m.noiseFloor * 100).toFixed(0)}%`, m.gating ? 'yes' : 'no']);
          process.stdout.write(mt.toString() + '\n\n');
        }
      }),
    );
}
