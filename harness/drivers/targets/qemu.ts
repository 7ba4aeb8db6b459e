import { spawn, type ChildProcess } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../lib/cleanup.js';
import { killProcessGroup, runCommand } from '../../lib/exec.js';
import { infraError, inputError } from '../../model/errors.js';
import { canConnect, freePort } from '../net/ports.js';
import type { InventoryHost } from './inventory.js';
import { debianKernelImage, guestInitScript } from './qemu-image.js';
import { SshTarget } from './ssh.js';

/** Whether KVM can be used (the device exists and opens read-write); otherwise QEMU emulates (TCG). */
export async function kvmUsable(): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of the serial console, for boot errors. */
export async function consoleTail(file: string, n = 8): Promise<string> {
  const text = existsSync(file) ? await readFile(file, 'utf8') : '';
  return (
    text
      .replace(/\r/g, '')
      .split('\n')
      .filter((l) => l.trim())
      .slice(-n)
      .join(' | ') || '(console empty)'
  );
}

/** Sends one human-monitor command over QEMU's monitor socket. */
function monitor(sock: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    c.on('data', (b) => (out += b.toString()));
    c.on('error', reject);
    c.on('connect', () => {
      c.write(`${command}\n`);
      setTimeout(() => c.end(), 300);
    });
    c.on('close', () => resolve(out));
  });
}

/**
 * A kernel booted under QEMU and reached over ssh through user-mode networking (a forwarded
 * loopback port). Servers on the guest are reached through forwards added at run time on the
 * QEMU monitor, so a port on 127.0.0.1 here is the same port in the guest.
 */
export class QemuTarget extends SshTarget {
  readonly listenAddress = '0.0.0.0';
  constructor(
    spec: ConstructorParameters<typeof SshTarget>[0],
    private readonly proc: ChildProcess,
    private readonly monitorSock: string,
    private readonly stateDir: string,
    readonly consoleLog: string,
    readonly notes: string[],
  ) {
    super(spec);
  }

  override async pickPort(): Promise<number> {
    const port = await freePort('127.0.0.1');
    const out = await monitor(this.monitorSock, `hostfwd_add net0 tcp:127.0.0.1:${port}-:${port}`);
    if (/error|invalid|could not/i.test(out.replace(/hostfwd_add[^\n]*\n/, ''))) throw infraError(`qemu ${this.name}: could not forward port ${port}: ${out.trim().split('\n').pop()}`);
    return port;
  }

  /** Powers the guest off (sysrq o after sync: the root is read-only, the rest tmpfs), then stops QEMU. */
  override async close(): Promise<void> {
    try {
      // Detached and delayed, so the ssh session ends before the guest powers off under it.
      await this.exec(['sh', '-c', 'sync; (sleep 0.5; echo o > /proc/sysrq-trigger) > /dev/null 2>&1 &'], { allowFail: true, timeoutMs: 10_000 }).catch(() => {});
    } finally {
      await super.close();
      const exited = new Promise<void>((r) => (this.proc.exitCode !== null ? r() : this.proc.once('exit', () => r())));
      if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
        killProcessGroup(this.proc.pid, 'SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (this.proc.exitCode === null && this.proc.signalCode === null) killProcessGroup(this.proc.pid, 'SIGKILL');
      }
      await rm(this.stateDir, { recursive: true, force: true });
    }
  }
}

/**
 * Boots a kernel under QEMU: the inventory's kernel + initrd (or, by default, Debian's stock
 * kernel with an initramfs the harness builds, on this machine's own userspace shared read-only
 * over 9p), KVM when usable and software emulation otherwise, the serial console captured, ssh
 * forwarded on a free loopback port. A guest that does not answer ssh by the boot deadline is
 * exit 3 with the console's last lines.
 */
export async function openQemuTarget(h: InventoryHost, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<QemuTarget> {
  const q = h.qemu ?? {};
  if (q.disk) throw inputError(`target ${h.name}: qemu.disk (booting a disk image) is not supported by this build; give qemu.kernel and qemu.initrd, or nothing for Debian's kernel`);
  const qemuBin = 'qemu-system-x86_64';
  const image = q.kernel
    ? { kernel: q.kernel, initrd: q.initrd ?? '', release: path.basename(q.kernel) }
    : await debianKernelImage(path.join(process.env.HEADGATE_CACHE ?? path.join(os.homedir(), '.cache', 'headgate'), 'qemu-debian-kernel'), log);
  for (const f of [image.kernel, image.initrd].filter(Boolean)) if (!existsSync(f)) throw inputError(`target ${h.name}: ${f}: no such file`);

  const stateDir = path.join(os.tmpdir(), `hg-qemu-${process.pid}-${h.name}`);
  await rm(stateDir, { recursive: true, force: true });
  const share = path.join(stateDir, 'share');
  await mkdir(share, { recursive: true, mode: 0o700 });
  const keygen = async (file: string) => {
    const r = await runCommand(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `headgate-qemu-${h.name}`, '-f', file]);
    if (r.code !== 0) throw infraError(`qemu: ssh-keygen exited ${r.code}`);
  };
  await keygen(path.join(share, 'ssh_host_ed25519_key'));
  await keygen(path.join(stateDir, 'id_ed25519'));
  await writeFile(path.join(share, 'authorized_keys'), await readFile(path.join(stateDir, 'id_ed25519.pub')));
  await writeFile(
    path.join(share, 'sshd_config'),
    ['Port 22', 'HostKey /run/hg/ssh_host_ed25519_key', 'AuthorizedKeysFile /run/hg/authorized_keys', 'PidFile /run/sshd.pid', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'StrictModes no', 'UsePAM no', 'MaxSessions 64', 'SetEnv SHLVL=1', 'MaxStartups 64:30:128', ''].join('\n'),
  );
  await writeFile(path.join(share, 'guest-init.sh'), guestInitScript(), { mode: 0o755 });
  // The host key is ours (generated above), so it is pinned before the first connection.
  const sshPort = await freePort('127.0.0.1');
  const hostPub = (await readFile(path.join(share, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  await writeFile(path.join(stateDir, 'known_hosts'), `[127.0.0.1]:${sshPort} ${hostPub}\n`);

  const kvm = await kvmUsable();
  const consoleLog = path.join(stateDir, 'console.log');
  const monitorSock = path.join(stateDir, 'monitor.sock');
  const memory = q.memoryMiB ?? 1024;
  const cpus = q.cpus ?? 1;
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', 'q35', '-accel', kvm ? 'kvm' : 'tcg', '-cpu', kvm ? 'host' : 'max',
    '-m', String(memory), '-smp', String(cpus),
    '-kernel', image.kernel, ...(image.initrd ? ['-initrd', image.initrd] : []),
    // The kernel's boot log (loglevel 6: info) goes to the console file attached to the report.
    '-append', q.append ?? 'console=ttyS0 panic=-1 loglevel=6',
    '-serial', `file:${consoleLog}`,
    '-monitor', `unix:${monitorSock},server,nowait`,
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${share},mount_tag=hg,security_model=none,readonly=on`,
    '-no-reboot',
  ];
  const mode = kvm ? 'KVM' : 'software emulation (TCG): numbers from this target are not performance numbers';
  log(`qemu: booting ${image.release} on ${h.name} (${mode}; ssh 127.0.0.1:${sshPort}; console ${consoleLog})`);
  // child_process, not zx: the VM outlives this call, is polled (exitCode) and stopped by close().
  const proc = spawn(qemuBin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let qemuErr = '';
  proc.stderr!.on('data', (b: Buffer) => (qemuErr += b.toString()));
  const spawnFailed = new Promise<string>((resolve) => proc.on('error', (e) => resolve(e.message)));
  const t0 = Date.now();
  const deadline = t0 + (q.bootTimeoutSec ?? 180) * 1000;
  const fail = async (why: string) => {
    if (proc.exitCode === null && proc.signalCode === null) killProcessGroup(proc.pid, 'SIGKILL');
    const tail = await consoleTail(consoleLog);
    await rm(stateDir, { recursive: true, force: true });
    return infraError(`qemu ${h.name}: ${why}; console: ${tail}`);
  };
  while (!(await canConnect('127.0.0.1', sshPort))) {
    const err = await Promise.race([spawnFailed, sleep(500).then(() => null)]);
    if (err) throw await fail(`${qemuBin} could not start (${err})`);
    if (proc.exitCode !== null) throw await fail(`QEMU exited (${proc.exitCode}) before the guest came up: ${qemuErr.trim().split('\n').pop() ?? ''}`);
    if (Date.now() > deadline) throw await fail(`the guest did not come up within ${q.bootTimeoutSec ?? 180} s`);
  }
  const notes = [kvm ? `booted under QEMU with KVM (${cpus} vCPU, ${memory} MiB)` : `booted under QEMU software emulation (TCG, no usable /dev/kvm): timings are not performance numbers`];
  const t = new QemuTarget(
    { name: h.name, kind: 'qemu', host: '127.0.0.1', port: sshPort, user: 'root', identityFile: path.join(stateDir, 'id_ed25519'), knownHostsFile: path.join(stateDir, 'known_hosts'), workDir: '/var/tmp/headgate', connectTimeoutSec: 20 },
    proc,
    monitorSock,
    stateDir,
    consoleLog,
    notes,
  );
  // The forwarded port accepts before sshd runs in the guest: retry the login until the deadline.
  for (;;) {
    try {
      await t.connect(Math.max(1000, deadline - Date.now()));
      break;
    } catch (e) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw await fail(`the guest did not come up within ${q.bootTimeoutSec ?? 180} s (no ssh login: ${(e as Error).message})`);
      }
      await sleep(1000);
    }
  }
  log(`qemu: ${h.name} up after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return t;
}
