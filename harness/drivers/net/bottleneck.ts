import { CleanupStack } from '../../lib/cleanup.js';
import type { Target, TargetLab } from '../targets/target.js';
import { applyImpairment, createLab, qdiscCommands, type Impairment } from './lab.js';

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
  /** The qdisc command line applied on the middle hop, for the report. */
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
    qdisc,
  };
}
