import { inputError } from '../../model/errors.js';
import { loadInventory, resolveClientSpecs, resolveTargetSpecs, type InventoryHost } from './inventory.js';
import { LocalTarget } from './local.js';
import { openNetnsTarget } from './netns.js';
import { parseSshTargetSpec, SshTarget } from './ssh.js';
import type { Target } from './target.js';

/** Target kinds this build can open. */
export const TARGET_KINDS = ['local', 'ssh', 'netns', 'vagrant', 'qemu'] as const;

/** Opens one inventory host as a target; ssh-reached kinds connect now, so an unreachable host fails before any work (exit 3). */
export async function openHost(h: InventoryHost): Promise<Target> {
  switch (h.kind) {
    case 'local':
      return new LocalTarget();
    case 'ssh': {
      const t = new SshTarget({
        name: h.name,
        host: h.host ?? h.address!,
        address: h.address,
        user: h.user,
        port: h.port,
        identityFile: h.identityFile,
        knownHostsFile: h.knownHostsFile,
        options: h.sshOptions,
        sudo: h.sudo,
        workDir: h.workDir,
        boot: h.boot,
      });
      await t.connect();
      return t;
    }
    case 'netns':
      return openNetnsTarget(h.name);
    case 'vagrant': {
      const { openVagrantTarget } = await import('./vagrant.js');
      return openVagrantTarget(h);
    }
    case 'qemu': {
      const { openQemuTarget } = await import('./qemu.js');
      return openQemuTarget(h);
    }
  }
}

/** The hosts a --target value names (see resolveTargetSpecs), with `ssh:` specs parsed. */
export async function resolveTargets(spec: string, inventoryFile?: string): Promise<InventoryHost[]> {
  return withSshSpecs(spec, resolveTargetSpecs(spec, await loadInventory(inventoryFile)));
}

/** Hosts given on the command line as `ssh:[user@]host[:port]` get their user, host and port from it. */
function withSshSpecs(spec: string, hosts: InventoryHost[]): InventoryHost[] {
  return hosts.map((h) => {
    if (h.kind !== 'ssh' || !spec.split(',').includes(`ssh:${h.name}`)) return h;
    const s = parseSshTargetSpec(`ssh:${h.name}`);
    return { ...h, host: s.host, user: s.user, port: s.port };
  });
}

/** The load-client hosts a --client value names (inventory `clients`, `local`, `ssh:...`). */
export async function resolveClients(spec: string, inventoryFile?: string): Promise<InventoryHost[]> {
  return withSshSpecs(spec, resolveClientSpecs(spec, await loadInventory(inventoryFile)));
}

/** Opens the single target a --target value names ("local" is the default). */
export async function openTarget(spec: string, inventoryFile?: string): Promise<Target> {
  const hosts = await resolveTargets(spec, inventoryFile);
  if (hosts.length !== 1) throw inputError(`--target ${spec}: names ${hosts.length} targets; this command takes one`);
  return openHost(hosts[0]);
}
