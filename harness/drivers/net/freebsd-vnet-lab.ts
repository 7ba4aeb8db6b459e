import { journaled } from '../../lib/journal.js';
import type { CleanupStack } from '../../lib/cleanup.js';
import { infraError } from '../../model/errors.js';
import type { Target } from '../targets/target.js';
import type { Impairment } from './lab.js';
import { freeLabSubnet } from './lab.js';

/**
 * The FreeBSD bottleneck path, built on the target from VNET jails and epair(4) pairs, the way
 * FreeBSD's own tests do (tests/sys/common/vnet.subr, tests/sys/netpfil/common/dummynet.sh):
 *
 *   target (vnet0, the stack under test) --epairUa/Ub-- middle jail (dummynet) --epairVa/Vb-- client jail
 *
 * The sender stays in vnet0, so the variant's TCP knobs (functions_default, cc.algorithm: VNET
 * sysctls a fresh jail would not inherit) apply to it as set by the runner. The impairment is a
 * dummynet pipe on the middle jail's egress toward the client, never on the stack under test.
 * Addresses come from 198.18.0.0/15.
 */
export interface VnetLab {
  middleJail: string;
  clientJail: string;
  /** The epair whose `a` side stays in vnet0 (its `b` side is in the middle jail). */
  serverEpair: string;
  /** The epair between the middle jail (`a`) and the client jail (`b`). */
  clientEpair: string;
  serverAddress: string;
  clientAddress: string;
  /** The dummynet pipe configuration, for the report. */
  pipe: string;
}

/** Kernel modules the lab needs, in load order: ipfw before dummynet (dummynet depends on it). */
const MODULES = ['if_epair', 'ipfw', 'dummynet'] as const;
/** Loader tunable read when ipfw.ko loads (ip_fw2.c TUNABLE_INT): without it vnet0's default rule denies everything, the ssh session included. */
const IPFW_ACCEPT = 'net.inet.ip.fw.default_to_accept';

/** Labs made so far per target: the counter in each lab's names. */
const labsCreated = new WeakMap<Target, number>();

/** The dummynet pipe arguments for an impairment: `bw` in bit/s, queue in bytes (rate x queueMs, within dummynet's 1 MiB default byte limit), delay in ms, plr as a probability. */
export function pipeArgs(imp: Impairment): string[] {
  const queueBytes = Math.round((imp.rateMbit * 1e6 * imp.queueMs) / 1000 / 8);
  const queueK = Math.min(1024, Math.max(2, Math.ceil(queueBytes / 1024)));
  const args = ['bw', `${imp.rateMbit}Mbit/s`, 'queue', `${queueK}K`];
  if (imp.delayMs) args.push('delay', String(Math.round(imp.delayMs)));
  if (imp.lossPct) args.push('plr', String(imp.lossPct / 100));
  return args;
}

/** Names of one lab (jails and epair units) from this process's pid and a counter; fixed before anything is created, so the journal can name them first. */
export function vnetLabNames(pid: number, n: number): { middleJail: string; clientJail: string; serverUnit: number; clientUnit: number } {
  const tag = `${pid % 100000}x${n}`;
  // epair units are below IF_MAXUNIT (0x7fff); two per lab.
  const base = 20000 + (((pid % 2000) * 4 + n * 2) % 12000);
  return { middleJail: `hgm${tag}`, clientJail: `hgc${tag}`, serverUnit: base, clientUnit: base + 1 };
}

/**
 * Builds the lab on a FreeBSD target and registers every step's undo (journal first, then the
 * restore stack) before the step is made: modules it had to load, the ipfw tunable, both jails,
 * both epairs. Undone in reverse: jails removed, epairs destroyed, modules unloaded.
 */
export async function createVnetLab(t: Target, imp: Impairment, stack: CleanupStack, pid = process.pid): Promise<VnetLab> {
  const run = async (argv: string[]) => {
    const r = await t.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`vnet lab on ${t.name}: ${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    return r.stdout;
  };
  const quiet = async (argv: string[]) => void (await t.exec(argv, { allowFail: true }));
  const j = t.journal;

  for (const mod of MODULES) {
    if ((await t.exec(['kldstat', '-q', '-m', mod], { allowFail: true })).code === 0) continue;
    if (mod === 'ipfw') {
      const had = await t.exec(['kenv', '-q', IPFW_ACCEPT], { allowFail: true });
      const old = had.code === 0 ? had.stdout.trim() : null;
      await journaled(j, stack, `kenv ${IPFW_ACCEPT} back to ${old ?? 'unset'}`, { kind: 'kenv', name: IPFW_ACCEPT, value: old, set: '1' }, () => run(['kenv', `${IPFW_ACCEPT}=1`]), () =>
        quiet(old === null ? ['kenv', '-q', '-u', IPFW_ACCEPT] : ['kenv', `${IPFW_ACCEPT}=${old}`]),
      );
    }
    await journaled(j, stack, `kldunload ${mod}`, { kind: 'kldunload', name: mod }, () => run(['kldload', mod]), () => run(['kldunload', mod]).then(() => {}));
  }

  const n = labsCreated.get(t) ?? 0;
  labsCreated.set(t, n + 1);
  const names = vnetLabNames(pid, n);
  const k = freeLabSubnet(await run(['netstat', '-rn', '-f', 'inet']));
  if (k === null) throw infraError(`vnet lab on ${t.name}: every 198.18.k.0/24 subnet is in use`);
  const srvNet = `198.18.${k}`;
  const cliNet = `198.19.${k}`;
  const se = `epair${names.serverUnit}`;
  const ce = `epair${names.clientUnit}`;

  // A unit someone else uses is refused before anything is journaled: the undo would destroy theirs.
  const existing = new Set((await run(['ifconfig', '-l'])).trim().split(/\s+/));
  for (const e of [se, ce]) if (existing.has(`${e}a`) || existing.has(`${e}b`)) throw infraError(`vnet lab on ${t.name}: ${e} already exists; not touching it`);
  // Epairs first (a jail's vnet.interface must exist); destroying the `a` side destroys both.
  for (const e of [se, ce]) {
    await journaled(j, stack, `ifconfig ${e}a destroy`, { kind: 'ifconfig-destroy', name: `${e}a` }, async () => {
      const out = (await run(['ifconfig', e, 'create'])).trim();
      // ifconfig prints the created name when it differs from the one asked for (ifclone.c): epairNa.
      if (out !== `${e}a`) throw infraError(`vnet lab on ${t.name}: ifconfig ${e} create printed "${out}", expected ${e}a`);
    }, () => quiet(['ifconfig', `${e}a`, 'destroy']));
  }
  // Jails are removed before the epairs (stack order): their interfaces return to vnet0 first.
  await journaled(j, stack, `jail -r ${names.middleJail}`, { kind: 'jail-remove', name: names.middleJail }, () =>
    run(['jail', '-c', `name=${names.middleJail}`, 'persist', 'vnet', `vnet.interface=${se}b`, `vnet.interface=${ce}a`]), () => quiet(['jail', '-r', names.middleJail]));
  await journaled(j, stack, `jail -r ${names.clientJail}`, { kind: 'jail-remove', name: names.clientJail }, () =>
    run(['jail', '-c', `name=${names.clientJail}`, 'persist', 'vnet', `vnet.interface=${ce}b`]), () => quiet(['jail', '-r', names.clientJail]));

  const inM = ['jexec', names.middleJail];
  const inC = ['jexec', names.clientJail];
  await run(['ifconfig', `${se}a`, `${srvNet}.1/24`, 'up']);
  await run([...inM, 'ifconfig', `${se}b`, `${srvNet}.2/24`, 'up']);
  await run([...inM, 'ifconfig', `${ce}a`, `${cliNet}.1/24`, 'up']);
  await run([...inC, 'ifconfig', `${ce}b`, `${cliNet}.2/24`, 'up']);
  await run([...inM, 'sysctl', 'net.inet.ip.forwarding=1']);
  await run([...inC, 'route', 'add', '-net', `${srvNet}.0/24`, `${cliNet}.1`]);
  // ipfw filters in every vnet; loaded before us with default_to_accept=0, the client jail's
  // default rule denies all. The rule lives in the jail's vnet and goes with it (jail -r, journaled above).
  await run([...inC, 'ipfw', 'add', '200', 'allow', 'ip', 'from', 'any', 'to', 'any']);
  // vnet0's route to the client subnet goes away with epairUa (destroyed on the stack).
  await run(['route', 'add', '-net', `${cliNet}.0/24`, `${srvNet}.2`]);

  // dnctl(8) configures dummynet where it exists (newer kernels, shared with pf); ipfw pipe elsewhere. Same grammar (sbin/ipfw/dummynet.c).
  const dn = (await t.which('dnctl')) ? 'dnctl' : 'ipfw';
  const args = pipeArgs(imp);
  await run([...inM, dn, 'pipe', '1', 'config', ...args]);
  await run([...inM, 'ipfw', 'add', '100', 'pipe', '1', 'ip', 'from', 'any', 'to', `${cliNet}.0/24`, 'out']);
  // The default rule may deny (ipfw loaded without default_to_accept): let the rest through.
  await run([...inM, 'ipfw', 'add', '200', 'allow', 'ip', 'from', 'any', 'to', 'any']);
  return {
    middleJail: names.middleJail,
    clientJail: names.clientJail,
    serverEpair: se,
    clientEpair: ce,
    serverAddress: `${srvNet}.1`,
    clientAddress: `${cliNet}.2`,
    pipe: `${dn} pipe 1 config ${args.join(' ')}`,
  };
}
