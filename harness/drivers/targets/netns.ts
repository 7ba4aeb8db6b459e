import { journaled } from '../../lib/journal.js';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { CleanupStack } from '../../lib/cleanup.js';
import { confineAs, safeName } from '../../lib/confine.js';
import { createLab } from '../net/lab.js';
import { LocalTarget } from './local.js';
import { SshTarget } from './ssh.js';

/** A target whose lab (namespaces, veth, sshd) the harness built; closing it tears the lab down. */
class NetnsTarget extends SshTarget {
  constructor(
    spec: ConstructorParameters<typeof SshTarget>[0],
    private readonly labStack: CleanupStack,
  ) {
    super(spec);
  }
  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.labStack.unwind();
    }
  }
}

/**
 * Builds a netns lab on this machine (client side here, a middle hop, a server namespace with
 * sshd at 198.18.k.1) and returns an ssh target into its server namespace. Everything runs
 * through the same ssh driver as a lab appliance: this is how the ssh path is tested for real.
 */
export async function openNetnsTarget(name: string): Promise<SshTarget> {
  const stack = new CleanupStack();
  try {
    // The lab directory is removed with the lab (rm -rf): a safe name, and a path that stays in the temp dir.
    const dir = confineAs('--target netns:NAME', os.tmpdir(), `hg-lab-${process.pid}-${safeName('--target netns:NAME', name)}`);
    const host = new LocalTarget();
    const noop = async () => {};
    await journaled(host.journal, stack, `remove ${dir}`, { kind: 'rm', path: dir }, noop, () => rm(dir, { recursive: true, force: true }));
    const lab = await createLab(host, { dir, sshd: true }, stack);
    const work = `/var/tmp/headgate-${lab.serverNs}`;
    await journaled(host.journal, stack, `remove ${work}`, { kind: 'rm', path: work }, noop, () => rm(work, { recursive: true, force: true }));
    const ssh = lab.ssh!;
    const t = new NetnsTarget(
      {
        name,
        kind: 'netns',
        host: lab.serverAddress,
        port: ssh.port,
        user: ssh.user,
        identityFile: ssh.identityFile,
        knownHostsFile: ssh.knownHostsFile,
        // The lab shares this machine's filesystem: a work directory of its own per lab.
        workDir: `/var/tmp/headgate-${lab.serverNs}`,
        lab,
      },
      stack,
    );
    await t.connect();
    return t;
  } catch (e) {
    await stack.unwind();
    throw e;
  }
}
