import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKnobName, checkSysfsKnobPath, confine, confineAs, linuxSysctlPath, safeName } from '../../harness/lib/confine.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { LinuxAdapter } from '../../harness/drivers/os/linux.js';
import { FreeBSDAdapter } from '../../harness/drivers/os/freebsd.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { withSettings } from '../../harness/app/ab.js';
import { checkLabDir } from '../../harness/drivers/net/lab.js';
import { loadInventory, resolveTargetSpecs } from '../../harness/drivers/targets/inventory.js';
import { parseSshTargetSpec, SshTarget } from '../../harness/drivers/targets/ssh.js';
import { checkRunRecordPaths, resolveRunPath } from '../../harness/store/runs.js';
import { baselinePath, promoteRun } from '../../harness/store/baselines.js';
import { writeAllureResults } from '../../harness/reporters/allure.js';
import { FakeTarget } from '../helpers/fake-target.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

/** The error fn throws (or its promise rejects with): an exit-2 HeadgateError. */
async function exit2(fn: () => unknown): Promise<string> {
  let e: unknown = null;
  try {
    await fn();
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(HeadgateError);
  expect((e as HeadgateError).exitCode).toBe(2);
  return (e as HeadgateError).message.split('\n')[0];
}

describe('safeName and confine', () => {
  it('accepts ids and refuses separators, traversal, options, control characters and long names', async () => {
    for (const ok of ['netns', 'lab-1', 'x86_64.linux', '20261126T000000Z-abc123', 'A'.repeat(128)]) expect(safeName('--profile', ok)).toBe(ok);
    for (const bad of ['', '..', 'a..b', 'x/../y', '../x', '/abs', '-rf', '.hidden', 'a b', 'a\nb', 'A'.repeat(129), 'a\\b']) {
      expect(await exit2(() => safeName('--profile', bad))).toMatch(/^--profile ".*": not a valid name/);
    }
  });

  it('keeps a path inside its root, as written and after symlinks, and names the value', async () => {
    const root = tempDir('hg-confine-');
    const outside = tempDir('hg-confine-out-');
    mkdirSync(path.join(root, 'runs'));
    symlinkSync(outside, path.join(root, 'runs', 'escape'));
    symlinkSync(path.join(outside, 'not-yet'), path.join(root, 'dangling'));
    symlinkSync('../runs', path.join(root, 'runs', 'inside'));
    expect(confine(root, 'runs', 'a', 'b')).toBe(path.join(root, 'runs', 'a', 'b'));
    expect(confine(root, 'runs/inside/x')).toBe(path.join(root, 'runs', 'inside', 'x'));
    expect(await exit2(() => confineAs('--out', root, '../x'))).toMatch(/^--out "\.\.\/x": resolves to .*, outside /);
    expect(await exit2(() => confine(root, '/etc/passwd'))).toMatch(/outside/);
    expect(await exit2(() => confine(root, 'runs', 'escape', 'new-file'))).toMatch(/leads through a symlink to .*hg-confine-out-/);
    expect(await exit2(() => confine(root, 'dangling', 'x'))).toMatch(/leads through a symlink/);
    expect(await exit2(() => confine(root, 'a\0b'))).toMatch(/NUL/);
  });
});

describe('knob names', () => {
  it('sysctls map under /proc/sys; /sys paths are spelled under /sys', async () => {
    expect(linuxSysctlPath('knob', 'net.ipv4.tcp_wmem')).toBe('/proc/sys/net/ipv4/tcp_wmem');
    expect(linuxSysctlPath('knob', 'net/ipv4/conf/eth0.100/rp_filter')).toBe('/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
    for (const bad of ['net..ipv4', 'net/../../etc/shadow', '../x', 'net.', '/proc/sys/x', 'Net.x', '-w']) expect(await exit2(() => linuxSysctlPath('knob', bad))).toMatch(/^knob ".*": not a sysctl name/);
    expect(checkSysfsKnobPath('knob', '/sys/block/loop0/queue/scheduler')).toBe('/sys/block/loop0/queue/scheduler');
    for (const bad of ['/sys/../etc/x', '/sys//block', '/sys/./x', '/etc/x', '/sys', '/sys/a b']) expect(await exit2(() => checkSysfsKnobPath('knob', bad))).toMatch(/not a path under \/sys/);
    expect(checkKnobName('--b-knob', 'kern.cam.ada.0.iosched.%parent')).toBeTruthy();
    expect(await exit2(() => checkKnobName('--b-knob', '-a'))).toMatch(/^--b-knob "-a"/);
  });

  it('ab --b-knob /sys/../etc/x=y is refused before any target is touched', async () => {
    const v = { id: 'on', description: 'on', default: true } as Parameters<typeof withSettings>[0];
    expect(await exit2(() => withSettings(v, [], ['/sys/../etc/x=y']))).toMatch(/^--b-knob "\/sys\/\.\.\/etc\/x"/);
    expect(withSettings(v, [], ['net.ipv4.tcp_wmem=4096 16384 4194304']).knobs?.linux).toEqual({ 'net.ipv4.tcp_wmem': '4096 16384 4194304' });
  });

  it('the Linux adapter writes only inside /proc/sys and /sys: a /sys path whose real path leaves /sys is never written', async () => {
    const t = new FakeTarget((argv) => (argv[0] === 'readlink' ? { stdout: argv[3] === '/sys/class/evil/x' ? '/etc/x\n' : `${argv[3]}\n` } : { code: 0 }));
    const os = new LinuxAdapter(t);
    const stack = new CleanupStack();
    expect(await exit2(() => os.setKnob('/sys/../etc/x', 'y', stack))).toMatch(/^knob "\/sys\/\.\.\/etc\/x": not a path under \/sys/);
    expect(await exit2(() => os.setKnob('/sys/class/evil/x', 'y', stack))).toMatch(/^knob \/sys\/class\/evil\/x: resolves to \/etc\/x, outside \/sys/);
    expect(await exit2(() => os.setKnob('net/../../../etc/x', 'y', stack))).toMatch(/not a sysctl name/);
    expect(t.transcript.filter((l) => !l.startsWith('readlink'))).toEqual([]);
  });

  it('FreeBSD sysctl names are never options or two words', async () => {
    const t = new FakeTarget(() => ({ stdout: '1\n' }));
    const os = new FreeBSDAdapter(t);
    expect(await exit2(() => os.getKnob('-a'))).toMatch(/^knob "-a": not a FreeBSD sysctl name/);
    expect(await exit2(() => os.getKnob('kern.ipc tls'))).toMatch(/not a FreeBSD sysctl name/);
    expect(await exit2(() => os.getKnob('kld:../x'))).toMatch(/not a kernel module name/);
    expect(t.transcript).toEqual([]);
    expect(await os.getKnob('kern.ipc.tls.enable')).toBe('1');
  });
});

describe('targets: names that become paths, and ssh words', () => {
  const inv = { schemaVersion: 1 as const, targets: [] };

  it('netns:, qemu: and vagrant: names are safe names', async () => {
    expect(await exit2(() => resolveTargetSpecs('netns:x/../../../some/dir', inv))).toMatch(/^--target netns:NAME "x\/\.\.\/\.\.\/\.\.\/some\/dir": not a valid name/);
    expect(await exit2(() => resolveTargetSpecs('qemu:../x', inv))).toMatch(/^--target qemu:NAME/);
    expect(await exit2(() => resolveTargetSpecs('vagrant:a/b', inv, '--client'))).toMatch(/^--client vagrant:NAME/);
    expect(resolveTargetSpecs('netns', inv)[0].name).toBe('netns');
    expect(resolveTargetSpecs('netns:lab-1', inv)[0].name).toBe('lab-1');
  });

  it('a lab directory must be absolute, normalized and below a top-level directory before rm -rf', async () => {
    expect(checkLabDir('/tmp/hg-lab-1-x')).toBe('/tmp/hg-lab-1-x');
    for (const bad of ['/tmp/hg-lab-1-x/../../some/dir', 'rel/dir', '/', '/tmp', '/tmp//x']) expect(await exit2(() => checkLabDir(bad))).toMatch(/^netns lab directory/);
  });

  it('ssh destinations and users are never options; -- goes before the destination', async () => {
    expect(await exit2(() => parseSshTargetSpec('ssh:-oProxyCommand=touch /tmp/pwned'))).toMatch(/^--target ssh:HOST "-oProxyCommand=touch \/tmp\/pwned"/);
    expect(await exit2(() => parseSshTargetSpec('ssh:-lroot@host'))).toMatch(/^--target ssh:USER@HOST "-lroot"/);
    expect(await exit2(() => new SshTarget({ name: 'x', host: 'lab\n-oProxyCommand=x' }))).toMatch(/^target x: host/);
    const args = new SshTarget({ name: 'x', host: 'lab-1', user: 'root', options: { ProxyJump: 'jump' } }).sshArgs();
    expect(args.slice(-2)).toEqual(['--', 'lab-1']);
    expect(args.slice(0, 2)).toEqual(['-o', 'StrictHostKeyChecking=yes']);
  });

  it('an inventory that switches host-key checking off is exit 2 naming the file and key', async () => {
    const dir = tempDir('hg-inv-');
    const write = (body: object) => {
      const f = path.join(dir, `inv-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(f, JSON.stringify({ schemaVersion: 1, targets: [{ name: 'lab', kind: 'ssh', host: 'lab-1', ...body }] }));
      return f;
    };
    let f = write({ sshOptions: { StrictHostKeyChecking: 'no' } });
    expect(await exit2(() => loadInventory(f))).toBe(`${f}: /targets/0/sshOptions/StrictHostKeyChecking "no": switches ssh host-key checking off; headgate always checks host keys (record the key in knownHostsFile instead)`);
    f = write({ sshOptions: { stricthostkeychecking: 'Accept-New' } });
    expect(await exit2(() => loadInventory(f))).toMatch(/\/targets\/0\/sshOptions\/stricthostkeychecking/);
    f = write({ sshOptions: { ProxyCommand: 'ssh -o StrictHostKeyChecking=no -W %h:%p jump' } });
    expect(await exit2(() => loadInventory(f))).toMatch(/\/targets\/0\/sshOptions\/ProxyCommand/);
    f = write({ host: '-oProxyCommand=x' });
    expect(await exit2(() => loadInventory(f))).toMatch(/\/targets\/0\/host "-oProxyCommand=x"/);
    f = write({ sshOptions: { ProxyJump: 'jump' } });
    expect((await loadInventory(f)).targets).toHaveLength(1);
  });
});

describe('runs, baselines and reports: names and paths from run.json', () => {
  it('a run id is a safe name looked up inside the reports directory; a path is a directory holding run.json', async () => {
    const reports = tempDir('hg-reports-');
    mkdirSync(path.join(reports, 'r1'));
    writeFileSync(path.join(reports, 'r1', 'run.json'), '{}');
    expect(resolveRunPath('r1', reports)).toBe(path.join(reports, 'r1', 'run.json'));
    expect(resolveRunPath(path.join(reports, 'r1'), reports)).toBe(path.join(reports, 'r1', 'run.json'));
    expect(await exit2(() => resolveRunPath('../../etc', reports))).toMatch(/^run \.\.\/\.\.\/etc: (no run found|directory holds no run\.json)/);
    expect(await exit2(() => resolveRunPath('/etc/passwd', reports))).toMatch(/^run \/etc\/passwd: no run found/);
    expect(await exit2(() => resolveRunPath(reports, reports))).toMatch(/directory holds no run.json/);
    expect(await exit2(() => resolveRunPath('r1 x', reports))).toMatch(/^run id "r1 x": not a valid name/);
  });

  it('a hostile run.json (artifact ../../etc/shadow, a symlinked artifact, a console outside) is refused before anything is read', async () => {
    const runDir = tempDir('hg-run-');
    const outside = tempDir('hg-secret-');
    writeFileSync(path.join(outside, 'shadow'), 'root:SECRET:19000:0:99999:7:::\n');
    symlinkSync(path.join(outside, 'shadow'), path.join(runDir, 'innocent.log'));
    const hostile = (artifacts: Record<string, string>, console?: string) => {
      const run = makeRun({ on: { throughput_gbps: [1, 2] } });
      run.suites[0].variants[0].artifacts = artifacts;
      if (console) run.target.console = console;
      return run;
    };
    const file = path.join(runDir, 'run.json');
    expect(await exit2(() => checkRunRecordPaths(hostile({ 'error.log': '../../etc/shadow' }), runDir))).toMatch(
      new RegExp(`^${file.replace(/[.]/g, '\\.')}: suites\\[0\\]\\.variants\\[0\\]\\.artifacts\\["error\\.log"\\] "\\.\\./\\.\\./etc/shadow": resolves to /etc/shadow, outside`),
    );
    expect(await exit2(() => checkRunRecordPaths(hostile({ 'error.log': 'innocent.log' }), runDir))).toMatch(/leads through a symlink/);
    expect(await exit2(() => checkRunRecordPaths(hostile({}, '/etc/shadow'), runDir))).toMatch(/target\.console "\/etc\/shadow"/);
    expect(await exit2(() => checkRunRecordPaths(makeRun({}, { runId: '../x' }), runDir))).toMatch(/: runId "\.\.\/x"/);
    const results = path.join(runDir, 'allure-results');
    expect(await exit2(() => writeAllureResults(hostile({ 'error.log': '../../etc/shadow' }), runDir, results))).toMatch(/artifacts/);
    expect(await exit2(() => writeAllureResults(hostile({ 'error.log': 'innocent.log' }), runDir, results))).toMatch(/symlink/);
    expect(existsSync(results)).toBe(false);
  });

  it('baseline paths: profile and suite ids from flags or run.json stay inside the baselines directory', async () => {
    const dir = tempDir('hg-bl-');
    expect(baselinePath(dir, 'p', 's')).toBe(path.join(dir, 'p', 's.json'));
    const run = makeRun({ on: { throughput_gbps: [1, 2], latency_p99_ms: [1, 2], errors: [0, 0] } }, { profile: '../../../tmp/evil' });
    expect(await exit2(() => promoteRun(run, { dir, reason: 'x' }))).toMatch(/^run r1: run\.json profile "\.\.\/\.\.\/\.\.\/tmp\/evil": not a valid name/);
    expect(await exit2(() => promoteRun(makeRun({}), { dir, reason: 'x', profile: 'a/b' }))).toMatch(/^--profile "a\/b"/);
    const badSuite = makeRun({ on: { throughput_gbps: [1, 2] } });
    badSuite.suites[0].id = '../../x';
    expect(await exit2(() => promoteRun(badSuite, { dir, reason: 'x' }))).toMatch(/^run r1: run\.json suites\[0\]\.id "\.\.\/\.\.\/x"/);
  });
});
