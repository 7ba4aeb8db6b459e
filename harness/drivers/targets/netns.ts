import { journaled } from '../../lib/journal.js';
import { rm } from 'node:fs/promises';
import { CleanupStack } from '../../lib/cleanup.js';
import { safeName } from '../../lib/confine.js';
import { freshPrivateDir } from '../../lib/home.js';
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
    // The lab's keys and sshd config go to a fresh private directory in headgate's home (random
    // name, 0700: nothing planted can be reused), removed with the lab.
    const safe = safeName('--target netns:NAME', name);
    const host = new LocalTarget();
    const dir = freshPrivateDir('labs', `${safe}-`);
    await journaled(host.journal, stack, `remove ${dir}`, { kind: 'rm', path: dir }, async () => {}, () => rm(dir, { recursive: true, force: true }));
    const lab = await createLab(host, { dir, sshd: true }, stack);
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
