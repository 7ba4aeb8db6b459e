import type { CleanupStack } from '../core/cleanup.js';
import { infraError } from '../core/errors.js';
import type { Target } from '../targets/target.js';

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
 * A three-hop path built from network namespaces this run creates:
 *   client (this host's namespace) --veth-- middle hop (tbf/netem) --veth-- server namespace.
 * The sender under test lives in the server namespace; the impairment sits on the middle hop's
 * egress toward the client, never on the stack under test. Addresses are 198.18.0.0/15 only.
 */
export interface Bottleneck {
  serverNs: string;
  middleNs: string;
  serverAddress: string;
  clientAddress: string;
  /** Prefix that runs a command in the server namespace. */
  serverWrap: string[];
  /** The qdisc command line applied on the middle hop, for the report. */
  qdisc: string;
}

const LAB_PREFIX = 'hg-';
const nsName = (role: 's' | 'm', pid: number, n: number) => `${LAB_PREFIX}${role}-${pid}-${n}`;
let labsCreated = 0;

/** Namespaces named hg-s-PID-N / hg-m-PID-N whose PID is gone were left by a run that crashed. */
export function staleLabNamespaces(ipNetnsList: string, alive: (pid: number) => boolean): string[] {
  const out: string[] = [];
  for (const line of ipNetnsList.split('\n')) {
    const m = /^(hg-[sm]-(\d+)-\d+)\b/.exec(line.trim());
    if (m && !alive(Number(m[2]))) out.push(m[1]);
  }
  return out;
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

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

/**
 * Creates the path and registers its removal (deleting the namespaces removes every veth and
 * route with them). First removes labs left behind by crashed runs.
 */
export async function createBottleneck(target: Target, imp: Impairment, withNetem: boolean, stack: CleanupStack): Promise<Bottleneck> {
  const run = async (argv: string[]) => {
    const r = await target.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`bottleneck lab: ${argv.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  };
  const listed = await target.exec(['ip', 'netns', 'list'], { allowFail: true });
  for (const ns of staleLabNamespaces(listed.stdout, isAlive)) await target.exec(['ip', 'netns', 'del', ns], { allowFail: true });

  const pid = process.pid;
  const n = labsCreated++;
  const s = nsName('s', pid, n);
  const m = nsName('m', pid, n);
  // A /24 pair per lab inside 198.18.0.0/15 (third octet from pid and lab number), so labs of
  // one run, and most likely of different runs, never share addresses.
  const k = ((pid % 61) * 4 + n * 2) % 254;
  const srvNet = `198.18.${k}`;
  const cliNet = `198.18.${k + 1}`;
  const tag = `${pid % 100000}${n}`;
  const hostDev = `hgc${tag}`.slice(0, 15);
  const midCli = `hgmc${tag}`.slice(0, 15);
  const midSrv = `hgms${tag}`.slice(0, 15);
  const srvDev = `hgs${tag}`.slice(0, 15);

  await run(['ip', 'netns', 'add', s]);
  stack.push(`delete namespace ${s}`, () => run(['ip', 'netns', 'del', s]));
  await run(['ip', 'netns', 'add', m]);
  stack.push(`delete namespace ${m} (and the client veth with it)`, () => run(['ip', 'netns', 'del', m]));
  const inM = ['ip', '-n', m];
  const inS = ['ip', '-n', s];
  await run(['ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', midCli, 'netns', m]);
  await run([...inM, 'link', 'add', midSrv, 'type', 'veth', 'peer', 'name', srvDev, 'netns', s]);
  await run(['ip', 'addr', 'add', `${cliNet}.2/24`, 'dev', hostDev]);
  await run(['ip', 'link', 'set', hostDev, 'up']);
  await run([...inM, 'addr', 'add', `${cliNet}.1/24`, 'dev', midCli]);
  await run([...inM, 'addr', 'add', `${srvNet}.2/24`, 'dev', midSrv]);
  for (const d of ['lo', midCli, midSrv]) await run([...inM, 'link', 'set', d, 'up']);
  await run([...inS, 'addr', 'add', `${srvNet}.1/24`, 'dev', srvDev]);
  for (const d of ['lo', srvDev]) await run([...inS, 'link', 'set', d, 'up']);
  await run([...inS, 'route', 'add', 'default', 'via', `${srvNet}.2`]);
  await run(['ip', 'route', 'add', `${srvNet}.0/24`, 'via', `${cliNet}.1`, 'dev', hostDev]);
  await run(['ip', 'netns', 'exec', m, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const cmds = qdiscCommands(midCli, imp, withNetem);
  for (const c of cmds) await run(['ip', 'netns', 'exec', m, ...c]);
  return {
    serverNs: s,
    middleNs: m,
    serverAddress: `${srvNet}.1`,
    clientAddress: `${cliNet}.2`,
    serverWrap: ['ip', 'netns', 'exec', s],
    qdisc: cmds.map((c) => c.slice(3).join(' ')).join(' ; '),
  };
}
