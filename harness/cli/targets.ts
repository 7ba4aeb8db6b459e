import type { Command } from 'commander';
import Table from 'cli-table3';
import { listTargets, provisionTargets } from '../app/targets.js';
import { action } from './common.js';

/** Registers `targets` (what the inventory holds) and `provision` (bring a VM target up and keep it). */
export function registerTargets(program: Command): void {
  program
    .command('targets')
    .description('list the inventory\'s targets and load clients (name, kind, address, groups, tags)')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--target <spec>', 'only the targets this spec names (e.g. group:canary)')
    .option('--shard <i/n>', 'only the targets shard i of n gates (with --target: what `gate --target T --shard i/n` would gate)')
    .option('--suite <ids>', 'with --shard: the suites the gate selects, comma-separated (default: all)', '')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { inventory?: string; target?: string; shard?: string; suite: string; json?: boolean }) => {
        const { inventory, targets, clients } = await listTargets({ inventory: o.inventory, target: o.target, shard: o.shard, suites: o.suite.split(',').filter(Boolean) });
        if (o.json) {
          process.stdout.write(JSON.stringify({ inventory: inventory ?? null, targets, clients }, null, 2) + '\n');
          return;
        }
        if (!inventory && !o.target) {
          process.stdout.write('no inventory (inventory.yaml or --inventory FILE); built-in targets: local, ssh:[user@]host[:port], netns[:NAME], vagrant:NAME, qemu:NAME\n');
          return;
        }
        const t = new Table({ head: ['name', 'role', 'kind', 'address', 'ssh', 'profile', 'groups', 'tags'], style: { head: [], border: [] } });
        for (const [role, list] of [['target', targets], ['client', clients]] as const) {
          for (const h of list) {
            const ssh = h.kind === 'ssh' ? `${h.user ? `${h.user}@` : ''}${h.host ?? h.address}${h.port ? `:${h.port}` : ''}` : '';
            t.push([h.name, role, h.kind, h.address ?? h.host ?? '', ssh, h.profile ?? '(from fingerprint)', (h.groups ?? []).join(','), (h.tags ?? []).join(',')]);
          }
        }
        process.stdout.write(`${inventory ?? '(built-in)'}\n${t.toString()}\n`);
      }),
    );

  program
    .command('provision')
    .description('bring a vagrant target up (vagrant up + provisioning), check it over ssh, and leave it running')
    .requiredOption('--target <spec>', 'vagrant:NAME or an inventory target of kind vagrant')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--json', 'print the targets brought up as JSON')
    .action(
      action(async (o: { target: string; inventory?: string; json?: boolean }) => {
        const up = await provisionTargets(o.target, o.inventory, (p) => {
          if (!o.json) process.stdout.write(`${p.name}: up, ${p.os} ${p.kernelRelease}, ${p.cpuCount} CPU; gate it with: npx headgate gate --target vagrant:${p.name}\n`);
        });
        if (o.json) process.stdout.write(JSON.stringify({ targets: up }, null, 2) + '\n');
      }),
    );
}
