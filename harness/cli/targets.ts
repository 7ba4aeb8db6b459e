import type { Command } from 'commander';
import Table from 'cli-table3';
import { inputError } from '../model/errors.js';
import { openHost, resolveTargets } from '../drivers/targets/index.js';
import { loadInventory } from '../drivers/targets/inventory.js';
import { action } from './common.js';
import { parseShard, shardWork } from '../engine/shard.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';

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
        const inv = await loadInventory(o.inventory);
        let targets = o.target ? await resolveTargets(o.target, o.inventory) : inv.targets;
        if (o.shard) {
          if (!o.target) throw inputError('--shard needs --target: the shards deal out the targets of one --target spec');
          const mine = shardWork(targets.map((t) => t.name), selectSuites(await discoverSuites(), o.suite.split(',').filter(Boolean)).map((s) => s.manifest.id), parseShard(o.shard));
          targets = targets.filter((t) => mine.has(t.name));
        }
        const clients = o.target ? [] : (inv.clients ?? []);
        if (o.json) {
          process.stdout.write(JSON.stringify({ inventory: inv.file ?? null, targets, clients }, null, 2) + '\n');
          return;
        }
        if (!inv.file && !o.target) {
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
        process.stdout.write(`${inv.file ?? '(built-in)'}\n${t.toString()}\n`);
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
        const hosts = await resolveTargets(o.target, o.inventory);
        const up: { name: string; os: string; kernelRelease: string; cpuCount: number }[] = [];
        for (const h of hosts) {
          if (h.kind !== 'vagrant') throw inputError(`--target ${o.target}: ${h.name} is a ${h.kind} target; provision brings up vagrant targets`);
          const t = await openHost({ ...h, vagrant: { ...h.vagrant, keep: 'always' } });
          try {
            const fp = await (await t.os()).fingerprint();
            up.push({ name: h.name, os: fp.os, kernelRelease: fp.kernelRelease, cpuCount: fp.cpuCount });
            if (!o.json) process.stdout.write(`${h.name}: up, ${fp.os} ${fp.kernelRelease}, ${fp.cpuCount} CPU; gate it with: npx headgate gate --target vagrant:${h.name}\n`);
          } finally {
            await t.close({ failed: true });
          }
        }
        if (o.json) process.stdout.write(JSON.stringify({ targets: up }, null, 2) + '\n');
      }),
    );
}
