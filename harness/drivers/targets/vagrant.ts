import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ensureHome, ensurePrivateDir } from '../../lib/home.js';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../lib/exec.js';
import { safeName } from '../../lib/confine.js';
import { describeError, infraError } from '../../model/errors.js';
import type { InventoryHost } from './inventory.js';
import { checkSshWord, SshTarget } from './ssh.js';
import { bootId } from './boot.js';
import type { BootConfig, BootRecord } from '../../model/types.js';

/** The repository's vagrant/ directory (Vagrantfile and provisioning). */
export const VAGRANT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'vagrant');

/** One Host block of `vagrant ssh-config`. */
export interface VagrantSshConfig {
  host: string;
  hostName: string;
  user: string;
  port: number;
  identityFile?: string;
}

/** Parses `vagrant ssh-config` output (OpenSSH config syntax; IdentityFile may be quoted). */
export function parseVagrantSshConfig(text: string): VagrantSshConfig {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\w+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    if (!kv.has(key)) kv.set(key, m[2].replace(/^"(.*)"$/, '$1'));
  }
  const need = (k: string) => {
    const v = kv.get(k);
    if (!v) throw infraError(`vagrant ssh-config: no ${k} in its output`);
    return v;
  };
  return { host: need('host'), hostName: need('hostname'), user: kv.get('user') ?? 'vagrant', port: Number(kv.get('port') ?? 22), identityFile: kv.get('identityfile') };
}

/**
 * Runs vagrant in the Vagrantfile's directory; resolves with its output (124: killed by the
 * timeout, with its providers' processes; 127: vagrant missing). Long steps (up) stream to the log.
 */
async function vagrant(dir: string, args: string[], o: { timeoutMs: number; log?: (line: string) => void }): Promise<{ code: number; stdout: string; stderr: string }> {
  const log = o.log;
  try {
    const r = await runCommand(['vagrant', ...args], {
      cwd: dir,
      env: { VAGRANT_NO_COLOR: '1', VAGRANT_CHECKPOINT_DISABLE: '1' },
      timeoutMs: o.timeoutMs,
      onOutput: log ? (text, stream) => stream === 'stdout' && text.split('\n').filter(Boolean).forEach((l) => log(l)) : undefined,
    });
    return { code: r.code ?? 124, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    return { code: 127, stdout: '', stderr: describeError(e) };
  }
}

/** A VM brought up by `vagrant up`, reached over ssh; close() halts or destroys it by policy. */
class VagrantTarget extends SshTarget {
  constructor(
    spec: ConstructorParameters<typeof SshTarget>[0],
    private readonly dir: string,
    private readonly vmName: string,
    private readonly keep: 'always' | 'on-failure' | 'never',
  ) {
    super(spec);
  }
  /**
   * Vagrant reloads the VM (halt, then up without provisioning) after the next boot was selected
   * by the inventory's boot hook or, on a FreeBSD box, nextboot (without its own reboot).
   */
  override async reboot(boot: BootConfig, side: 'A' | 'B', log: (line: string) => void): Promise<BootRecord> {
    const t0 = Date.now();
    const before = await bootId(this);
    log(`vagrant: ${this.vmName}: reloading into ${side} (${boot.label})`);
    const selected = await this.selectBoot(boot, side, false);
    await super.close();
    const r = await vagrant(this.dir, ['reload', '--no-provision', this.vmName], { timeoutMs: 1_800_000, log: (l) => log(`  ${l}`) });
    if (r.code !== 0) throw infraError(`vagrant reload ${this.vmName} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    return this.awaitBoot(boot, side, before, t0, `${selected}; vagrant reload --no-provision ${this.vmName}`);
  }

  override async close(outcome?: { failed: boolean }): Promise<void> {
    await super.close();
    const destroy = this.keep === 'never' || (this.keep === 'on-failure' && !outcome?.failed);
    if (destroy) {
      const r = await vagrant(this.dir, ['destroy', '-f', this.vmName], { timeoutMs: 600_000 });
      if (r.code !== 0) process.stderr.write(`headgate: vagrant destroy ${this.vmName} failed: ${r.stderr.trim().split('\n').pop()}\n`);
    }
  }
}

/**
 * `vagrant up` (with provisioning), then `vagrant ssh-config` turned into an ssh target. The
 * box's own config switches host-key checking off; here the key is read once from the VM this
 * call just booted, printed, and pinned in a known_hosts file of the machine's, so a key change
 * later in the run is still caught.
 */
export async function openVagrantTarget(h: InventoryHost, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<SshTarget> {
  const dir = path.resolve(h.vagrant?.dir ?? VAGRANT_DIR);
  const machine = safeName(h.vagrant?.machine ? `target ${h.name}: vagrant.machine` : '--target vagrant:NAME', h.vagrant?.machine ?? h.name);
  log(`vagrant: up ${machine} in ${dir} (boots and provisions; can take minutes)`);
  const up = await vagrant(dir, ['up', '--provision', machine], { timeoutMs: 3_600_000, log: (l) => log(`  ${l}`) });
  if (up.code !== 0) throw infraError(`vagrant up ${machine} failed (exit ${up.code}): ${(up.stderr || up.stdout).trim().split('\n').pop()}`);
  const sc = await vagrant(dir, ['ssh-config', machine], { timeoutMs: 120_000 });
  if (sc.code !== 0) throw infraError(`vagrant ssh-config ${machine} failed: ${sc.stderr.trim().split('\n').pop()}`);
  const cfg = parseVagrantSshConfig(sc.stdout);
  // In headgate's home (0700), not the Vagrant project directory another user may write to.
  const stateDir = ensurePrivateDir(path.join(ensurePrivateDir(path.join(ensureHome(), 'vagrant')), `${createHash('sha256').update(dir).digest('hex').slice(0, 12)}-${machine}`));
  const knownHostsFile = path.join(stateDir, 'known_hosts');
  checkSshWord(`vagrant ssh-config ${machine}: HostName`, cfg.hostName);
  const keys = await runCommand(['ssh-keyscan', '-T', '10', '-p', String(cfg.port), '--', cfg.hostName]).then((r) => r.stdout, () => '');
  if (!keys.trim()) throw infraError(`vagrant ${machine}: no ssh host key from ${cfg.hostName}:${cfg.port}`);
  await writeFile(knownHostsFile, keys);
  log(`vagrant: pinned the host keys of ${machine} (${cfg.hostName}:${cfg.port}), read from the VM this run booted, in ${knownHostsFile}`);
  const t = new VagrantTarget(
    {
      name: h.name,
      kind: 'vagrant',
      host: cfg.hostName,
      port: cfg.port,
      user: cfg.user,
      identityFile: cfg.identityFile,
      knownHostsFile,
      address: h.address ?? cfg.hostName,
      workDir: h.workDir,
      sudo: h.sudo,
      boot: h.boot,
    },
    dir,
    machine,
    h.vagrant?.keep ?? 'on-failure',
  );
  await t.connect();
  return t;
}
