import { journaled } from '../../lib/journal.js';
import { readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { ensurePrivateDir, REMOTE_HOME } from '../../lib/home.js';
import path from 'node:path';
import type { CleanupStack } from '../../lib/cleanup.js';
import { sleep } from '../../lib/cleanup.js';
import { infraError, inputError } from '../../model/errors.js';
import { pidAlive } from '../../lib/process.js';
import type { Target, TargetLab } from '../targets/target.js';
import { canConnect } from './ports.js';

/** The impairment between the stack under test and the client. */
export interface Impairment {
  /** Bottleneck rate in Mbit/s (tbf). */
  rateMbit: number;
  /** Longest a packet may wait in the bottleneck queue (tbf latency): a short queue drops early. */
  queueMs: number;
  /** One-way delay and random loss: netem, only where the kernel has it. */
  delayMs?: number;
  lossPct?: number;
}

/**
 * A lab built from network namespaces on a Linux host:
 *   client (the host's own namespace) --veth-- middle hop --veth-- server namespace.
 * Impairment (tc) goes on the middle hop's egress toward the client, never on the stack under
 * test. Addresses come from 198.18.0.0/15 (benchmarking) and exist only inside the lab.
 */
export interface NetnsLab extends TargetLab {
  /** Prefix that runs a command in the server namespace (on the host). */
  serverWrap: string[];
  /** sshd in the server namespace, when asked for. */
  ssh?: { port: number; user: string; identityFile: string; knownHostsFile: string };
}

const LAB_RE = /^(hg-[sm]-(\d+)-\d+)\b/;
const nsName = (role: 's' | 'm', pid: number, n: number) => `hg-${role}-${pid}-${n}`;
let labsCreated = 0;
// Address allocation reads the host's routes: one lab at a time, so two labs never pick one subnet.
let allocating: Promise<unknown> = Promise.resolve();

/**
 * A lab directory is emptied (rm -rf) before use and removed with the lab: only an absolute,
 * normalized path at least two levels deep (no '..' that could lead somewhere else) is accepted.
 */
export function checkLabDir(dir: string): string {
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  if (!path.isAbsolute(dir) || path.normalize(trimmed) !== trimmed || trimmed.split('/').filter(Boolean).length < 2) {
    throw inputError(`netns lab directory ${JSON.stringify(dir)}: not an absolute, normalized path below a top-level directory; refusing to remove it`);
  }
  return trimmed;
}

/** Namespaces named hg-s-PID-N / hg-m-PID-N whose PID is gone were left by a run that crashed. */
export function staleLabNamespaces(ipNetnsList: string, alive: (pid: number) => boolean): string[] {
  const out: string[] = [];
  for (const line of ipNetnsList.split('\n')) {
    const m = LAB_RE.exec(line.trim());
    if (m && !alive(Number(m[2]))) out.push(m[1]);
  }
  return out;
}

/** The qdisc commands for the middle hop's egress device. */
export function qdiscCommands(dev: string, imp: Impairment, withNetem: boolean): string[][] {
  // burst: at least one full-size GSO segment, so tbf never has to drop a packet just for its size.
  const tbf = ['tbf', 'rate', `${imp.rateMbit}mbit`, 'burst', '64kb', 'latency', `${imp.queueMs}ms`];
  if (withNetem && (imp.delayMs || imp.lossPct)) {
    const netem = ['netem', ...(imp.delayMs ? ['delay', `${imp.delayMs}ms`] : []), ...(imp.lossPct ? ['loss', `${imp.lossPct}%`] : [])];
    return [
      ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', ...netem],
      ['tc', 'qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', ...tbf],
    ];
  }
  return [['tc', 'qdisc', 'add', 'dev', dev, 'root', ...tbf]];
}

/** The first subnet index k (1..253) with neither 198.18.k.0/24 nor 198.19.k.0/24 in the host's addresses or routes. */
export function freeLabSubnet(ipAddrAndRoutes: string): number | null {
  const used = new Set<number>();
  for (const m of ipAddrAndRoutes.matchAll(/198\.1[89]\.(\d+)\./g)) used.add(Number(m[1]));
  for (let k = 1; k < 254; k++) if (!used.has(k)) return k;
  return null;
}

/** Removes labs whose creating process is gone: their processes (sshd, nginx) first, then the namespaces. */
export async function removeStaleLabs(host: Target): Promise<string[]> {
  const listed = await host.exec(['ip', 'netns', 'list'], { allowFail: true });
  const stale = staleLabNamespaces(listed.stdout, pidAlive);
  for (const ns of stale) await deleteNamespace(host, ns);
  return stale;
}

/** Kills what runs in a namespace and deletes it (its veths and qdiscs go with it); a namespace already gone is fine. */
export async function deleteNamespace(host: Target, ns: string): Promise<void> {
  const pids = await host.exec(['ip', 'netns', 'pids', ns], { allowFail: true });
  if (pids.code !== 0) return;
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) await host.exec(['kill', '-KILL', pid], { allowFail: true });
  await host.exec(['ip', 'netns', 'del', ns], { allowFail: true });
}

/**
 * Creates a lab and registers its removal (killing what runs in it, then deleting the
 * namespaces, which removes every veth and route with them). Labs left by crashed runs go first.
 * With `sshd`, an sshd with a host key and a client key made for this lab listens in the server
 * namespace, and its host key is recorded in a known_hosts file of the lab's: host keys stay checked.
 */
export async function createLab(host: Target, o: { dir: string; sshd?: boolean | { otherMachine: true } }, stack: CleanupStack): Promise<NetnsLab> {
  const run = async (argv: string[]) => {
    const r = await host.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`netns lab: ${argv.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  };
  checkLabDir(o.dir);
  await removeStaleLabs(host);
  const pid = process.pid;
  const n = labsCreated++;
  const s = nsName('s', pid, n);
  const m = nsName('m', pid, n);
  const tag = `${pid % 100000}${n}`;
  const hostDev = `hgc${tag}`.slice(0, 15);
  const midCli = `hgmc${tag}`.slice(0, 15);
  const midSrv = `hgms${tag}`.slice(0, 15);
  const srvDev = `hgs${tag}`.slice(0, 15);
  const kill = async (ns: string) => {
    const pids = await host.exec(['ip', 'netns', 'pids', ns], { allowFail: true });
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) await host.exec(['kill', '-KILL', p], { allowFail: true });
  };

  let srvNet = '';
  let cliNet = '';
  const step = allocating.then(async () => {
    const seen = (await host.exec(['ip', '-4', 'addr'], { allowFail: true })).stdout + (await host.exec(['ip', '-4', 'route'], { allowFail: true })).stdout;
    const k = freeLabSubnet(seen);
    if (k === null) throw infraError('netns lab: every 198.18.k.0/24 subnet is in use on this host');
    srvNet = `198.18.${k}`;
    cliNet = `198.19.${k}`;
    // Each namespace and the host's veth are journaled before they exist: a SIGKILLed run's lab is
    // removed by the next command, not only by the next lab of this machine.
    const j = host.journal;
    await journaled(j, stack, `delete namespace ${s}`, { kind: 'netns-del', name: s }, () => run(['ip', 'netns', 'add', s]), async () => {
      await kill(s);
      await run(['ip', 'netns', 'del', s]);
    });
    await journaled(j, stack, `delete namespace ${m} (and the client veth with it)`, { kind: 'netns-del', name: m }, () => run(['ip', 'netns', 'add', m]), () => run(['ip', 'netns', 'del', m]));
    await journaled(j, stack, `delete ${hostDev}`, { kind: 'link-del', name: hostDev }, () => run(['ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', midCli, 'netns', m]), async () => {
      await host.exec(['ip', 'link', 'del', hostDev], { allowFail: true });
    });
    await run(['ip', 'addr', 'add', `${cliNet}.2/24`, 'dev', hostDev]);
  });
  allocating = step.catch(() => {});
  await step;

  const inM = ['ip', '-n', m];
  const inS = ['ip', '-n', s];
  await run([...inM, 'link', 'add', midSrv, 'type', 'veth', 'peer', 'name', srvDev, 'netns', s]);
  await run(['ip', 'link', 'set', hostDev, 'up']);
  await run([...inM, 'addr', 'add', `${cliNet}.1/24`, 'dev', midCli]);
  await run([...inM, 'addr', 'add', `${srvNet}.2/24`, 'dev', midSrv]);
  for (const d of ['lo', midCli, midSrv]) await run([...inM, 'link', 'set', d, 'up']);
  await run([...inS, 'addr', 'add', `${srvNet}.1/24`, 'dev', srvDev]);
  for (const d of ['lo', srvDev]) await run([...inS, 'link', 'set', d, 'up']);
  await run([...inS, 'route', 'add', 'default', 'via', `${srvNet}.2`]);
  await run(['ip', 'route', 'add', `${srvNet}.0/24`, 'via', `${cliNet}.1`, 'dev', hostDev]);
  await run(['ip', 'netns', 'exec', m, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

  const lab: NetnsLab = {
    serverNs: s,
    middleNs: m,
    middleDevToClient: midCli,
    serverAddress: `${srvNet}.1`,
    clientAddress: `${cliNet}.2`,
    serverWrap: ['ip', 'netns', 'exec', s],
  };
  if (o.sshd) {
    const otherMachine = typeof o.sshd === 'object' && o.sshd.otherMachine;
    lab.ssh = await startSshd(host, { address: lab.serverAddress, port: 22, wrap: lab.serverWrap, label: lab.serverNs, otherMachine }, o.dir, stack);
  }
  return lab;
}

/**
 * An sshd of the harness's own (host key and client key made for it, the host key recorded in a
 * known_hosts file beside them), in a lab namespace (wrap) or on a loopback port; stopped on the stack.
 */
export async function startSshd(
  host: Target,
  at: { address: string; port: number; wrap: string[]; label: string; otherMachine?: boolean },
  dir: string,
  stack: CleanupStack,
): Promise<NonNullable<NetnsLab['ssh']>> {
  const lab = { serverAddress: at.address, serverWrap: at.wrap, serverNs: at.label };
  const sshd = (await host.which('sshd')) ?? '/usr/sbin/sshd';
  if (!(await host.which('sshd'))) throw infraError('netns lab: sshd not found on this host', 'apt-get install openssh-server');
  // The caller made dir fresh (lib/home.ts freshPrivateDir): it is used as it is, never removed and
  // re-made here, so no one can slip a directory of their own in between.
  ensurePrivateDir(checkLabDir(dir));
  const keygen = async (file: string) => {
    const r = await host.exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `headgate-${lab.serverNs}`, '-f', file], { allowFail: true });
    if (r.code !== 0) throw infraError(`netns lab: ssh-keygen failed: ${r.stderr.trim()}`);
  };
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const clientKey = path.join(dir, 'id_ed25519');
  await keygen(hostKey);
  await keygen(clientKey);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`), { mode: 0o600 });
  const port = at.port;
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHostsFile = path.join(dir, 'known_hosts');
  await writeFile(knownHostsFile, `${port === 22 ? lab.serverAddress : `[${lab.serverAddress}]:${port}`} ${hostPub}\n`);
  const conf = path.join(dir, 'sshd_config');
  await writeFile(
    conf,
    [
      `ListenAddress ${lab.serverAddress}:${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      'MaxSessions 64',
      // bash sources ~/.bashrc for ssh commands unless SHLVL is already set; a heavy rc (pyenv
      // here) cost ~570 ms per command. Lab sshds only: an appliance's shell is its owner's.
      'SetEnv SHLVL=1',
      'MaxStartups 64:30:128',
      '',
    ].join('\n'),
  );
  await host.exec(['mkdir', '-p', '/run/sshd']); // privilege separation directory
  let argv = [...lab.serverWrap, sshd, '-D', '-e', '-f', conf];
  if (at.otherMachine) {
    // A stand-in for a remote appliance (tests): its sessions see a machine id of their own and an
    // empty private headgate home (a tmpfs over REMOTE_HOME), in the mount namespace `ip netns
    // exec` makes (iproute2 netns_switch: unshare(CLONE_NEWNS), / made a recursive slave), so
    // nothing of it reaches this machine's mounts.
    if (lab.serverWrap[0] !== 'ip' || lab.serverWrap[2] !== 'exec') throw infraError('netns lab: a stand-in for another machine needs a namespace of its own');
    const idFile = path.join(dir, 'machine-id');
    await writeFile(idFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o644 });
    ensurePrivateDir(REMOTE_HOME.linux);
    argv = [...lab.serverWrap, 'sh', '-c', 'h=$1 id=$2; shift 2; mount -t tmpfs -o mode=0700 headgate-lab "$h" && mount --bind "$id" /etc/machine-id && exec "$@"', 'sh', REMOTE_HOME.linux, idFile, sshd, '-D', '-e', '-f', conf];
  }
  const proc = await host.spawn(argv, { logFile: path.join(dir, 'sshd.log') });
  stack.push(`stop sshd in ${lab.serverNs} (pid ${proc.pid})`, async () => {
    proc.kill('SIGTERM');
    await Promise.race([proc.exited, sleep(3000)]);
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && proc.running()) {
    if (await canConnect(lab.serverAddress, port)) return { port, user: 'root', identityFile: clientKey, knownHostsFile };
    await sleep(50);
  }
  const log = await host.readFileIfExists(path.join(dir, 'sshd.log'));
  throw infraError(`sshd (${lab.serverNs}) did not start on ${lab.serverAddress}:${port}: ${(log ?? '').trim().split('\n').pop()}`);
}

/** Puts the impairment on the middle hop's egress toward the client; removed on the stack. Returns the qdisc for the report. */
export async function applyImpairment(host: Target, lab: TargetLab, imp: Impairment, withNetem: boolean, stack: CleanupStack): Promise<string> {
  const cmds = qdiscCommands(lab.middleDevToClient, imp, withNetem);
  for (const c of cmds) {
    const r = await host.exec(['ip', 'netns', 'exec', lab.middleNs, ...c], { allowFail: true });
    if (r.code !== 0) throw infraError(`netns lab: ${c.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  }
  stack.push(`remove the impairment on ${lab.middleNs}`, async () => {
    await host.exec(['ip', 'netns', 'exec', lab.middleNs, 'tc', 'qdisc', 'del', 'dev', lab.middleDevToClient, 'root'], { allowFail: true });
  });
  return cmds.map((c) => c.slice(3).join(' ')).join(' ; ');
}
