import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadDoc } from '../../model/validate.js';
import { inputError } from '../../model/errors.js';
import { safeName } from '../../lib/confine.js';
import { checkSshOption, checkSshWord } from './ssh.js';

/** One host of the inventory (a target or a load client). */
export interface InventoryHost {
  name: string;
  kind: 'local' | 'ssh' | 'netns' | 'vagrant' | 'qemu';
  address?: string;
  host?: string;
  port?: number;
  user?: string;
  identityFile?: string;
  knownHostsFile?: string;
  sshOptions?: Record<string, string>;
  sudo?: boolean;
  workDir?: string;
  /** headgate checkout on a load-client host. */
  headgateDir?: string;
  profile?: string;
  tags?: string[];
  groups?: string[];
  vagrant?: { dir?: string; machine?: string; keep?: 'always' | 'on-failure' | 'never' };
  /** How `ab --a-boot/--b-boot` reboots an ssh or vagrant target (a user hook; FreeBSD default: nextboot). */
  boot?: { hook?: string[]; timeoutSec?: number };
  qemu?: {
    kernel?: string;
    initrd?: string;
    disk?: string;
    append?: string;
    memoryMiB?: number;
    cpus?: number;
    bootTimeoutSec?: number;
    /** auto (default): KVM when /dev/kvm opens, TCG when it does not or the KVM guest stays silent; kvm: KVM or exit 3; tcg: never KVM. */
    accel?: 'auto' | 'kvm' | 'tcg';
    /** With accel auto: seconds a KVM guest may print nothing on its console before it is booted again under TCG (default 20). */
    kvmSilenceSec?: number;
  };
}

/** The inventory file (schemas/inventory.schema.json). */
export interface Inventory {
  schemaVersion: 1;
  targets: InventoryHost[];
  clients?: InventoryHost[];
  /** Where it was read from (for messages); not in the file. */
  file?: string;
}

const CANDIDATES = ['inventory.yaml', 'inventory.yml', 'inventory.json'];

/** Loads --inventory FILE, or inventory.{yaml,yml,json} in the working directory; an empty inventory if none. */
export async function loadInventory(explicit?: string, cwd = process.cwd()): Promise<Inventory> {
  const file = explicit ?? CANDIDATES.map((c) => path.join(cwd, c)).find((c) => existsSync(c));
  if (!file) return { schemaVersion: 1, targets: [] };
  const inv = await loadDoc<Inventory>('inventory', file);
  const seen = new Set<string>();
  for (const [i, t] of [...inv.targets, ...(inv.clients ?? [])].entries()) {
    if (seen.has(t.name)) throw inputError(`${file}: /targets/${i}/name: duplicate name ${t.name}`);
    seen.add(t.name);
    if (t.kind === 'ssh' && !t.host && !t.address) throw inputError(`${file}: target ${t.name}: an ssh target needs host or address`);
  }
  // Nothing from the file may become an ssh option, and host keys stay checked (exit 2 naming the key).
  for (const key of ['targets', 'clients'] as const) {
    for (const [i, t] of (inv[key] ?? []).entries()) {
      const at = `${file}: /${key}/${i}`;
      for (const f of ['host', 'user', 'address'] as const) if (t[f] !== undefined) checkSshWord(`${at}/${f}`, t[f]);
      for (const [k, v] of Object.entries(t.sshOptions ?? {})) checkSshOption(`${at}/sshOptions/${k}`, k, v);
    }
  }
  return { ...inv, file };
}

/** The load clients a --client value names: inventory clients, `local`, `ssh:...`, or a comma list. */
export function resolveClientSpecs(spec: string, inv: Inventory): InventoryHost[] {
  return resolveTargetSpecs(spec, { ...inv, targets: inv.clients ?? [] }, '--client');
}

/**
 * Turns a --target value into hosts: `local`, `ssh:[user@]host[:port]`, `netns[:NAME]`,
 * `vagrant:NAME`, `qemu:NAME` (inventory or defaults), an inventory name, `group:G`, `tag:T`,
 * or a comma-separated list of these. Unknown names are input errors (exit 2) listing what exists.
 */
export function resolveTargetSpecs(spec: string, inv: Inventory, flag = '--target'): InventoryHost[] {
  const out: InventoryHost[] = [];
  const byName = new Map(inv.targets.map((t) => [t.name, t]));
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'local') out.push(byName.get('local') ?? { name: 'local', kind: 'local' });
    else if (part.startsWith('ssh:')) out.push({ name: part.slice(4), kind: 'ssh', host: part.slice(4) });
    else if (part === 'netns' || part.startsWith('netns:')) {
      // The name becomes part of a lab directory that is removed with the lab: a safe name only.
      const name = part.slice(6) ? safeName(`${flag} netns:NAME`, part.slice(6)) : 'netns';
      out.push(byName.get(name) ?? { name, kind: 'netns' });
    } else if (part.startsWith('vagrant:') || part.startsWith('qemu:')) {
      const [kind, raw] = part.split(/:(.*)/s) as ['vagrant' | 'qemu', string];
      const name = safeName(`${flag} ${kind}:NAME`, raw);
      const known = byName.get(name);
      if (known && known.kind !== kind) throw inputError(`${flag} ${part}: inventory target ${name} is of kind ${known.kind}`);
      out.push(known ?? { name, kind });
    } else if (part.startsWith('group:') || part.startsWith('tag:')) {
      const [key, value] = part.split(/:(.*)/s);
      const hits = inv.targets.filter((t) => (key === 'group' ? t.groups : t.tags)?.includes(value));
      if (hits.length === 0) {
        throw inputError(`${flag} ${part}: no target in ${inv.file ?? 'the inventory (none found: pass --inventory FILE)'} has ${key} ${value}`);
      }
      out.push(...hits);
    } else {
      const t = byName.get(part);
      if (!t) {
        const known = inv.targets.map((x) => x.name);
        throw inputError(
          `${flag} ${part}: unknown target (${known.length ? `inventory ${inv.file} has: ${known.join(', ')}` : 'no inventory: pass --inventory FILE or use local, ssh:HOST, netns, vagrant:NAME, qemu:NAME'})`,
        );
      }
      out.push(t);
    }
  }
  if (out.length === 0) throw inputError(`${flag} ${spec}: names no target`);
  const names = out.map((t) => t.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw inputError(`${flag} ${spec}: ${dup} named twice`);
  return out;
}
