import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withSettings } from '../../harness/app/ab.js';
import { checkLabDir } from '../../harness/drivers/net/lab.js';
import { checkBlockDeviceUnused } from '../../harness/drivers/os/blockdev.js';
import { FreeBSDAdapter } from '../../harness/drivers/os/freebsd.js';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { loadInventory, resolveTargetSpecs } from '../../harness/drivers/targets/inventory.js';
import { openNetnsTarget } from '../../harness/drivers/targets/netns.js';
import { openQemuTarget } from '../../harness/drivers/targets/qemu.js';
import { parseSshTargetSpec, SshTarget } from '../../harness/drivers/targets/ssh.js';
import { openVagrantTarget } from '../../harness/drivers/targets/vagrant.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { homeDir } from '../../harness/lib/home.js';
import { HeadgateError } from '../../harness/model/errors.js';
import type { RunRecord } from '../../harness/model/types.js';
import { writeAllureResults } from '../../harness/reporters/allure.js';
import { markdownReporter } from '../../harness/reporters/markdown.js';
import { renderReleaseReport } from '../../harness/reporters/release.js';
import { baselinePath, promoteRun } from '../../harness/store/baselines.js';
import { loadRunRecord, resolveRunPath } from '../../harness/store/runs.js';
import { fixtureFs, sysDisk } from '../helpers/blockfs.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

// Every hostile input goes through the real function that would turn it into a path, a knob
// write, a device write or an ssh command line. Each must be exit 2, and the first line of the
// message must name the flag, file or key it came from. The table is printed for the review.

const work = tempDir('hg-hostile-');
const reports = path.join(work, 'reports');
const baselines = path.join(work, 'baselines');
const secret = path.join(work, 'secret');
mkdirSync(reports);
mkdirSync(secret);
writeFileSync(path.join(secret, 'shadow'), 'root:SECRET:19000:0:99999:7:::\n');

/** A run directory in reports/ holding a run.json with the given changes. */
function runDir(id: string, change: (r: RunRecord) => void): string {
  const run = makeRun({ on: { throughput_gbps: [1, 2], latency_p99_ms: [1, 2], errors: [0, 0] } });
  change(run);
  const dir = path.join(reports, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(run));
  return dir;
}
const hostileRun = (change: (r: RunRecord) => void) => {
  const r = makeRun({ on: { throughput_gbps: [1, 2], latency_p99_ms: [1, 2], errors: [0, 0] } });
  change(r);
  return r;
};

/** An inventory file with one ssh target carrying the given fields. */
function inventory(fields: object): string {
  const f = path.join(work, `inventory-${Math.random().toString(36).slice(2, 8)}.json`);
  writeFileSync(f, JSON.stringify({ schemaVersion: 1, targets: [{ name: 'lab', kind: 'ssh', host: 'lab-1', ...fields }] }));
  return f;
}

const MOUNTS = '/dev/nvme0n1p2 / ext4 rw 0 0\nproc /proc proc rw 0 0\n';
const SWAPS = 'Filename\tType\tSize\tUsed\tPriority\n';
const blockFs = (o: { mounts?: string; swaps?: string; holders?: string[] } = {}) =>
  fixtureFs({
    ...sysDisk('nvme0n1', '259:0', { partitions: [['nvme0n1p1', '259:1'], ['nvme0n1p2', '259:2']] }),
    ...sysDisk('loop0', '7:0', { virtual: true, holders: o.holders }),
    ...sysDisk('vdb', '254:16', { partitions: [['vdb1', '254:17']] }),
    '/dev/mapper/vg-scratch': { link: '../dm-3' },
    '/dev/dm-3': { block: '252:3' },
    '/dev/null': { file: '' },
    '/proc/mounts': { file: o.mounts ?? MOUNTS },
    '/proc/swaps': { file: o.swaps ?? SWAPS },
  });

/**
 * Every fake target of these cases records what a real one would have done: commands, file
 * writes, spawns, uploads and journal entries. After each case nothing may be recorded that
 * changes a machine (T1: an error thrown after the write would still be a hole).
 */
class RecordingTarget extends FakeTarget {
  static all: RecordingTarget[] = [];
  constructor(...a: ConstructorParameters<typeof FakeTarget>) {
    super(...a);
    RecordingTarget.all.push(this);
    this.journal = { ...this.journal, record: async (label: string) => (this.transcript.push(`journal ${label}`), 'x') };
  }
  override async writeFile(file: string): Promise<void> {
    this.transcript.push(`WRITE ${file}`);
  }
  override async spawn(argv?: string[]): ReturnType<FakeTarget['spawn']> {
    this.transcript.push(`SPAWN ${JSON.stringify(argv)}`);
    return super.spawn(argv);
  }
  override async upload(local: string, remote: string): Promise<void> {
    this.transcript.push(`UPLOAD ${local} ${remote}`);
  }
}
/** Commands that change a machine (reads such as readlink, stat, ls, cat and sysctl -n are fine). */
const MUTATING = /^(WRITE|SPAWN|UPLOAD|journal|rm|rmdir|mkdir|mv|cp|ln|tee|dd|fio|mkfs|wipefs|kill|pkill|losetup|mount|umount|modprobe|rmmod|kldload|kldunload|mdconfig|nginx|sysctl (?!-n |-N )|ip (netns (add|del)|link (add|del|set)|addr|route)|tc (qdisc|class|filter) (add|del|change|replace)|sh -c|nextboot|reboot|shutdown|chmod|chown|truncate)\b/;
/** What the cases could touch on this machine: the sinks under the test directory, headgate's home and the namespaces. */
const localState = () => {
  const list = (d: string): string[] => (existsSync(d) ? readdirSync(d, { recursive: true }).map(String).sort() : []);
  return JSON.stringify({ baselines: list(baselines), secret: list(secret), netns: execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), home: ['labs', 'qemu', 'vagrant', 'scratch'].map((k) => list(path.join(homeDir(), k))) });
};

/** A Linux target whose /sys/class/evil/x is a symlink to /etc/x. */
const linuxTarget = () =>
  new LinuxAdapter(new RecordingTarget((argv) => (argv[0] === 'readlink' ? { stdout: argv[3] === '/sys/class/evil/x' ? '/etc/x\n' : `${argv[3]}\n` } : { code: 0 })));
const freebsd = () => new FreeBSDAdapter(new RecordingTarget(() => ({ stdout: '1\n' })));
const variant = { id: 'on', description: 'on', default: true } as Parameters<typeof withSettings>[0];
const inv = { schemaVersion: 1 as const, targets: [] };

interface Case {
  name: string;
  input: string;
  /** What the first line must name: the flag, file or key. */
  names: string;
  run: () => unknown;
}

const CASES: Case[] = [
  // 1-2: target names that become directories removed with rm -rf
  { name: 'netns name climbs out of the temp dir', input: '--target netns:x/../../../some/dir', names: '--target netns:NAME', run: () => resolveTargetSpecs('netns:x/../../../some/dir', inv) },
  { name: 'netns name opened directly', input: 'openNetnsTarget("x/../NAME")', names: '--target netns:NAME', run: () => openNetnsTarget('x/../NAME') },
  { name: 'qemu name climbs out', input: '--target qemu:../../etc', names: '--target qemu:NAME', run: () => resolveTargetSpecs('qemu:../../etc', inv) },
  { name: 'qemu inventory name opened directly', input: 'qemu target name "a/../../b"', names: '--target qemu:NAME', run: () => openQemuTarget({ name: 'a/../../b', kind: 'qemu' }) },
  { name: 'vagrant name with a slash', input: '--target vagrant:a/b', names: '--target vagrant:NAME', run: () => resolveTargetSpecs('vagrant:a/b', inv) },
  { name: 'vagrant machine opened directly', input: 'vagrant machine "../x"', names: '--target vagrant:NAME', run: () => openVagrantTarget({ name: '../x', kind: 'vagrant' }, () => {}) },
  { name: 'lab directory with ..', input: 'lab dir /tmp/hg-lab-1-x/../../some/dir', names: 'netns lab directory', run: () => checkLabDir('/tmp/hg-lab-1-x/../../some/dir') },
  // profiles, suites, run ids
  { name: '--profile with a slash (promote)', input: '--profile ../../etc', names: '--profile', run: () => promoteRun(hostileRun(() => {}), { dir: baselines, reason: 'x', profile: '../../etc' }) },
  { name: 'run.json profile climbs out', input: 'run.json profile ../../../tmp/evil', names: 'run.json profile', run: () => promoteRun(hostileRun((r) => (r.profile = '../../../tmp/evil')), { dir: baselines, reason: 'x' }) },
  { name: 'run.json suite id climbs out', input: 'run.json suites[0].id ../../x', names: 'run.json suites[0].id', run: () => promoteRun(hostileRun((r) => (r.suites[0].id = '../../x')), { dir: baselines, reason: 'x' }) },
  { name: 'baseline show --suite', input: '--suite ../x', names: '--suite', run: () => baselinePath(baselines, 'p', '../x', { profile: '--profile', suite: '--suite' }) },
  { name: 'run id with shell characters', input: 'compare "r1;id"', names: 'run id', run: () => resolveRunPath('r1;id', reports) },
  { name: 'run path outside any run', input: 'report /etc/passwd', names: 'run /etc/passwd', run: () => resolveRunPath('/etc/passwd', reports) },
  { name: 'run directory without run.json', input: `report ${secret}`, names: `run ${secret}`, run: () => resolveRunPath(secret, reports) },
  { name: 'run.json runId climbs out', input: 'run.json runId ../x', names: 'run.json: runId', run: () => loadRunRecord(runDir('bad-id', (r) => (r.runId = '../x'))) },
  // artifacts and console paths read into reports
  { name: 'artifact ../../etc/shadow', input: 'artifacts["error.log"] = ../../etc/shadow', names: 'artifacts["error.log"]', run: () => loadRunRecord(runDir('shadow', (r) => (r.suites[0].variants[0].artifacts = { 'error.log': '../../etc/shadow' }))) },
  { name: 'artifact absolute path', input: 'artifacts["nginx.conf"] = /etc/shadow', names: 'artifacts["nginx.conf"]', run: () => loadRunRecord(runDir('abs', (r) => (r.suites[0].variants[0].artifacts = { 'nginx.conf': '/etc/shadow' }))) },
  {
    name: 'artifact symlinked out of the run dir (allure)',
    input: 'artifacts["error.log"] = link -> secret/shadow',
    names: 'artifacts["error.log"]',
    run: () => {
      const dir = runDir('link', () => {});
      symlinkSync(path.join(secret, 'shadow'), path.join(dir, 'error.log'));
      return writeAllureResults(hostileRun((r) => (r.suites[0].variants[0].artifacts = { 'error.log': 'error.log' })), dir, path.join(dir, 'allure-results'));
    },
  },
  { name: 'console path outside (release report)', input: 'target.console = ../../../../etc/shadow', names: 'target.console', run: () => renderReleaseReport([{ run: hostileRun((r) => (r.target.console = '../../../../etc/shadow')), runDir: runDir('con', () => {}) }], path.join(work, 'release'), 't') },
  { name: 'hostile run id (markdown)', input: 'run.json runId "x`id`"', names: 'runId', run: () => markdownReporter.render({ run: hostileRun((r) => (r.runId = 'x`id`')), runDir: runDir('md', () => {}), reportsDir: reports, log: () => {} }) },
  // knobs
  { name: 'ab --b-knob /sys/../etc', input: '--b-knob /sys/../etc/x=y', names: '--b-knob', run: () => withSettings(variant, [], ['/sys/../etc/x=y']) },
  { name: 'ab --b-knob sysctl with ..', input: '--b-knob net/../../etc/x=1', names: '--b-knob', run: () => withSettings(variant, [], ['net/../../etc/x=1']) },
  { name: 'ab --b-knob as an option', input: '--b-knob -a=1', names: '--b-knob', run: () => withSettings(variant, [], ['-a=1']) },
  { name: 'sysfs knob resolving outside /sys', input: 'knob /sys/class/evil/x (-> /etc/x)', names: 'knob /sys/class/evil/x', run: () => linuxTarget().setKnob('/sys/class/evil/x', 'y', new CleanupStack()) },
  { name: 'sysctl knob with ..', input: 'knob kernel..core_pattern', names: 'knob', run: () => linuxTarget().setKnob('kernel..core_pattern', '|/tmp/x', new CleanupStack()) },
  { name: 'FreeBSD sysctl as an option', input: 'knob -a (FreeBSD)', names: 'knob', run: () => freebsd().getKnob('-a') },
  { name: 'FreeBSD kld module with ..', input: 'knob kld:../x', names: 'knob', run: () => freebsd().getKnob('kld:../x') },
  // block devices
  { name: 'mounted loop device as /dev//loop0', input: '--block-device /dev//loop0 (ext4 on /mnt)', names: '--block-device /dev//loop0', run: () => checkBlockDeviceUnused('/dev//loop0', blockFs({ mounts: `${MOUNTS}/dev/loop0 /mnt ext4 rw 0 0\n` })) },
  { name: 'mounted loop device as /dev/./loop0', input: '--block-device /dev/./loop0', names: '--block-device /dev/./loop0', run: () => checkBlockDeviceUnused('/dev/./loop0', blockFs({ mounts: `${MOUNTS}/dev/loop0 /mnt ext4 rw 0 0\n` })) },
  { name: "a partition's mount", input: '--block-device /dev/vdb (vdb1 on /data)', names: '--block-device /dev/vdb', run: () => checkBlockDeviceUnused('/dev/vdb', blockFs({ mounts: `${MOUNTS}/dev/vdb1 /data xfs rw 0 0\n` })) },
  { name: 'device-mapper holder', input: '--block-device /dev/loop0 (dm-0 on it)', names: '--block-device /dev/loop0', run: () => checkBlockDeviceUnused('/dev/loop0', blockFs({ holders: ['dm-0'] })) },
  { name: 'swap partition', input: '--block-device /dev/vdb (vdb1 is swap)', names: '--block-device /dev/vdb', run: () => checkBlockDeviceUnused('/dev/vdb', blockFs({ swaps: `${SWAPS}/dev/vdb1 partition 1048572 0 -2\n` })) },
  { name: 'the root disk', input: '--block-device /dev/nvme0n1', names: '--block-device /dev/nvme0n1', run: () => checkBlockDeviceUnused('/dev/nvme0n1', blockFs()) },
  { name: 'not a block device', input: '--block-device /dev/null', names: '--block-device /dev/null', run: () => checkBlockDeviceUnused('/dev/null', blockFs()) },
  { name: 'unknown to sysfs (mapper link)', input: '--block-device /dev/mapper/vg-scratch', names: '--block-device /dev/mapper/vg-scratch', run: () => checkBlockDeviceUnused('/dev/mapper/vg-scratch', blockFs()) },
  // ssh
  { name: 'ssh destination read as an option', input: '--target ssh:-oProxyCommand=touch /tmp/x', names: '--target ssh:HOST', run: () => parseSshTargetSpec('ssh:-oProxyCommand=touch /tmp/x') },
  { name: 'ssh user read as an option', input: '--target ssh:-oProxyCommand=x@lab', names: '--target ssh:USER@HOST', run: () => parseSshTargetSpec('ssh:-oProxyCommand=x@lab') },
  { name: 'ssh host with a newline', input: '--target "ssh:lab\\n-oProxyCommand=x"', names: '--target ssh:HOST', run: () => parseSshTargetSpec('ssh:lab\n-oProxyCommand=x') },
  { name: 'ssh target built with a hostile host', input: 'SshTarget host "-lroot"', names: 'target x: host', run: () => new SshTarget({ name: 'x', host: '-lroot' }) },
  { name: 'inventory StrictHostKeyChecking=no', input: 'sshOptions.StrictHostKeyChecking: no', names: '/targets/0/sshOptions/StrictHostKeyChecking', run: () => loadInventory(inventory({ sshOptions: { StrictHostKeyChecking: 'no' } })) },
  { name: 'inventory stricthostkeychecking=off', input: 'sshOptions.stricthostkeychecking: off', names: '/targets/0/sshOptions/stricthostkeychecking', run: () => loadInventory(inventory({ sshOptions: { stricthostkeychecking: 'off' } })) },
  { name: 'inventory accept-new (trust on first use)', input: 'sshOptions.StrictHostKeyChecking: accept-new', names: '/targets/0/sshOptions/StrictHostKeyChecking', run: () => loadInventory(inventory({ sshOptions: { StrictHostKeyChecking: 'accept-new' } })) },
  { name: 'no host-key check hidden in ProxyCommand', input: 'sshOptions.ProxyCommand: ssh -o StrictHostKeyChecking=no ...', names: '/targets/0/sshOptions/ProxyCommand', run: () => loadInventory(inventory({ sshOptions: { ProxyCommand: 'ssh -o StrictHostKeyChecking=no -W %h:%p jump' } })) },
  { name: 'inventory host read as an option', input: 'host: -oProxyCommand=x', names: '/targets/0/host', run: () => loadInventory(inventory({ host: '-oProxyCommand=x' })) },
  { name: 'inventory user with whitespace', input: 'user: "root -v"', names: '/targets/0/user', run: () => loadInventory(inventory({ user: 'root -v' })) },
];

const rows: string[][] = [];
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '\\n');

afterAll(() => {
  console.log(['| case | input | exit code | first line of the message |', '| --- | --- | ---: | --- |', ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n'));
});

describe('hostile input: every case is exit 2 naming the flag, file or key', () => {
  it(`has at least 25 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      let e: unknown = null;
      RecordingTarget.all = [];
      const before = localState();
      try {
        await c.run();
      } catch (x) {
        e = x;
      }
      // Nothing was written, run, deleted or killed: on the fake targets, and on this machine.
      const done = RecordingTarget.all.flatMap((t) => t.transcript).filter((l) => MUTATING.test(l));
      expect(done, `${c.name}: changed a machine before refusing`).toEqual([]);
      expect(localState(), `${c.name}: changed this machine`).toBe(before);
      const code = e instanceof HeadgateError ? e.exitCode : e ? 'crash' : 0;
      const first = e instanceof Error ? e.message.split('\n')[0] : '(accepted)';
      rows.push([c.name, c.input, String(code), first]);
      expect(code, first).toBe(2);
      expect(first).toContain(c.names);
    });
  }
});
