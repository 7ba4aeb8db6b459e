import { formatCpuList, parseCpuList } from '../lib/cpulist.js';
import { runCommand } from '../lib/exec.js';
import { infraError } from '../model/errors.js';
import type { CpuSplit, RunOptions } from '../model/types.js';
import type { CleanupStack } from '../lib/cleanup.js';

/**
 * The CPU split of a machine that runs both the server and its load (the local target, a netns
 * lab, ssh to this box): the load client and the server get disjoint CPUs, so a client that costs
 * more per byte cannot take CPU from the server it measures, and the server's CPU per Gb/s counts
 * the server's CPUs only. Affinity of headgate's own process (inherited by every load program it
 * starts: HTTP clients run in it, Chromium, fio, iperf3 are its children) and nginx's
 * worker_cpu_affinity: nothing on the machine changes, so nothing is journaled.
 */

/**
 * Chooses the split from the CPUs this process may run on: the user's server CPUs and the rest for
 * the load, or (auto) the lower half for the load and the upper half for the server (on 2 CPUs:
 * load 0, server 1). A machine with one CPU, or server CPUs that leave none, has no split: why.
 */
export function chooseSplit(
  usable: readonly number[],
  serverCpus?: readonly number[],
): { split: CpuSplit } | { none: string } {
  if (serverCpus?.length) {
    const missing = serverCpus.filter((c) => !usable.includes(c));
    if (missing.length)
      return {
        none: `--server-cpus ${formatCpuList(serverCpus)}: CPU ${formatCpuList(missing)} is not one this process may use (${formatCpuList(usable)})`,
      };
    const client = usable.filter((c) => !serverCpus.includes(c));
    if (!client.length) return { none: `--server-cpus ${formatCpuList(serverCpus)} leaves no CPU for the load` };
    return { split: { server: [...serverCpus].sort((a, b) => a - b), client, how: 'server-cpus' } };
  }
  if (usable.length < 2) return { none: `one CPU (${formatCpuList(usable)}): the load and the server share it` };
  const k = Math.floor(usable.length / 2);
  return { split: { client: usable.slice(0, k), server: usable.slice(k), how: 'auto' } };
}

/** The CPUs a process may run on (taskset -p -c), Linux. */
export async function affinityOf(pid: number): Promise<number[]> {
  const r = await runCommand(['taskset', '-p', '-c', String(pid)], { timeoutMs: 10_000 });
  const m = /list:\s*(\S+)/.exec(r.stdout);
  if (r.code !== 0 || !m)
    throw infraError(
      `taskset -p -c ${pid}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`,
      'install util-linux (taskset)',
    );
  return parseCpuList(m[1]);
}

/** Sets the CPUs of every thread of a process (taskset -a -p -c). */
async function setAffinity(pid: number, cpus: readonly number[]): Promise<void> {
  const r = await runCommand(['taskset', '-a', '-p', '-c', formatCpuList(cpus), String(pid)], { timeoutMs: 10_000 });
  if (r.code !== 0)
    throw infraError(`taskset -a -p -c ${formatCpuList(cpus)} ${pid}: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Confines this process (the load client, and the load programs it starts from now on) to the
 * split's client CPUs until the stack unwinds, which gives back the CPUs it had.
 */
export async function confineLoad(split: CpuSplit, stack: CleanupStack): Promise<void> {
  const before = await affinityOf(process.pid);
  await setAffinity(process.pid, split.client);
  stack.push(`give the load back CPUs ${formatCpuList(before)}`, () => setAffinity(process.pid, before));
}

/**
 * The run's options with the split it will use: where server and load share this machine
 * (a target on the controller's kernel, headgate's nginx) and --cpu-split is not off. `note`
 * says why a run that could have split did not.
 */
export async function planSplit(
  target: { onController: boolean; kind: string; pinServer?: unknown },
  o: RunOptions,
): Promise<{ options: RunOptions; note?: string }> {
  // A QEMU guest runs on this machine's CPUs too (its emulator's threads): split like the local target.
  const guestHere = typeof target.pinServer === 'function';
  if (o.split || o.cpuSplit === 'off' || o.serverUrl || (!target.onController && !guestHere)) return { options: o };
  // Affinity is set with util-linux taskset: Linux only (FreeBSD's cpuset(1) is not wired in).
  if (process.platform !== 'linux')
    return {
      options: o,
      note: 'no CPU split: this OS has no affinity headgate can set; server and load share every CPU',
    };
  const c = chooseSplit(await affinityOf(process.pid), o.serverCpus);
  // With the split on, --server-cpus names this machine's CPUs: never the guest's, even unsplit.
  if ('none' in c) return { options: guestHere ? { ...o, serverCpus: undefined } : o, note: `no CPU split: ${c.none}` };
  // Inside a guest the host's CPU numbers mean nothing: nginx there is not pinned (serverCpus unset).
  if (guestHere) return { options: { ...o, serverCpus: undefined, split: { ...c.split, guest: true } } };
  return { options: { ...o, serverCpus: c.split.server, split: c.split } };
}
