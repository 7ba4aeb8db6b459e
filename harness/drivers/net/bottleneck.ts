import { CleanupStack } from '../../lib/cleanup.js';
import type { Target, TargetLab } from '../targets/target.js';
import { applyImpairment, createLab, qdiscCommands, type Impairment } from './lab.js';
import { createVnetLab } from './freebsd-vnet-lab.js';

export { qdiscCommands, staleLabNamespaces, type Impairment } from './lab.js';

/**
 * The path a TCP suite measures: the sender under test in the server namespace, the impairment
 * on the middle hop, the receiver on the harness host's side of the lab.
 */
export interface Bottleneck {
  serverNs: string;
  middleNs: string;
  serverAddress: string;
  clientAddress: string;
  /** Prefix that runs a command in the server namespace, through the target (empty when the target already is that namespace). */
  serverWrap: string[];
  /** Prefix that runs a command on the client side, through the target (a FreeBSD client jail); absent: the client side is the harness host. */
  clientWrap?: string[];
  /** Whether the harness's HTTP load client sits on the client side (false when that side is a jail on the target). */
  httpThroughPath: boolean;
  /** The impairment applied on the middle hop (tc qdisc, or the dummynet pipe), for the report. */
  qdisc: string;
  /**
   * Puts this bottleneck's impairment on the middle hop. A lab of the suite's own is set once at
   * creation; a target's lab is shared by every variant, so it is set before each measurement.
   */
  activate(): Promise<void>;
}

/**
 * A bottleneck for one suite: on a netns target, the target's own lab with the impairment added
 * to its middle hop; elsewhere, a lab of its own on the harness host (local target). Everything
 * is removed when the suite ends.
 */
export async function createBottleneck(host: Target, targetLab: TargetLab | undefined, imp: Impairment, withNetem: boolean, dir: string, stack: CleanupStack): Promise<Bottleneck> {
  if (targetLab) {
    const qdisc = qdiscCommands(targetLab.middleDevToClient, imp, withNetem).map((c) => c.slice(3).join(' ')).join(' ; ');
    let registered = false;
    return {
      serverNs: targetLab.serverNs,
      middleNs: targetLab.middleNs,
      serverAddress: targetLab.serverAddress,
      clientAddress: targetLab.clientAddress,
      serverWrap: [],
      httpThroughPath: true,
      qdisc,
      activate: async () => {
        await host.exec(['ip', 'netns', 'exec', targetLab.middleNs, 'tc', 'qdisc', 'del', 'dev', targetLab.middleDevToClient, 'root'], { allowFail: true });
        // applyImpairment registers the removal; once per bottleneck is enough.
        await applyImpairment(host, targetLab, imp, withNetem, registered ? new CleanupStack() : stack);
        registered = true;
      },
    };
  }
  const lab = await createLab(host, { dir }, stack);
  const qdisc = await applyImpairment(host, lab, imp, withNetem, stack);
  return {
    activate: async () => {},
    serverNs: lab.serverNs,
    middleNs: lab.middleNs,
    serverAddress: lab.serverAddress,
    clientAddress: lab.clientAddress,
    serverWrap: ['ip', 'netns', 'exec', lab.serverNs],
    httpThroughPath: true,
    qdisc,
  };
}

/**
 * A bottleneck on a FreeBSD target (freebsd-vnet-lab.ts): the sender is the target itself (vnet0), the
 * middle hop and the receiver are VNET jails on it. Removed when the suite ends.
 */
export async function createFreebsdBottleneck(target: Target, imp: Impairment, stack: CleanupStack, pid = process.pid): Promise<Bottleneck> {
  const lab = await createVnetLab(target, imp, stack, pid);
  return {
    serverNs: 'vnet0',
    middleNs: lab.middleJail,
    serverAddress: lab.serverAddress,
    clientAddress: lab.clientAddress,
    serverWrap: [],
    clientWrap: ['jexec', lab.clientJail],
    httpThroughPath: false,
    qdisc: lab.pipe,
    activate: async () => {},
  };
}
