import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CleanupStack } from '../../lib/cleanup.js';
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
    const dir = path.join(os.tmpdir(), `hg-lab-${process.pid}-${name}`);
    const lab = await createLab(new LocalTarget(), { dir, sshd: true }, stack);
    stack.push(`remove ${dir}`, async () => {
      await rm(dir, { recursive: true, force: true });
    });
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
    stack.push(`remove /var/tmp/headgate-${lab.serverNs}`, async () => {
      await rm(`/var/tmp/headgate-${lab.serverNs}`, { recursive: true, force: true });
    });
    await t.connect();
    return t;
  } catch (e) {
    await stack.unwind();
    throw e;
  }
}
