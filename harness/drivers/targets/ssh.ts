import { localJournal, type Journal } from '../../lib/journal.js';
import { RemoteJournal } from '../journal.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../lib/cleanup.js';
import { killProcessGroup, runCommand } from '../../lib/exec.js';
import { infraError, inputError } from '../../model/errors.js';
import { hasControlChars } from '../../lib/confine.js';
import type { OsAdapter } from '../os/adapter.js';
import { adapterFor } from '../os/index.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target, TargetLab } from './target.js';
import type { BootConfig, BootRecord } from '../../model/types.js';
import { bootId, bootName, bootRecord, freebsdAppend, freebsdBootCommands, freebsdBootFile } from './boot.js';

/** How to reach one ssh target (from the inventory or `ssh:[user@]host[:port]`). */
export interface SshSpec {
  name: string;
  /** Host for ssh: an address or a ~/.ssh/config alias. */
  host: string;
  /** Address the load client uses to reach servers on the target (default: host). */
  address?: string;
  user?: string;
  port?: number;
  identityFile?: string;
  /** A known_hosts file to check the host key against (default: ssh's own files). */
  knownHostsFile?: string;
  /** Extra `-o Key=Value` options, e.g. ProxyJump for a jump host. */
  options?: Record<string, string>;
  /** Use `sudo -n` for commands (default: when the user is not root). */
  sudo?: boolean;
  /** Directory on the target for run files and objects. */
  workDir?: string;
  connectTimeoutSec?: number;
  lab?: TargetLab;
  kind?: string;
  /** How `ab --a-boot/--b-boot` reboots it (inventory `boot`). */
  boot?: BootHook;
}

/** Inventory `boot`: how a kernel A/B reboots an appliance into a configuration. */
export interface BootHook {
  /**
   * A command run on this machine (argv, no shell) that makes the target's next boot use the
   * configuration and reboots it; it gets HEADGATE_TARGET, HEADGATE_BOOT_SIDE, HEADGATE_BOOT_LABEL,
   * HEADGATE_BOOT_KERNEL, HEADGATE_BOOT_INITRD and HEADGATE_BOOT_APPEND. Without one, a FreeBSD
   * appliance uses `nextboot -k` (one-shot) and `shutdown -r now`.
   */
  hook?: string[];
  /** Seconds from the reboot request until the target must answer ssh again (default 600). */
  timeoutSec?: number;
}


/**
 * Refuses an ssh destination, user or address that ssh could read as an option (a leading '-',
 * as in `ssh:-oProxyCommand=...`) or that holds whitespace or control characters; exit 2 naming
 * `what` (the flag, or the inventory file and key) and the value.
 */
export function checkSshWord(what: string, value: string): string {
  if (value === '' || value.startsWith('-') || /\s/.test(value) || hasControlChars(value)) {
    throw inputError(`${what} ${JSON.stringify(value)}: not an ssh host or user (empty, starts with '-', or holds whitespace or control characters)`);
  }
  return value;
}

/** Host-key checking switched off (or to trust-on-first-use) by an option value. */
const NO_HOST_KEY_CHECK = /StrictHostKeyChecking\s*[= ]\s*["']?(no|off|accept-new)\b/i;

/**
 * Refuses an extra ssh option (`sshOptions` in the inventory) that is not a plain Key=Value or
 * that turns host-key checking off: the docs promise host keys are always checked.
 */
export function checkSshOption(what: string, key: string, value: string): void {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) throw inputError(`${what}: ${JSON.stringify(key)} is not an ssh option name`);
  if (hasControlChars(value)) throw inputError(`${what} ${JSON.stringify(value)}: control characters in an ssh option value`);
  const off = key.toLowerCase() === 'stricthostkeychecking' ? /^\s*["']?(no|off|accept-new)["']?\s*$/i.test(value) : NO_HOST_KEY_CHECK.test(value);
  if (off) throw inputError(`${what} ${JSON.stringify(value)}: switches ssh host-key checking off; headgate always checks host keys (record the key in knownHostsFile instead)`);
}

/** POSIX single-quoting: safe in sh, dash, bash, ksh and zsh whatever the argument holds. */
export function shQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** One remote command line from argv: every word quoted, run under the remote `timeout` so a local abort really stops it. */
export function remoteCommand(argv: string[], o: { sudo: boolean; timeoutSec?: number }): string {
  const words = [...(o.sudo ? ['sudo', '-n'] : []), ...(o.timeoutSec ? ['timeout', '-k', '5', String(o.timeoutSec)] : []), ...argv];
  return words.map(shQuote).join(' ');
}

/** The marker line a pid-reporting remote command writes first on stderr. */
const PID_MARK = 'headgate-remote-pid';

/**
 * A remote command that first reports its pid on stderr, then execs itself: that pid is the
 * command's (or its sudo's/timeout's, which pass signals on), so Ctrl-C can stop it on the target.
 */
export function pidReporting(command: string): string {
  return `sh -c 'echo "${PID_MARK} $$" >&2; exec "$@"' sh ${command}`;
}

/** The reported remote pid (if any) and the stderr without the marker line. */
export function takeRemotePid(stderr: string): { pid: number | null; stderr: string } {
  const m = new RegExp(`^${PID_MARK} (\\d+)\\n?`, 'm').exec(stderr);
  return { pid: m ? Number(m[1]) : null, stderr: m ? stderr.replace(m[0], '') : stderr };
}

/** What an ssh failure (exit 255) means, from its stderr. */
export function classifySshFailure(stderr: string): 'host-key-unknown' | 'host-key-changed' | 'auth' | 'unreachable' | 'dropped' | 'other' {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) return 'host-key-changed';
  if (/No .*host key is known|Host key verification failed/i.test(stderr)) return 'host-key-unknown';
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return 'auth';
  if (/Connection refused|timed out|No route to host|Could not resolve|Network is unreachable|Name or service not known/i.test(stderr)) return 'unreachable';
  if (/closed by remote host|Connection reset|Broken pipe|Connection closed|lost connection|client_loop|mux_client/i.test(stderr)) return 'dropped';
  return 'other';
}

/**
 * A lab appliance reached with the system OpenSSH client, so ~/.ssh/config, agents and jump hosts
 * work as the engineer set them up. One shared master connection (ControlMaster) per target,
 * BatchMode (never a prompt), host keys always checked, sudo when the user is not root.
 */
export class SshTarget implements Target {
  /** The target's restore journal, in its work directory (written over ssh before each change). */
  get journal(): Journal | undefined {
    return this.workDir ? (this.journalFile ??= new RemoteJournal(this, path.posix.join(this.workDir, 'journal.jsonl'))) : undefined;
  }
  private journalFile?: RemoteJournal;

  readonly kind: string;
  readonly name: string;
  readonly address: string;
  readonly workDir: string;
  readonly lab?: TargetLab;
  runsAsRoot = false;
  private sudo = false;
  private adapter?: OsAdapter;
  private readonly controlPath: string;
  private readonly children = new Set<ChildProcess>();
  private connected = false;

  constructor(private readonly spec: SshSpec) {
    const at = `target ${spec.name}:`;
    checkSshWord(`${at} host`, spec.host);
    if (spec.user !== undefined) checkSshWord(`${at} user`, spec.user);
    if (spec.address !== undefined) checkSshWord(`${at} address`, spec.address);
    for (const [k, v] of Object.entries(spec.options ?? {})) checkSshOption(`${at} sshOptions.${k}`, k, v);
    this.kind = spec.kind ?? 'ssh';
    this.name = spec.name;
    this.address = spec.address ?? spec.host;
    this.workDir = spec.workDir ?? '/var/tmp/headgate';
    this.lab = spec.lab;
    // Unix socket paths are limited to ~100 bytes: a short hash under the temp dir.
    const id = createHash('sha256').update(`${process.pid}:${spec.user ?? ''}@${spec.host}:${spec.port ?? 22}:${spec.name}`).digest('hex').slice(0, 12);
    this.controlPath = path.join(os.tmpdir(), `hg-ssh-${id}`);
  }

  /** Where ssh connects, for messages. */
  get where(): string {
    return `${this.spec.user ? `${this.spec.user}@` : ''}${this.spec.host}${this.spec.port ? `:${this.spec.port}` : ''}`;
  }

  /** The ssh arguments before the command: options, then the destination. */
  sshArgs(extra: string[] = []): string[] {
    // ssh keeps the first value of an option: host-key checking goes first, so nothing after it can switch it off.
    const o: Record<string, string> = {
      StrictHostKeyChecking: 'yes',
      BatchMode: 'yes',
      ConnectTimeout: String(this.spec.connectTimeoutSec ?? 10),
      ControlMaster: 'auto',
      ControlPath: this.controlPath,
      ControlPersist: '120',
      ServerAliveInterval: '5',
      ServerAliveCountMax: '3',
      LogLevel: 'ERROR',
      ...(this.spec.knownHostsFile ? { UserKnownHostsFile: this.spec.knownHostsFile, GlobalKnownHostsFile: '/dev/null' } : {}),
      ...Object.fromEntries(Object.entries(this.spec.options ?? {}).filter(([k]) => k.toLowerCase() !== 'stricthostkeychecking')),
    };
    const args = Object.entries(o).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
    if (this.spec.port) args.push('-p', String(this.spec.port));
    if (this.spec.identityFile) args.push('-i', this.spec.identityFile, '-o', 'IdentitiesOnly=yes');
    if (this.spec.user) args.push('-l', this.spec.user);
    // `--`: the destination is never read as an option, whatever it holds.
    return [...args, ...extra, '--', this.spec.host];
  }

  /**
   * Runs one ssh invocation; resolves with its output and exit code (255 = ssh itself failed).
   * On child_process, not zx: upload and download stream a whole tree through ssh's stdin/stdout,
   * which zx would also keep in memory. Detached, so its timeout kills its group (ProxyCommand
   * too); a ControlPersist master leaves the group (it daemonizes) and survives.
   */
  private runSsh(command: string, o: { input?: string | Buffer; timeoutMs?: number; stdout?: NodeJS.WritableStream; stdin?: NodeJS.ReadableStream; signal?: AbortSignal } = {}): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = spawn('ssh', [...this.sshArgs(), command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      this.children.add(child);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      if (o.stdout) child.stdout.pipe(o.stdout);
      else child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.stdin.on('error', () => {});
      if (o.stdin) o.stdin.pipe(child.stdin);
      else child.stdin.end(o.input ?? '');
      const timer = o.timeoutMs ? setTimeout(() => killProcessGroup(child.pid, 'SIGKILL'), o.timeoutMs) : undefined;
      // Ctrl-C: the local ssh goes at once; the remote command ends with its session (and by its own `timeout` at the latest).
      const onAbort = () => killProcessGroup(child.pid, 'SIGTERM');
      o.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => err.push(Buffer.from(`ssh: ${e.message}`)));
      child.on('close', (code, sig) => {
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        this.children.delete(child);
        resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? (sig ? 255 : -1) });
      });
    });
  }

  /** The one-line error for an ssh failure, with what to do about it. */
  private async sshError(stderr: string): Promise<Error> {
    const first = stderr.trim().split('\n').filter(Boolean).pop() ?? 'ssh failed';
    switch (classifySshFailure(stderr)) {
      case 'host-key-unknown': {
        const fp = await this.scanFingerprints();
        return infraError(
          `target ${this.name}: host key of ${this.where} is not known${fp ? `; it offers ${fp}` : ''}`,
          `verify the fingerprint out of band, then add it: ssh-keyscan ${this.spec.port ? `-p ${this.spec.port} ` : ''}${this.spec.host} >> ${this.spec.knownHostsFile ?? '~/.ssh/known_hosts'}`,
        );
      }
      case 'host-key-changed':
        return infraError(`target ${this.name}: host key of ${this.where} CHANGED since it was recorded (${first})`, 'find out why before removing the old key');
      case 'auth':
        return infraError(`target ${this.name}: ssh login to ${this.where} refused (${first})`, 'check the user, key and agent (BatchMode: no password prompts)');
      case 'unreachable':
        return infraError(`target ${this.name}: ${this.where} unreachable (${first})`);
      case 'dropped':
        return infraError(`target ${this.name}: ssh connection to ${this.where} lost (${first})`);
      default:
        return infraError(`target ${this.name}: ssh to ${this.where} failed (${first})`);
    }
  }

  /** The host's key fingerprints (for the unknown-host message), or '' if they cannot be read. */
  private async scanFingerprints(): Promise<string> {
    // Best effort, for a message: a missing tool or a failed scan just leaves the fingerprint out.
    const scan = await runCommand(['ssh-keyscan', '-T', '5', ...(this.spec.port ? ['-p', String(this.spec.port)] : []), '--', this.spec.host]).then((r) => r.stdout, () => '');
    if (!scan.trim()) return '';
    const fps = await runCommand(['ssh-keygen', '-l', '-f', '-'], { input: scan }).then((r) => r.stdout, () => '');
    // "256 SHA256:abc host (ED25519)" -> "SHA256:abc (ED25519)"
    return fps
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/))
      .filter((w) => w.length >= 4)
      .map((w) => `${w[1]} ${w[w.length - 1]}`)
      .join(', ');
  }

  /**
   * Opens the master connection and learns the remote user: fails with exit 3 and a clear
   * message when the host is unreachable, its key unknown, or sudo is needed but asks a password.
   */
  async connect(timeoutMs?: number): Promise<void> {
    // ConnectTimeout covers the TCP connect only; a forwarder that accepts for a host that never
    // answers (QEMU user networking) would hang on the banner: the whole login has a deadline too.
    const limit = timeoutMs ?? ((this.spec.connectTimeoutSec ?? 10) + 10) * 1000;
    // The first ssh starts a master that outlives this process by ControlPersist: journaled on this
    // machine, so a SIGKILLed harness leaves no master (nor its socket) behind.
    this.masterEntry ??= await localJournal()
      .record(`stop the ssh master for ${this.where}`, { kind: 'ssh-master', controlPath: this.controlPath })
      .catch(() => undefined);
    const r = await this.runSsh('id -u', { timeoutMs: limit });
    if (r.code !== 0) throw r.stderr.trim() ? await this.sshError(r.stderr) : infraError(`target ${this.name}: no ssh login to ${this.where} within ${Math.round(limit / 1000)} s`);
    const uid = r.stdout.trim();
    this.sudo = this.spec.sudo ?? uid !== '0';
    if (this.sudo) {
      const s = await this.runSsh('sudo -n true');
      if (s.code !== 0) throw infraError(`target ${this.name}: user ${this.spec.user ?? '(default)'} is not root and \`sudo -n\` failed on ${this.where}: ${s.stderr.trim().split('\n').pop()}`, 'allow passwordless sudo for the harness user, or log in as root');
    }
    this.runsAsRoot = uid === '0' || this.sudo;
    this.connected = true;
  }

  /**
   * Runs a command on the target. ssh's own failures (exit 255 with an ssh diagnostic) are retried
   * twice over a fresh connection, then reported as exit 3; the remote command runs under
   * `timeout` so a deadline stops it on the target too.
   */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.connected) await this.connect();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const cmd = remoteCommand(argv, { sudo: this.sudo, timeoutSec: Math.ceil(timeoutMs / 1000) });
    let r: ExecResult = { stdout: '', stderr: '', code: -1 };
    // With a signal (fio, iperf3), the command reports its remote pid, so an abort stops it on the target too.
    const wrapped = opts.signal ? pidReporting(cmd) : cmd;
    for (let attempt = 0; attempt < 3; attempt++) {
      r = await this.runSsh(wrapped, { input: opts.input, timeoutMs: timeoutMs + 15_000, signal: opts.signal });
      if (opts.signal) {
        const { pid, stderr } = takeRemotePid(r.stderr);
        r = { ...r, stderr };
        if (opts.signal.aborted) {
          if (pid) await this.runSsh(remoteCommand(['kill', '-TERM', String(pid)], { sudo: this.sudo }), { timeoutMs: 15_000 }).catch(() => undefined);
          break;
        }
      }
      const kind = r.code === 255 ? classifySshFailure(r.stderr) : 'ok';
      if (kind !== 'dropped' && kind !== 'unreachable') break;
      await sleep(1000 * (attempt + 1));
    }
    if (r.code === 255 && classifySshFailure(r.stderr) !== 'other') throw await this.sshError(r.stderr);
    if (r.code === 124) {
      throw infraError(`target ${this.name}: \`${argv.join(' ')}\` did not finish within ${Math.ceil(timeoutMs / 1000)} s (stopped on the target)`);
    }
    if (r.code !== 0 && !opts.allowFail) {
      throw infraError(`target ${this.name}: \`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    }
    return r;
  }

  /**
   * Starts a long-running remote process. The remote shell prints its pid and execs the program,
   * so the pid is the program's; the local ssh stays open while it runs. kill() signals the
   * remote pid, not the local ssh (which would leave the process running on the target).
   */
  async spawn(argv: string[], opts: { logFile: string }): Promise<ProcessHandle> {
    if (!this.connected) await this.connect();
    const inner = `echo $$; exec ${argv.map(shQuote).join(' ')} >> ${shQuote(opts.logFile)} 2>&1 < /dev/null`;
    await this.exec(['mkdir', '-p', path.posix.dirname(opts.logFile)]);
    const cmd = remoteCommand(['sh', '-c', inner], { sudo: this.sudo });
    // child_process, not zx: this ssh lives as long as the remote process and is read as a stream.
    const child = spawn('ssh', [...this.sshArgs(), cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.children.add(child);
    let alive = true;
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | string>((resolve) => {
      child.on('close', (code, sig) => {
        alive = false;
        this.children.delete(child);
        resolve(code ?? sig ?? -1);
      });
      child.on('error', (e) => {
        alive = false;
        resolve(`ssh failed: ${e.message}`);
      });
    });
    const pid = await new Promise<number>((resolve) => {
      let buf = '';
      const onData = (b: Buffer) => {
        buf += b.toString();
        const m = /^(\d+)\n/.exec(buf);
        if (m) {
          child.stdout.off('data', onData);
          resolve(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      void exited.then(() => resolve(-1));
    });
    if (pid < 0) throw infraError(`target ${this.name}: could not start \`${argv.join(' ')}\`: ${err.trim().split('\n').pop() ?? 'ssh exited'}`);
    return {
      pid,
      exited,
      running: () => alive,
      kill: (signal = 'SIGTERM') => {
        if (!alive) return;
        void this.exec(['kill', `-${signal.replace(/^SIG/, '')}`, String(pid)], { allowFail: true, timeoutMs: 10_000 }).catch(() => {
          // The connection is gone: drop the local end; the remote side is cleaned up by close().
          killProcessGroup(child.pid, 'SIGKILL');
        });
      },
    };
  }

  async readFile(file: string): Promise<string> {
    return (await this.exec(['cat', file])).stdout;
  }

  async readFileIfExists(file: string): Promise<string | null> {
    const r = await this.exec(['sh', '-c', 'if [ -e "$1" ]; then cat "$1"; else exit 3; fi', 'sh', file], { allowFail: true });
    if (r.code === 3) return null;
    if (r.code !== 0) throw infraError(`target ${this.name}: cannot read ${file}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async writeFile(file: string, data: string | Buffer): Promise<void> {
    // Written to a temporary name and renamed, so a dropped connection never leaves half a file.
    await this.exec(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1.hg-tmp" && mv -f "$1.hg-tmp" "$1"', 'sh', file], { input: data });
  }

  /** tar streams over the shared connection (scp/rsync may be missing on an appliance). */
  async upload(localDir: string, targetDir: string, opts: { exclude?: string[] } = {}): Promise<void> {
    if (!this.connected) await this.connect();
    const excl = (opts.exclude ?? []).map((e) => `--exclude=./${e}`);
    // child_process, not zx: tar streams the tree into ssh (zx would keep it all in memory).
    const tar = spawn('tar', ['-C', localDir, ...excl, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const cmd = remoteCommand(['sh', '-c', 'mkdir -p "$1" && tar -C "$1" -xf -', 'sh', targetDir], { sudo: this.sudo });
    const r = await this.runSsh(cmd, { stdin: tar.stdout, timeoutMs: 600_000 });
    if (r.code !== 0) throw r.code === 255 ? await this.sshError(r.stderr) : infraError(`target ${this.name}: upload to ${targetDir} failed: ${r.stderr.trim().split('\n').pop()}`);
  }

  async download(targetDir: string, localDir: string): Promise<void> {
    if (!this.connected) await this.connect();
    await mkdir(localDir, { recursive: true });
    // child_process, not zx: tar reads the tree as ssh streams it.
    const tar = spawn('tar', ['-C', localDir, '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    const untarred = new Promise<number>((resolve) => tar.on('close', (c) => resolve(c ?? -1)));
    const cmd = remoteCommand(['tar', '-C', targetDir, '-cf', '-', '.'], { sudo: this.sudo });
    const r = await this.runSsh(cmd, { stdout: tar.stdin, timeoutMs: 600_000 });
    const code = await untarred;
    if (r.code !== 0 || code !== 0) throw r.code === 255 ? await this.sshError(r.stderr) : infraError(`target ${this.name}: download of ${targetDir} failed: ${r.stderr.trim().split('\n').pop() ?? `tar exited ${code}`}`);
  }

  async pickPort(): Promise<number> {
    // No way to bind on the target from here; a random high port, and nginx retries on a clash.
    return 20000 + Math.floor(Math.random() * 40000);
  }

  async which(program: string): Promise<string | null> {
    const r = await this.exec(['sh', '-c', 'PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/bin"; command -v "$1"', 'sh', program], { allowFail: true });
    const p = r.stdout.trim();
    return r.code === 0 && p.startsWith('/') ? p : null;
  }

  async os(): Promise<OsAdapter> {
    if (!this.adapter) this.adapter = adapterFor((await this.exec(['uname', '-s'])).stdout, this);
    return this.adapter;
  }

  /**
   * Kernel A/B on an appliance: the inventory's boot hook, or on FreeBSD `nextboot` and a
   * reboot; then waits (boot.timeoutSec) until ssh answers from a new boot (another boot id). A
   * FreeBSD kernel that did not come up (nextboot fell back to the default) is exit 3.
   */
  async reboot(boot: BootConfig, side: 'A' | 'B', log: (line: string) => void): Promise<BootRecord> {
    const t0 = Date.now();
    const before = await bootId(this);
    log(`target ${this.name}: rebooting into ${side} (${boot.label})`);
    const method = await this.selectBoot(boot, side, true);
    return this.awaitBoot(boot, side, before, t0, method);
  }

  /** Without a boot hook only a FreeBSD appliance can be rebooted into a configuration (nextboot); checked before any reboot. */
  async checkBoot(boot: BootConfig): Promise<void> {
    if (this.spec.boot?.hook?.length) return;
    const family = (await this.os()).family;
    if (family !== 'freebsd') {
      throw inputError(`${bootName(boot)}: target ${this.name} is a ${family} appliance: rebooting it into a boot configuration needs an inventory boot.hook (the command that selects its next boot and reboots it)`);
    }
    freebsdBootCommands(boot);
  }

  /**
   * Makes the next boot use the configuration: the inventory's hook (which reboots too), or on
   * FreeBSD nextboot, then (with `restart`) a detached shutdown -r. Returns how, for the record.
   */
  protected async selectBoot(boot: BootConfig, side: 'A' | 'B', restart: boolean): Promise<string> {
    const hook = this.spec.boot?.hook;
    if (hook?.length) {
      const env = { HEADGATE_TARGET: this.name, HEADGATE_BOOT_SIDE: side, HEADGATE_BOOT_LABEL: boot.label, HEADGATE_BOOT_KERNEL: boot.kernel ?? '', HEADGATE_BOOT_INITRD: boot.initrd ?? '', HEADGATE_BOOT_APPEND: boot.append ?? '' };
      const r = await runCommand(hook, { env, timeoutMs: (this.spec.boot?.timeoutSec ?? 600) * 1000 });
      if (r.code !== 0) throw infraError(`target ${this.name}: boot hook \`${hook.join(' ')}\` exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`);
      return `boot hook ${hook.join(' ')}`;
    }
    await this.checkBoot(boot);
    const steps = freebsdBootCommands(boot, { reboot: restart });
    for (const argv of steps) await this.exec(argv, { timeoutMs: 30_000 });
    return steps.map((a) => a.join(' ')).join('; ');
  }

  /**
   * Waits (boot.timeoutSec) until ssh answers from a new boot (another boot id), then records
   * what came up; a FreeBSD kernel or loader variable that did not take (nextboot fell back to
   * the default) is exit 3.
   */
  protected async awaitBoot(boot: BootConfig, side: 'A' | 'B', before: string, t0: number, method: string): Promise<BootRecord> {
    const limitMs = (this.spec.boot?.timeoutSec ?? 600) * 1000;
    const hook = this.spec.boot?.hook;
    await this.close();
    // Up again means: ssh logs in and the boot id changed (the old boot may still answer for a moment).
    for (;;) {
      if (Date.now() - t0 > limitMs) throw infraError(`target ${this.name}: did not come back from the reboot into ${side} (${boot.label}) within ${limitMs / 1000} s (boot.timeoutSec)`);
      await sleep(3000);
      try {
        await this.connect();
        if ((await bootId(this)) !== before) break;
      } catch {
        /* still down */
      }
      await this.close();
    }
    const rec = await bootRecord(this, side, boot.label, t0, method);
    if (!hook?.length && boot.kernel && rec.cmdline !== freebsdBootFile(boot.kernel)) {
      throw infraError(`target ${this.name}: asked for kernel ${boot.kernel} but booted ${rec.cmdline} (nextboot is one-shot: the loader fell back, so kernel ${boot.kernel} did not come up)`);
    }
    if (!hook?.length) {
      // A loader variable that did not reach the kernel environment did not take (kenv -q NAME prints its value).
      for (const e of freebsdAppend(boot).env) {
        const [name, value] = [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)];
        const got = (await this.exec(['kenv', '-q', name], { allowFail: true })).stdout.trim();
        if (got !== value) throw infraError(`target ${this.name}: asked the loader for ${name}=${value} but kenv has ${got ? `${name}=${got}` : 'no such variable'} after the reboot into ${side} (${boot.label})`);
      }
    }
    return rec;
  }

  /** Ends the shared connection and any local ssh still attached to a remote process. */
  async close(): Promise<void> {
    for (const c of this.children) killProcessGroup(c.pid, 'SIGKILL');
    this.children.clear();
    if (this.connected) {
      this.connected = false;
      await runCommand(['ssh', ...this.sshArgs(['-O', 'exit'])]).catch(() => {});
    }
    if (this.masterEntry) await localJournal().done(this.masterEntry).catch(() => {});
    this.masterEntry = undefined;
  }
  private masterEntry?: string;
}

/** Parses `ssh:[user@]host[:port]` (a target given on the command line without an inventory). */
export function parseSshTargetSpec(spec: string): SshSpec {
  const m = /^ssh:(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw inputError(`--target ${spec}: expected ssh:[user@]host[:port]`);
  const host = checkSshWord('--target ssh:HOST', m[2].replace(/^\[|\]$/g, ''));
  if (m[1] !== undefined) checkSshWord('--target ssh:USER@HOST', m[1]);
  return { name: spec.slice(4), host, user: m[1], port: m[3] ? Number(m[3]) : undefined };
}
