import type { Command } from 'commander';
import Table from 'cli-table3';
import { discoverSuites } from '../engine/discovery.js';
import { variantApplies } from '../engine/plan.js';
import { openTarget } from '../drivers/targets/index.js';
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
        const target = await openTarget(o.target, o.inventory);
        try {
          const os = await target.os();
          const suites = await discoverSuites();
          const out = [];
          for (const s of suites) {
            const m = s.manifest;
            const variants = [];
            for (const v of m.variants) {
              const c = await variantApplies(m, v, os, target);
              const runnable = c.ok;
              const reason = c.reason;
              variants.push({ id: v.id, description: v.description, default: v.default !== false, runnable, reason });
            }
            out.push({ id: m.id, title: m.title, feature: m.feature, variants, metrics: m.metrics });
          }
          if (o.json) {
            process.stdout.write(JSON.stringify({ target: o.target, os: os.family, suites: out }, null, 2) + '\n');
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
        } finally {
          await target.close();
        }
      }),
    );
}
