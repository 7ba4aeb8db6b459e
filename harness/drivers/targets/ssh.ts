import { localJournal, type Journal } from '../../lib/journal.js';
import { NamespacedJournal, parseRemoteProcess, RemoteJournal, REMOTE_PROCESS_SCRIPT } from '../journal.js';
import { PassThrough } from 'node:stream';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { sleep } from '../../lib/cleanup.js';
import { killProcessGroup, runCommand, startProcess, type ChildProcess } from '../../lib/exec.js';
import { checkHomePath, ensureHome, ensureHomeSubdir, ensurePrivateDir, homeDir, REMOTE_HOME, REMOTE_HOME_SCRIPT, remoteHomeRefused } from '../../lib/home.js';
import { localMachine, MACHINE_IDENTITY_SCRIPT, parseMachineIdentity, processStart, sameKernel, type MachineIdentity } from '../../lib/machine.js';
import { extractTarSafely } from '../../lib/tree.js';
import { infraError, inputError } from '../../model/errors.js';
import { hasControlChars } from '../../lib/confine.js';
import type { OsAdapter } from '../os/adapter.js';
import { adapterFor } from '../os/index.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target, TargetLab } from './target.js';
import type { BootConfig, BootRecord } from '../../model/types.js';
import { bootId, bootName, bootRecord, checkFreebsdNextboot, freebsdAppend, freebsdBootCommands, freebsdBootFile } from './boot.js';


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
  readonly kind: string;
  readonly name: string;
  readonly address: string;
  readonly sshHost: string;
  readonly lab?: TargetLab;
  runsAsRoot = false;
  private sudo = false;
  private adapter?: OsAdapter;
  private readonly controlPath: string;
  private readonly children = new Set<ChildProcess>();
  private connected = false;
  /** What connect() learnt: the machine, whether it is this one, and headgate's directories there. */
  private where_?: { machine: MachineIdentity; onController: boolean; home: string; workDir: string; journal: Journal; family: 'linux' | 'freebsd' };

  constructor(private readonly spec: SshSpec) {
    const at = `target ${spec.name}:`;
    checkSshWord(`${at} host`, spec.host);
    if (spec.user !== undefined) checkSshWord(`${at} user`, spec.user);
    if (spec.address !== undefined) checkSshWord(`${at} address`, spec.address);
    for (const [k, v] of Object.entries(spec.options ?? {})) checkSshOption(`${at} sshOptions.${k}`, k, v);
    if (spec.workDir !== undefined) checkHomePath(`${at} workDir`, spec.workDir);
    this.kind = spec.kind ?? 'ssh';
    this.name = spec.name;
    this.address = spec.address ?? spec.host;
    this.sshHost = spec.host;
    this.lab = spec.lab;
    // Unix socket paths are limited to ~100 bytes: a short hash in this machine's home (ssh/, 0700),
    // never a predictable name in a world-writable directory another user could bind first.
    const id = createHash('sha256').update(`${process.pid}:${spec.user ?? ''}@${spec.host}:${spec.port ?? 22}:${spec.name}`).digest('hex').slice(0, 12);
    this.controlPath = path.join(homeDir(), 'ssh', id);
    if (this.controlPath.length > 90) throw inputError(`HEADGATE_STATE_DIR ${homeDir()}: too long for ssh control sockets (${this.controlPath} is ${this.controlPath.length} bytes; at most 90)`);
  }

  private opened(): NonNullable<SshTarget['where_']> {
    if (!this.where_) throw new Error(`target ${this.name}: used before connect()`);
    return this.where_;
  }
  /** The target's restore journal: in headgate's home there (written over ssh before each change), or this machine's when the target is this machine. */
  get journal(): Journal {
    return this.opened().journal;
  }
  /** headgate's home on the target's machine (lock, journal), checked at connect. */
  get home(): string {
    return this.opened().home;
  }
  /** Directory for run files and objects (inventory workDir, else the home's work/), checked at connect. */
  get workDir(): string {
    return this.opened().workDir;
  }
  get runRoot(): string {
    return path.posix.join(this.workDir, 'runs');
  }
  get machine(): MachineIdentity {
    return this.opened().machine;
  }
  get onController(): boolean {
    return this.opened().onController;
  }

  /**
   * Learns which machine this is and settles headgate's directories there: this machine's own
   * home and journal when the target runs on this kernel (a netns lab, ssh to localhost), else
   * the remote home (REMOTE_HOME by OS) and its journal, checked by REMOTE_HOME_SCRIPT as
   * headgate's own (exit 3 naming the path otherwise).
   */
  private async settle(uid: string): Promise<void> {
    const r = await this.runSsh(remoteCommand(['sh', '-c', MACHINE_IDENTITY_SCRIPT], { sudo: this.sudo }), { timeoutMs: 30_000 });
    if (r.code !== 0) throw infraError(`target ${this.name}: could not read its machine identity: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    const id = parseMachineIdentity(r.stdout);
    const family = id.os === 'FreeBSD' ? 'freebsd' : 'linux';
    const machine = { id: id.id, boot: id.boot };
    if (sameKernel(machine, localMachine())) {
      const home = ensureHome();
      const workDir = ensureHomeSubdir(home, 'work');
      const journal = this.lab ? new NamespacedJournal(localJournal(), this.lab.serverNs) : localJournal();
      this.where_ = { machine, onController: true, home, workDir, journal, family };
      return;
    }
    const home = REMOTE_HOME[family];
    const workDir = this.spec.workDir ?? path.posix.join(home, 'work');
    const owner = this.runsAsRoot ? '0' : uid;
    for (const dir of [home, workDir]) {
      const c = await this.runSsh(remoteCommand(['sh', '-c', REMOTE_HOME_SCRIPT, 'sh', dir, owner], { sudo: this.sudo }), { timeoutMs: 30_000 });
      if (c.code !== 0) throw remoteHomeRefused(`target ${this.name}`, dir, c.stdout.trim() || c.stderr.trim().split('\n').pop() || '');
    }
    this.where_ = { machine, onController: false, home, workDir, journal: new RemoteJournal(this, path.posix.join(home, 'journal.jsonl'), () => this.machine), family };
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
   * Streamed (lib/exec.ts startProcess), not buffered by zx: upload and download carry a whole
   * tree through ssh's stdin/stdout. Its own process group, so a timeout or an abort stops it and
   * a ProxyCommand too; a ControlPersist master leaves the group (it daemonizes) and survives.
   */
  private runSsh(command: string, o: { input?: string | Buffer; timeoutMs?: number; stdout?: NodeJS.WritableStream; stdin?: NodeJS.ReadableStream; signal?: AbortSignal } = {}): Promise<ExecResult> {
    // Ctrl-C: the local ssh goes at once; the remote command ends with its session (and by its own `timeout` at the latest).
    const p = startProcess(['ssh', ...this.sshArgs(), command], { stdin: o.stdin ?? 'pipe', stdout: 'pipe', stderr: 'pipe', timeoutMs: o.timeoutMs, signal: o.signal });
    const child = p.child;
    this.children.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (o.stdout) child.stdout!.pipe(o.stdout);
    else child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (!o.stdin) child.stdin!.end(o.input ?? '');
    return p.exited.then(({ code, signal, error }) => {
      this.children.delete(child);
      if (error) err.push(Buffer.from(`ssh: ${error}`));
      return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? (signal ? 255 : -1) };
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
    // The control socket's directory is headgate's own (checked); the first ssh starts a master that
    // outlives this process by ControlPersist: journaled on this machine, so a SIGKILLed harness
    // leaves no master (nor its socket) behind.
    ensurePrivateDir(path.dirname(this.controlPath));
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
    try {
      await this.settle(uid);
    } catch (e) {
      await this.close();
      throw e;
    }
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
    // Streamed: this ssh lives as long as the remote process, which reports its pid first.
    const p = startProcess(['ssh', ...this.sshArgs(), cmd], { stdout: 'pipe', stderr: 'pipe' });
    const child = p.child;
    this.children.add(child);
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const pid = await new Promise<number>((resolve) => {
      let buf = '';
      const onData = (b: Buffer) => {
        buf += b.toString();
        const m = /^(\d+)\n/.exec(buf);
        if (m) {
          child.stdout!.off('data', onData);
          resolve(Number(m[1]));
        }
      };
      child.stdout!.on('data', onData);
      void p.exited.then(() => resolve(-1));
    });
    if (pid < 0) throw infraError(`target ${this.name}: could not start \`${argv.join(' ')}\`: ${err.trim().split('\n').pop() ?? 'ssh exited'}`);
    // Journaled on the target's machine at once (pid, start time, program): a harness SIGKILLed
    // from here on leaves an entry the next command uses to stop it there.
    const entry = await this.journalProcess(pid, path.posix.basename(argv[0])).catch(() => null);
    const exited = p.exited.then((x) => {
      this.children.delete(child);
      if (entry) void this.journal.done(entry).catch(() => {});
      return x.error ? `ssh failed: ${x.error}` : (x.code ?? x.signal ?? -1);
    });
    return {
      pid,
      exited,
      running: p.running,
      kill: (signal = 'SIGTERM') => {
        if (!p.running()) return;
        void this.exec(['kill', `-${signal.replace(/^SIG/, '')}`, String(pid)], { allowFail: true, timeoutMs: 10_000 }).catch(() => {
          // The connection is gone: drop the local end; the remote side is cleaned up by close().
          killProcessGroup(child.pid, 'SIGKILL');
        });
      },
    };
  }

  /** Records a kill-group entry for a process started on the target (its start time read where it runs). */
  private async journalProcess(pid: number, program: string): Promise<string | null> {
    let start: string | null;
    if (this.onController) start = processStart(pid);
    else start = parseRemoteProcess((await this.exec(['sh', '-c', REMOTE_PROCESS_SCRIPT, 'sh', String(pid)], { allowFail: true })).stdout)?.start ?? null;
    if (!start) return null;
    return this.journal.record(`stop ${program} (pid ${pid} on ${this.name})`, { kind: 'kill-group', pid, start, program });
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
    const tar = startProcess(['tar', '-C', localDir, ...excl, '-cf', '-', '.'], { stdout: 'pipe' });
    const cmd = remoteCommand(['sh', '-c', 'mkdir -p "$1" && tar -C "$1" -xf -', 'sh', targetDir], { sudo: this.sudo });
    const r = await this.runSsh(cmd, { stdin: tar.child.stdout!, timeoutMs: 600_000 });
    await tar.stop();
    if (r.code !== 0) throw r.code === 255 ? await this.sshError(r.stderr) : infraError(`target ${this.name}: upload to ${targetDir} failed: ${r.stderr.trim().split('\n').pop()}`);
  }

  /**
   * Streams a directory of the target into a local one as a safe copy (lib/tree.ts
   * extractTarSafely): what a target sends is not trusted, so no links, device nodes, owners or
   * setuid bits land on this machine.
   */
  async download(targetDir: string, localDir: string): Promise<void> {
    if (!this.connected) await this.connect();
    const cmd = remoteCommand(['tar', '-C', targetDir, '-cf', '-', '.'], { sudo: this.sudo });
    const pass = new PassThrough();
    // Settled into a value at once: a broken archive (a dropped connection) must not become an
    // unhandled rejection while ssh is still being waited for.
    const extracted = extractTarSafely(pass, localDir).then(
      (skipped) => ({ skipped }),
      (e: Error) => ({ error: e }),
    );
    const r = await this.runSsh(cmd, { stdout: pass, timeoutMs: 600_000 });
    pass.end();
    const x = await extracted;
    if (r.code !== 0) throw r.code === 255 ? await this.sshError(r.stderr) : infraError(`target ${this.name}: download of ${targetDir} failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    if ('error' in x) throw infraError(`target ${this.name}: download of ${targetDir} failed: ${x.error.message}`);
    const { skipped } = x;
    if (skipped.length) this.skippedDownloads.push(...skipped.map((x) => `${targetDir}/${x}`));
  }
  /** Entries of downloads that were not regular files or directories (left out). */
  readonly skippedDownloads: string[] = [];

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
    // Older nextboot.sh on a ZFS /boot is not one-shot (W6): refused here, before any reboot.
    await checkFreebsdNextboot(this, this.name, boot);
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
    // A master may run even if connect() failed half-way (the login worked, a later check did not).
    if (this.connected || this.masterEntry) {
      this.connected = false;
      await runCommand(['ssh', ...this.sshArgs(['-O', 'exit'])], { timeoutMs: 15_000 }).catch(() => {});
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
