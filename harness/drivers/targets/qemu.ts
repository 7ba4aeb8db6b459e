import { localJournal, processStart } from '../../lib/journal.js';
import { constants, existsSync } from 'node:fs';
import { access, appendFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../lib/cleanup.js';
import { safeName } from '../../lib/confine.js';
import { formatCpuList, parseCpuList } from '../../lib/cpulist.js';
import { killProcessGroup, runCommand, startProcess, type ChildProcess } from '../../lib/exec.js';
import { freshPrivateDir } from '../../lib/home.js';
import { infraError, inputError } from '../../model/errors.js';
import { canConnect, freePort } from '../net/ports.js';
import type { InventoryHost } from './inventory.js';
import { debianKernelImage, guestInitScript, guestRootPlan, guestRootScript, hostRootEntries, stageGuestEtc, type GuestRoot, type GuestShare } from './qemu-image.js';
import { SshTarget } from './ssh.js';
import { bootName, bootRecord } from './boot.js';
import type { BootConfig, BootRecord } from '../../model/types.js';

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

/** How QEMU runs the guest (inventory qemu.accel; default auto). */
export type QemuAccel = 'auto' | 'kvm' | 'tcg';

/**
 * Default of qemu.kvmSilenceSec. With accel auto, a KVM guest that has printed nothing on its
 * serial console after this many seconds is stopped (its whole process group) and booted again
 * under TCG: Debian's kernel prints within about a second under KVM, while a nested KVM that
 * hangs prints nothing at all (seen on CI machines where /dev/kvm opens).
 */
export const KVM_SILENCE_SEC = 20;

/** QEMU's command line (pure, so what the guest may reach is checked by a unit test). */
export interface QemuArgsInput {
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd?: string;
  append: string;
  consoleLog: string;
  /** Append to the console file instead of truncating it (the TCG boot after a failed KVM one). */
  appendConsole?: boolean;
  monitorSock: string;
  /** The loopback port forwarded to the guest's sshd: the only forward at boot (servers' are added on the monitor). */
  sshPort: number;
  /** The 9p exports, all read-only: the guest sees nothing else of this machine. */
  shares: GuestShare[];
}

/** QEMU option values are comma-separated: a comma inside a value is written twice. */
const optValue = (s: string): string => s.replace(/,/g, ',,');

/** The arguments of qemu-system-x86_64 for one boot. */
export function qemuArgs(a: QemuArgsInput): string[] {
  return [
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', 'q35', '-accel', a.accel, '-cpu', a.accel === 'kvm' ? 'host' : 'max',
    '-m', String(a.memoryMiB), '-smp', String(a.cpus),
    '-kernel', a.kernel, ...(a.initrd ? ['-initrd', a.initrd] : []),
    // The kernel's boot log (loglevel 6: info) goes to the console file attached to the report.
    '-append', a.append,
    ...(a.appendConsole ? ['-chardev', `file,id=hgconsole,path=${optValue(a.consoleLog)},append=on`, '-serial', 'chardev:hgconsole'] : ['-serial', `file:${a.consoleLog}`]),
    '-monitor', `unix:${optValue(a.monitorSock)},server,nowait`,
    // restrict=on: the guest reaches nothing on this machine or beyond it; only forwards reach the guest.
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${a.sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0',
    ...a.shares.flatMap((s) => ['-virtfs', `local,path=${optValue(s.hostPath)},mount_tag=${s.tag},security_model=none,readonly=on,multidevs=remap`]),
    '-no-reboot',
  ];
}

/** How launchQemu starts QEMU. */
export interface QemuLaunch {
  /** The target's name, for messages. */
  host: string;
  /** The QEMU binary: qemu-system-x86_64 on PATH, or a test's stand-in. */
  bin: string;
  accel: QemuAccel;
  /** qemu.kvmSilenceSec (KVM_SILENCE_SEC by default). */
  kvmSilenceSec: number;
  /** qemu.bootTimeoutSec: a silence deadline at or past it is not watched (the boot deadline fails first, as before). */
  bootTimeoutSec: number;
  consoleLog: string;
  /** The kernel writes to the serial console (console=ttyS0): without it silence proves nothing. */
  consoleWatched: boolean;
  /** "1 vCPU, 1024 MiB", for the notes. */
  shape: string;
  args: (accel: 'kvm' | 'tcg', appendConsole: boolean) => string[];
  /** Whether /dev/kvm opens (kvmUsable unless a test says otherwise). */
  kvmUsable?: () => Promise<boolean>;
  log: (line: string) => void;
  /** Runs after the silent KVM QEMU is gone and before the TCG one starts (e.g. removes its monitor socket). */
  beforeRetry?: () => Promise<void>;
}

/** A started QEMU (the guest may still be booting). */
export interface QemuLaunched {
  proc: ChildProcess;
  accel: 'kvm' | 'tcg';
  /** When this QEMU started: the boot deadline counts from here. */
  startedAt: number;
  /** How the guest runs and why, for the target's notes (run.json target.notes). */
  notes: string[];
  /** Why KVM was given up after trying it (accel auto), when it was. */
  fallback?: string;
  /** Resolves with the reason when the binary could not be started at all. */
  spawnFailed: Promise<string>;
  /** Resolves once QEMU has exited and its stderr has been read to the end. */
  closed: Promise<void>;
  stderr(): string;
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

function startQemu(bin: string, args: string[]): Omit<QemuLaunched, 'accel' | 'notes'> {
  // Streamed (lib/exec.ts startProcess): the VM outlives this call, is polled (exitCode) and stopped by close().
  const proc = startProcess([bin, ...args], { stderr: 'pipe' }).child;
  // Journaled (pid and start time) so a harness SIGKILLed while the VM runs leaves it to the next command to stop.
  const start = proc.pid ? processStart(proc.pid) : null;
  if (proc.pid && start) {
    const id = localJournal().record(`stop QEMU (pid ${proc.pid})`, { kind: 'kill-group', pid: proc.pid, start, program: path.basename(bin) }).catch(() => null);
    proc.once('exit', () => void id.then((x) => (x ? localJournal().done(x) : undefined)).catch(() => {}));
  }
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const spawnFailed = new Promise<string>((resolve) => proc.on('error', (e) => resolve(e.message)));
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  return { proc, startedAt: Date.now(), spawnFailed, closed, stderr: () => err };
}

/** SIGKILLs a QEMU's whole process group (it leads one) and waits, 10 s at most, until it has exited. */
async function stopQemu(proc: ChildProcess): Promise<boolean> {
  if (!proc.pid || proc.exitCode !== null || proc.signalCode !== null) return true;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  killProcessGroup(proc.pid, 'SIGKILL');
  return Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
}

/**
 * Why a KVM guest is given up on, or null when it works: it printed nothing on its console for
 * silenceSec, or QEMU ended before the guest printed anything. A binary that cannot start at all
 * is null too (TCG would not help; the caller reports it).
 */
async function kvmTrouble(q: Omit<QemuLaunched, 'accel' | 'notes'>, consoleLog: string, silenceSec: number): Promise<string | null> {
  let spawnFailed = false;
  void q.spawnFailed.then(() => (spawnFailed = true));
  for (;;) {
    await sleep(200);
    if (spawnFailed) return null;
    if ((await stat(consoleLog).catch(() => null))?.size) return null;
    if (q.proc.exitCode !== null || q.proc.signalCode !== null) {
      await Promise.race([q.closed, sleep(1000)]);
      return `QEMU ended (${q.proc.exitCode ?? q.proc.signalCode}) under KVM before the guest printed anything: ${lastLine(q.stderr())}`;
    }
    if (Date.now() - q.startedAt >= silenceSec * 1000) return `the guest printed nothing on its console for ${silenceSec} s under KVM (qemu.kvmSilenceSec)`;
  }
}

/**
 * Starts QEMU with the accelerator qemu.accel asks for. `tcg` never tries KVM; `kvm` uses it or is
 * an infrastructure error, and a KVM guest that hangs fails by the boot deadline as before; `auto`
 * (the default) uses KVM when /dev/kvm opens, and when that guest stays silent on its console for
 * kvmSilenceSec (or QEMU ends before it printed anything), kills that QEMU's process group, says
 * why in the console log, the notes and the log, and boots again under TCG.
 */
export async function launchQemu(o: QemuLaunch): Promise<QemuLaunched> {
  const slow = 'timings are not performance numbers';
  if (o.accel === 'tcg') return { ...startQemu(o.bin, o.args('tcg', false)), accel: 'tcg', notes: [`booted under QEMU software emulation (TCG, qemu.accel tcg): ${slow}`] };
  if (!(await (o.kvmUsable ?? kvmUsable)())) {
    if (o.accel === 'kvm') throw infraError(`qemu ${o.host}: qemu.accel is kvm, but /dev/kvm is missing or does not open read-write on this machine`, 'set qemu.accel to auto (falls back to TCG) or tcg, or let the harness open /dev/kvm');
    return { ...startQemu(o.bin, o.args('tcg', false)), accel: 'tcg', notes: [`booted under QEMU software emulation (TCG, no usable /dev/kvm): ${slow}`] };
  }
  const first = startQemu(o.bin, o.args('kvm', false));
  const onKvm: QemuLaunched = { ...first, accel: 'kvm', notes: [`booted under QEMU with KVM (${o.shape})`] };
  if (o.accel === 'kvm' || !o.consoleWatched || o.kvmSilenceSec >= o.bootTimeoutSec) return onKvm;
  const why = await kvmTrouble(first, o.consoleLog, o.kvmSilenceSec);
  if (!why) return onKvm;
  const gone = await stopQemu(first.proc);
  await appendFile(o.consoleLog, `headgate: ${why}; that QEMU was killed${gone ? '' : ' (but had not exited 10 s after SIGKILL)'}; booting again under software emulation (TCG)\n`);
  o.log(`qemu: ${o.host}: ${why}: booting again under software emulation (TCG)`);
  await o.beforeRetry?.();
  return { ...startQemu(o.bin, o.args('tcg', true)), accel: 'tcg', fallback: why, notes: [`booted under QEMU software emulation (TCG) because KVM did not work here: ${why}; ${slow}`] };
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
  /** Boots the guest again with another kernel or command line (set by openQemuTarget). */
  relaunch?: (boot: BootConfig) => Promise<{ proc: ChildProcess; method: string }>;
  /** This machine's CPUs QEMU runs on under a CPU split (pinServer); null: wherever it was started. */
  private hostCpus: readonly number[] | null = null;
  constructor(
    spec: ConstructorParameters<typeof SshTarget>[0],
    private proc: ChildProcess,
    private readonly monitorSock: string,
    private readonly stateDir: string,
    readonly consoleLog: string,
    readonly notes: string[],
  ) {
    super(spec);
  }

  /**
   * A kernel A/B's reboot: powers the guest off, then boots QEMU again on the same state
   * directory, ssh port and keys with the configuration's kernel, initrd and added command line
   * (the console log keeps every boot), and waits for the ssh login.
   */
  override async reboot(boot: BootConfig, side: 'A' | 'B', log: (line: string) => void): Promise<BootRecord> {
    if (!this.relaunch) throw infraError(`qemu ${this.name}: this target cannot reboot`);
    const t0 = Date.now();
    log(`qemu: ${this.name}: rebooting into ${side} (${boot.label})`);
    await this.powerOff();
    await appendFile(this.consoleLog, `\nheadgate: reboot into ${side} (${boot.label})\n`).catch(() => {});
    const { proc, method } = await this.relaunch(boot);
    this.proc = proc;
    // The new QEMU inherited this process's affinity (the load's CPUs under a split): back to the server's.
    await this.applyPin(log);
    return bootRecord(this, side, boot.label, t0, method);
  }

  /** Keeps every QEMU thread (vCPUs, I/O, emulation) on these CPUs of this machine, also after reboots. */
  async pinServer(cpus: readonly number[], log: (line: string) => void): Promise<void> {
    this.hostCpus = [...cpus];
    await this.applyPin(log);
  }

  /** Sets the affinity of every thread of the running QEMU (taskset -a) to hostCpus, and says what it read back. */
  private async applyPin(log: (line: string) => void): Promise<void> {
    const pid = this.proc.pid;
    if (!this.hostCpus || pid === undefined) return;
    const list = formatCpuList(this.hostCpus);
    const r = await runCommand(['taskset', '-a', '-p', '-c', list, String(pid)], { timeoutMs: 10_000 });
    if (r.code !== 0) throw infraError(`qemu ${this.name}: taskset -a -p -c ${list} ${pid} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    // taskset prints "pid N's new affinity list: L" for every thread it set.
    const threads = [...r.stdout.matchAll(/new affinity list: (\S+)/g)].map((m) => m[1]);
    if (threads.length === 0 || threads.some((t) => formatCpuList(parseCpuList(t)) !== list)) throw infraError(`qemu ${this.name}: QEMU pid ${pid} is not on CPU ${list} after taskset (${r.stdout.trim().split('\n').pop()})`);
    log(`qemu: ${this.name}: QEMU pid ${pid} pinned to CPU ${list} (${threads.length} threads)`);
  }

  /** A QEMU boot takes kernel and initrd files of this machine: both must exist (exit 2 naming the flag). */
  override async checkBoot(boot: BootConfig): Promise<void> {
    for (const f of [boot.kernel, boot.initrd].filter((x): x is string => !!x)) if (!existsSync(f)) throw inputError(`${bootName(boot)}: ${f}: no such file on this machine`);
  }

  /** Powers the guest off (sysrq o after sync) and ends the ssh master; QEMU exits (killed if it does not). */
  private async powerOff(): Promise<void> {
    try {
      // Detached and delayed, so the ssh session ends before the guest powers off under it.
      await this.exec(['sh', '-c', 'sync; (sleep 0.5; echo o > /proc/sysrq-trigger) > /dev/null 2>&1 &'], { allowFail: true, timeoutMs: 10_000 }).catch(() => {});
    } finally {
      await super.close();
      const exited = new Promise<void>((r) => (this.proc.exitCode !== null || this.proc.signalCode !== null ? r() : this.proc.once('exit', () => r())));
      if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
        killProcessGroup(this.proc.pid, 'SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (this.proc.exitCode === null && this.proc.signalCode === null) killProcessGroup(this.proc.pid, 'SIGKILL');
      }
    }
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
      await this.powerOff();
    } finally {
      await rm(this.stateDir, { recursive: true, force: true });
      await forgetStateDir(this.stateDir);
    }
  }
}

/** Journal entries of the QEMU state directories this process made, by directory. */
const stateDirJournal = new Map<string, string>();

/** Marks a removed state directory's journal entry done. */
async function forgetStateDir(dir: string): Promise<void> {
  const id = stateDirJournal.get(dir);
  stateDirJournal.delete(dir);
  if (id) await localJournal().done(id).catch(() => {});
}

/** What openQemuTarget takes from its caller besides the inventory (tests give stand-ins). */
export interface QemuDeps {
  /** The QEMU binary (default qemu-system-x86_64 on PATH). */
  qemuBin?: string;
  kvmUsable?: () => Promise<boolean>;
}

/**
 * Boots a kernel under QEMU: the inventory's kernel + initrd (or, by default, Debian's stock
 * kernel with an initramfs the harness builds, on this machine's own userspace: /usr and the
 * /bin, /sbin, /lib* it needs shared read-only over 9p, and a copy of /etc without secrets; see
 * guestRootPlan), with the accelerator qemu.accel asks for (launchQemu), the serial console
 * captured, and user networking that only lets in ssh on a free loopback port and the forwards
 * added later. A guest that does not answer ssh by the boot deadline is exit 3 with the console's
 * last lines.
 */
export async function openQemuTarget(h: InventoryHost, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`), deps: QemuDeps = {}): Promise<QemuTarget> {
  // The name becomes part of a state directory removed with rm -rf: checked before anything else.
  const name = safeName('--target qemu:NAME', h.name);
  const q = h.qemu ?? {};
  if (q.disk) throw inputError(`target ${h.name}: qemu.disk (booting a disk image) is not supported by this build; give qemu.kernel and qemu.initrd, or nothing for Debian's kernel`);
  const qemuBin = deps.qemuBin ?? 'qemu-system-x86_64';
  const image = q.kernel
    ? { kernel: q.kernel, initrd: q.initrd ?? '', release: path.basename(q.kernel) }
    : await debianKernelImage(path.join(process.env.HEADGATE_CACHE ?? path.join(os.homedir(), '.cache', 'headgate'), 'qemu-debian-kernel'), log);
  for (const f of [image.kernel, image.initrd].filter(Boolean)) if (!existsSync(f)) throw inputError(`target ${h.name}: ${f}: no such file`);

  // The guest's keys, config and console: a fresh private directory in headgate's home (random
  // name, 0700), removed with rm -rf when the guest stops; journaled at once, so a dead run's copy
  // does not linger.
  const stateDir = freshPrivateDir('qemu', `${name}-`);
  await localJournal().record(`remove ${stateDir}`, { kind: 'rm', path: stateDir }).then((id) => stateDirJournal.set(stateDir, id));
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
  // What the guest sees of this machine: /usr (and /bin, /sbin, /lib* or their symlinks) and an
  // /etc copy without secrets, in the state directory (removed with it).
  const etcCopy = path.join(stateDir, 'etc');
  let root: GuestRoot;
  try {
    const { omitted, redacted } = await stageGuestEtc('/etc', etcCopy);
    root = guestRootPlan(await hostRootEntries('/'), '/', etcCopy);
    await writeFile(path.join(share, 'guest-root.sh'), guestRootScript(root), { mode: 0o644 });
    const listed = `${omitted.slice(0, 4).join(', ')}${omitted.length > 4 ? ', ...' : ''}`;
    log(`qemu: ${h.name} sees ${root.shares.map((x) => x.guestPath).join(', ')} read-only; its /etc leaves out ${omitted.length} secret or root-only entries (${listed})${redacted.length ? ` and has ${redacted.join(', ')} without password hashes` : ''}`);
  } catch (e) {
    await rm(stateDir, { recursive: true, force: true });
    await forgetStateDir(stateDir);
    throw e;
  }
  // The host key is ours (generated above), so it is pinned before the first connection.
  const sshPort = await freePort('127.0.0.1');
  const hostPub = (await readFile(path.join(share, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  await writeFile(path.join(stateDir, 'known_hosts'), `[127.0.0.1]:${sshPort} ${hostPub}\n`);

  const consoleLog = path.join(stateDir, 'console.log');
  const monitorSock = path.join(stateDir, 'monitor.sock');
  const memory = q.memoryMiB ?? 1024;
  const cpus = q.cpus ?? 1;
  const bootTimeoutSec = q.bootTimeoutSec ?? 180;
  const baseAppend = q.append ?? 'console=ttyS0 panic=-1 loglevel=6';
  const shares: GuestShare[] = [...root.shares, { tag: 'hg', hostPath: share, guestPath: '/run/hg' }];
  let accel: QemuAccel = q.accel ?? 'auto';
  const spec = { name: h.name, kind: 'qemu', host: '127.0.0.1', port: sshPort, user: 'root', identityFile: path.join(stateDir, 'id_ed25519'), knownHostsFile: path.join(stateDir, 'known_hosts'), connectTimeoutSec: 20 };
  let booted = 0;
  /** One boot: QEMU started with the given kernel and command line, the guest's ssh login waited for (bounded by the boot deadline). */
  const bootGuest = async (img: { kernel: string; initrd: string; release: string }, append: string, t: QemuTarget | null): Promise<{ proc: ChildProcess; notes: string[]; method: string; target: QemuTarget }> => {
    const again = booted++ > 0;
    const consoleWatched = /(^|\s)console=ttyS0(\s|,|$)/.test(append);
    if (accel === 'auto' && !consoleWatched) log(`qemu: ${h.name}: qemu.append has no console=ttyS0, so a silent KVM guest cannot be told from a working one: no fallback to TCG`);
    const args = (a: 'kvm' | 'tcg', appendConsole: boolean) =>
      qemuArgs({ accel: a, memoryMiB: memory, cpus, kernel: img.kernel, initrd: img.initrd, append, consoleLog, appendConsole: appendConsole || again, monitorSock, sshPort, shares });
    log(`qemu: booting ${img.release} on ${h.name} (qemu.accel ${accel}; ssh 127.0.0.1:${sshPort}; console ${consoleLog})`);
    await rm(monitorSock, { force: true });
    let launched: QemuLaunched;
    try {
      launched = await launchQemu({
        host: h.name, bin: qemuBin, accel, kvmSilenceSec: q.kvmSilenceSec ?? KVM_SILENCE_SEC, bootTimeoutSec, consoleLog, consoleWatched,
        shape: `${cpus} vCPU, ${memory} MiB`, args, kvmUsable: deps.kvmUsable, log,
        beforeRetry: () => rm(monitorSock, { force: true }),
      });
    } catch (e) {
      await rm(stateDir, { recursive: true, force: true });
      await forgetStateDir(stateDir);
      throw e;
    }
    // A reboot keeps the accelerator the first boot settled on (a KVM that hung is not tried again).
    accel = launched.accel;
    const { proc, spawnFailed, notes } = launched;
    if (launched.accel === 'tcg' && !again) log(`qemu: ${h.name} runs under software emulation (TCG): numbers from this target are not performance numbers`);
    // A TCG boot after a failed KVM one gets the whole boot deadline.
    const deadline = launched.startedAt + bootTimeoutSec * 1000;
    const within = `within ${bootTimeoutSec} s${launched.fallback ? ` under TCG (after KVM: ${launched.fallback})` : ''}`;
    const fail = async (why: string) => {
      if (proc.exitCode === null && proc.signalCode === null) killProcessGroup(proc.pid, 'SIGKILL');
      const tail = await consoleTail(consoleLog);
      await rm(stateDir, { recursive: true, force: true });
      await forgetStateDir(stateDir);
      return infraError(`qemu ${h.name}: ${why}; console: ${tail}`);
    };
    while (!(await canConnect('127.0.0.1', sshPort))) {
      const err = await Promise.race([spawnFailed, sleep(500).then(() => null)]);
      if (err) throw await fail(`${qemuBin} could not start (${err})`);
      if (proc.exitCode !== null) throw await fail(`QEMU exited (${proc.exitCode}) before the guest came up: ${lastLine(launched.stderr())}`);
      if (Date.now() > deadline) throw await fail(`the guest did not come up ${within}`);
    }
    const target = t ?? new QemuTarget(spec, proc, monitorSock, stateDir, consoleLog, notes);
    // The forwarded port accepts before sshd runs in the guest: retry the login until the deadline.
    for (;;) {
      try {
        await target.connect(Math.max(1000, deadline - Date.now()));
        break;
      } catch (e) {
        if (Date.now() > deadline || proc.exitCode !== null) {
          throw await fail(`the guest did not come up ${within} (no ssh login: ${(e as Error).message})`);
        }
        await sleep(1000);
      }
    }
    return { proc, notes, target, method: `qemu (${launched.accel}) -kernel ${img.kernel}${img.initrd ? ` -initrd ${img.initrd}` : ''} -append '${append}'` };
  };
  const t0 = Date.now();
  const { target: t } = await bootGuest(image, baseAppend, null);
  t.relaunch = async (boot) => {
    await t.checkBoot(boot);
    // A kernel given alone boots with the target's initrd (which must suit it: the guest loads this machine's modules).
    const img = boot.kernel ? { kernel: boot.kernel, initrd: boot.initrd ?? image.initrd, release: path.basename(boot.kernel) } : { ...image, initrd: boot.initrd ?? image.initrd };
    const r = await bootGuest(img, boot.append ? `${baseAppend} ${boot.append}` : baseAppend, t);
    return { proc: r.proc, method: r.method };
  };
  log(`qemu: ${h.name} up after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return t;
}
