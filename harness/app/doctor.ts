import { existsSync } from 'node:fs';
import { localLeftovers } from '../drivers/journal.js';
import type { OsAdapter } from '../drivers/os/adapter.js';
import { openTarget } from '../drivers/targets/index.js';
import { runCommand } from '../lib/exec.js';
import { localJournal } from '../lib/journal.js';
import { CHROMIUM_PATH } from '../probes/browser.js';
import { allureBin } from '../reporters/allure.js';

/** One thing `doctor` checked: what, whether it is there, and how to fix it when not. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** A failed required check fails doctor (exit 3); the others only warn. */
  required: boolean;
}

/** Everything the harness needs on this machine and on the target, each with how to install it when missing. */
export async function doctorChecks(targetSpec: string, inventory: string | undefined): Promise<Check[]> {
  return [...(await localChecks()), ...(await targetChecks(targetSpec, inventory))];
}

/** This machine: Node.js, the optional tools, and what dead runs left here. */
async function localChecks(): Promise<Check[]> {
  // A missing program is a failed check, not an error.
  const probe = (argv: string[]) =>
    runCommand(argv, { timeoutMs: 30_000 }).catch(() => ({ code: 127, stdout: '', stderr: '' }));
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({ what: 'Node.js', ok: major >= 20, detail: process.version, required: true, fix: 'install Node.js 20' });
  const java = await probe(['java', '-version']);
  checks.push({
    what: 'Java (Allure HTML)',
    ok: java.code === 0,
    detail: java.code === 0 ? (java.stderr.split('\n')[0] ?? '') : 'not found',
    required: false,
    fix: 'apt-get install openjdk-17-jre-headless',
  });
  checks.push({
    what: 'allure-commandline',
    ok: existsSync(allureBin()),
    detail: allureBin(),
    required: false,
    fix: 'npm ci',
  });
  checks.push({
    what: 'Chromium (browser client, report screenshots)',
    ok: existsSync(CHROMIUM_PATH),
    detail: CHROMIUM_PATH,
    required: false,
    fix: 'apt-get install chromium',
  });
  const wrk = await probe(['wrk', '--version']);
  checks.push({
    what: 'wrk (client ceiling benchmark)',
    ok: /wrk/.test(wrk.stdout + wrk.stderr),
    detail: (wrk.stdout + wrk.stderr).split('\n')[0] ?? '',
    required: false,
    fix: 'apt-get install wrk',
  });
  // What dead runs left on this machine (reported, not undone: `headgate restore` does that).
  const left = await localLeftovers();
  checks.push({
    what: 'leftovers of dead runs on this machine',
    ok: left.length === 0,
    detail: left.length
      ? left.map((e) => `${e.label} (pid ${e.owner.pid}, ${e.at})`).join('; ')
      : `none (${localJournal().where})`,
    required: false,
    fix: 'headgate restore --target local',
  });
  return checks;
}

/** The target: reachable, nginx, root, the ssh driver's tools, and each suite's capabilities. */
async function targetChecks(targetSpec: string, inventory: string | undefined): Promise<Check[]> {
  const checks: Check[] = [];
  let target;
  try {
    target = await openTarget(targetSpec, inventory);
    const os = await target.os();
    const fp = await os.fingerprint();
    checks.push({
      what: `target ${targetSpec}`,
      ok: true,
      detail: `${fp.os} ${fp.kernelRelease}, ${fp.cpuCount} x ${fp.cpuModel}`,
      required: true,
    });
    const nginx = await target.which('nginx');
    checks.push({
      what: `nginx on ${targetSpec}`,
      ok: !!nginx,
      detail: nginx ? `${nginx} ${fp.tools.nginx ?? ''}`.trim() : 'not found',
      required: true,
      fix: fp.os === 'freebsd' ? 'pkg install nginx' : 'apt-get install nginx-light',
    });
    const root = target.runsAsRoot;
    checks.push({
      what: `root on ${targetSpec} (knobs, page cache, namespaces)`,
      ok: root,
      detail: root
        ? target.workDir === null
          ? 'running as root'
          : 'root login or passwordless sudo'
        : 'not root: suites that change kernel knobs will fail',
      required: false,
      fix: 'run as root, or allow passwordless sudo for the harness user',
    });
    if (target.workDir !== null) {
      // The ssh driver's own needs on a remote target: remote timeouts, uploads, downloads.
      for (const tool of ['timeout', 'tar']) {
        const p = await target.which(tool);
        checks.push({
          what: `${tool} on ${targetSpec} (ssh driver)`,
          ok: !!p,
          detail: p ?? 'not found',
          required: true,
          fix: fp.os === 'freebsd' ? 'part of the base system: check PATH' : 'apt-get install coreutils tar',
        });
      }
      checks.push({ what: `work directory on ${targetSpec}`, ok: true, detail: target.workDir, required: false });
    }
    for (const n of target.notes ?? [])
      checks.push({ what: `target ${targetSpec} note`, ok: false, detail: n, required: false });
    // A remote target keeps the objects under workDir/objects (runner.ts): FreeBSD's cache-cold looks at that filesystem.
    if (target.workDir !== null) os.setObjectsDir?.(`${target.workDir}/objects`);
    await capabilityChecks(os, fp.os, checks);
  } catch (e) {
    checks.push({ what: `target ${targetSpec}`, ok: false, detail: (e as Error).message, required: true });
  } finally {
    await target?.close();
  }
  return checks;
}

/** What each suite needs beyond nginx, pushed one by one: a missing one only skips the variants that need it. */
async function capabilityChecks(os: OsAdapter, family: string, checks: Check[]): Promise<void> {
  for (const [cap, what] of [
    ['sendfile', 'sendfile (sendfile suite)'],
    ['cache-cold', 'cold page cache (sendfile, pbuf)'],
    ['ktls', 'kernel TLS (ktls suite)'],
    ['tool:openssl', 'openssl (per-run certificate, ktls suite)'],
    ['tool:fio', 'fio (io-sched suite)'],
    ['tool:iperf3', 'iperf3 (tcp-stack suite)'],
    ['netns', 'network namespaces (tcp-stack bottleneck)'],
    ['netem', 'netem qdisc (tcp-stack delay and loss)'],
    ['unmapped-mbufs', 'unmapped mbufs (unmapped-mbufs suite)'],
  ] as const) {
    const c = await os.capability(cap);
    const tool = cap.startsWith('tool:') ? cap.slice(5) : undefined;
    checks.push({
      what,
      ok: c.ok,
      detail: c.reason ?? 'available',
      required: false,
      fix: tool ? (family === 'freebsd' ? `pkg install ${tool}` : `apt-get install ${tool}`) : undefined,
    });
  }
}
