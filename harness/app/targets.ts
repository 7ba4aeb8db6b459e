import { openHost, resolveTargets } from '../drivers/targets/index.js';
import { loadInventory, type InventoryHost } from '../drivers/targets/inventory.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { inputError } from '../model/errors.js';
import { parseShard, shardWork } from '../engine/shard.js';

/**
 * `targets`: the inventory's targets and load clients; with a target spec only the targets it
 * names, and with a shard only those that shard of `gate --target SPEC --shard i/n` would gate.
 */
export async function listTargets(o: {
  inventory?: string;
  target?: string;
  shard?: string;
  suites: string[];
}): Promise<{
  /** The inventory file read (none: only the built-in targets). */
  inventory?: string;
  targets: InventoryHost[];
  clients: InventoryHost[];
}> {
  const inv = await loadInventory(o.inventory);
  let targets = o.target ? await resolveTargets(o.target, o.inventory) : inv.targets;
  if (o.shard) {
    if (!o.target) throw inputError('--shard needs --target: the shards deal out the targets of one --target spec');
    const suites = selectSuites(await discoverSuites(), o.suites).map((s) => s.manifest.id);
    const mine = shardWork(
      targets.map((t) => t.name),
      suites,
      parseShard(o.shard),
    );
    targets = targets.filter((t) => mine.has(t.name));
  }
  return { inventory: inv.file, targets, clients: o.target ? [] : (inv.clients ?? []) };
}

/** What one provisioned VM target runs. */
export interface ProvisionedTarget {
  name: string;
  os: string;
  kernelRelease: string;
  cpuCount: number;
}

/**
 * `provision`: brings every vagrant target of a spec up (vagrant up + provisioning), checks it
 * over ssh (its fingerprint) and leaves it running; `onUp` sees each one as soon as it is up.
 */
export async function provisionTargets(
  spec: string,
  inventory: string | undefined,
  onUp: (t: ProvisionedTarget) => void,
): Promise<ProvisionedTarget[]> {
  const up: ProvisionedTarget[] = [];
  for (const h of await resolveTargets(spec, inventory)) {
    if (h.kind !== 'vagrant')
      throw inputError(`--target ${spec}: ${h.name} is a ${h.kind} target; provision brings up vagrant targets`);
    const t = await openHost({ ...h, vagrant: { ...h.vagrant, keep: 'always' } });
    try {
      const fp = await (await t.os()).fingerprint();
      const p = { name: h.name, os: fp.os, kernelRelease: fp.kernelRelease, cpuCount: fp.cpuCount };
      up.push(p);
      onUp(p);
    } finally {
      await t.close({ failed: true });
    }
  }
  return up;
}
