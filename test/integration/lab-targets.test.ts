import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import type { RunRecord } from '../../harness/model/types.js';
import { createLab, startSshd, type NetnsLab } from '../../harness/drivers/net/lab.js';
import { freePort } from '../../harness/drivers/net/ports.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { cli, ROOT, startCli } from '../helpers/cli.js';

// Real targets: the CLI reaches sshds in network namespaces (198.18.0.0/15) over the system
// OpenSSH client, exactly as it reaches a lab appliance. Load tests run one after another.

const SENDFILE = ['--suite', 'sendfile', '--variant', 'sendfile-on,sendfile-off', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0'];
let work: string;
let noBaselines: string;
const stack = new CleanupStack();
let lab: NetnsLab;

const readRun = async (runDir: string) => JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as RunRecord;
const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
/** A shell command on the appliance stand-in (its own mount namespace: its home is not this machine's). */
const onLab = (cmd: string, l: NetnsLab = lab) =>
  execFileSync('ssh', ['-i', l.ssh!.identityFile, '-o', `UserKnownHostsFile=${l.ssh!.knownHostsFile}`, '-o', 'BatchMode=yes', `root@${l.serverAddress}`, cmd], { encoding: 'utf8' });
const fingerprintOf = (pubFile: string) => execFileSync('ssh-keygen', ['-l', '-f', pubFile], { encoding: 'utf8' }).split(/\s+/)[1];

/** An inventory with one ssh target: the test's own lab sshd. */
async function inventory(extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(work, `inventory-${Math.random().toString(36).slice(2)}.json`);
  const target = {
    name: 'lab-01',
    kind: 'ssh',
    host: lab.serverAddress,
    user: 'root',
    port: lab.ssh!.port,
    identityFile: lab.ssh!.identityFile,
    knownHostsFile: lab.ssh!.knownHostsFile,
    workDir: path.join(work, 'remote-work'),
    groups: ['canary'],
    ...extra,
  };
  await writeFile(file, JSON.stringify({ schemaVersion: 1, targets: [target] }));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hg-lab-test-'));
  noBaselines = path.join(work, 'baselines');
  // The appliance stand-in has a machine id and a headgate home of its own (lab.ts otherMachine):
  // to headgate it is another machine, reached, locked and journaled as a remote one.
  lab = await createLab(new LocalTarget(), { dir: path.join(work, 'lab'), sshd: { otherMachine: true } }, stack);
});

afterAll(async () => {
  await stack.unwind();
  await rm(work, { recursive: true, force: true });
});

describe('ssh target (system OpenSSH into a namespace sshd)', () => {
  it('gates over ssh: objects uploaded, every body verified, artifacts brought back, the lock released', async () => {
    const inv = await inventory();
    const r = await cli(['gate', '--inventory', inv, '--target', 'group:canary', ...SENDFILE, '--out', path.join(work, 'r1'), '--baselines', noBaselines, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const run = await readRun(out.runDir);
    expect(run.target).toMatchObject({ kind: 'ssh', name: 'lab-01', address: lab.serverAddress });
    expect(r.stderr).toMatch(/uploaded the object set to lab-01:/);
    const variants = run.suites[0].variants;
    expect(variants.map((v) => v.status)).toEqual(['ran', 'ran']);
    for (const v of variants) {
      for (const rep of v.repetitions) {
        expect(rep.verification.verified).toBeGreaterThan(0);
        expect(rep.verification.failed).toBe(0);
      }
      // nginx ran on the target; its config was downloaded into the local run directory.
      expect(existsSync(path.join(out.runDir, v.artifacts['nginx.conf']))).toBe(true);
    }
    // The lock is in the appliance's own home, and released; this machine's home has none of it.
    expect(onLab('ls -A /var/lib/headgate; stat -c %a:%u /var/lib/headgate').split('\n')).toEqual(['journal.jsonl', '700:0', '']);
  }, 300_000);

  it('an unknown host key is exit 3 with the fingerprint to verify, never accepted', async () => {
    const empty = path.join(work, 'empty_known_hosts');
    await writeFile(empty, '');
    const inv = await inventory({ knownHostsFile: empty });
    const r = await cli(['gate', '--inventory', inv, '--target', 'lab-01', ...SENDFILE, '--out', path.join(work, 'r2'), '--baselines', noBaselines]);
    expect(r.code).toBe(3);
    const fp = fingerprintOf(path.join(work, 'lab', 'ssh_host_ed25519_key.pub'));
    expect(r.stderr).toContain(`host key of root@${lab.serverAddress}:22 is not known; it offers ${fp} (ED25519)`);
    expect(await readFile(empty, 'utf8')).toBe('');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('an unreachable host is exit 3 naming the host', async () => {
    const port = await freePort('127.0.0.1');
    const r = await cli(['gate', '--target', `ssh:root@127.0.0.1:${port}`, ...SENDFILE, '--out', path.join(work, 'r3'), '--baselines', noBaselines]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`headgate: target root@127.0.0.1:${port}: root@127.0.0.1:${port} unreachable \\(.*Connection refused\\)`));
  }, 60_000);

  it('a target locked by another run is exit 3 naming the owner', async () => {
    const inv = await inventory();
    onLab(`mkdir -m 700 /var/lib/headgate/lock && echo '${JSON.stringify({ host: 'ci-agent-7', pid: 4242, runId: '20260101T000000Z-abcdef', since: '2026-01-01T00:00:00Z' })}' > /var/lib/headgate/lock/owner.json`);
    try {
      const r = await cli(['gate', '--inventory', inv, '--target', 'lab-01', ...SENDFILE, '--out', path.join(work, 'r4'), '--baselines', noBaselines]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('target lab-01: locked by run 20260101T000000Z-abcdef (host ci-agent-7, pid 4242');
      // The refused run is still recorded as finished, not left "running".
      const dir = path.join(work, 'r4', readdirSync(path.join(work, 'r4')).find((d) => /^\d{8}T/.test(d))!);
      const rec = await readRun(dir);
      expect(rec.status).toBe('incomplete');
      expect(rec.errors.join(' ')).toMatch(/locked by run 20260101T000000Z-abcdef/);
      // The other run's lock is left as it was.
      expect(JSON.parse(onLab('cat /var/lib/headgate/lock/owner.json')).pid).toBe(4242);
    } finally {
      onLab('rm -rf /var/lib/headgate/lock');
    }
  }, 60_000);

  it('a home on the appliance that another user could have planted is refused (exit 3 naming it) and nothing in it is replayed', async () => {
    // C1: the audit's planted journal. On the stand-in appliance (its own tmpfs home), a home that
    // nobody owns, with a journal whose entry would remove a canary file there.
    onLab('mkdir -p /var/lib/headgate/planted && chown 65534:65534 /var/lib/headgate/planted && chmod 777 /var/lib/headgate/planted && echo keep > /var/lib/headgate/planted/canary');
    const entry = { id: 'planted-1', kind: 'rm', path: '/var/lib/headgate/planted/canary', what: 'planted by nobody', owner: { host: 'x', pid: 2, since: '2026-01-01T00:00:00Z' } };
    onLab(`echo '${JSON.stringify(entry)}' > /var/lib/headgate/planted/journal.jsonl; chown 65534 /var/lib/headgate/planted/journal.jsonl`);
    try {
      const inv = await inventory({ workDir: '/var/lib/headgate/planted' });
      const r = await cli(['gate', '--inventory', inv, '--target', 'lab-01', ...SENDFILE, '--out', path.join(work, 'r-planted'), '--baselines', noBaselines]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('/var/lib/headgate/planted');
      expect(r.stderr).toMatch(/refused as headgate's directory/);
      expect(onLab('cat /var/lib/headgate/planted/canary; ls -A /var/lib/headgate/planted')).toBe('keep\ncanary\njournal.jsonl\n');
    } finally {
      onLab('rm -rf /var/lib/headgate/planted');
    }
  }, 60_000);

  it('two shards started at the same moment against the same target both complete: the second waits for the lock', async () => {
    // Two "CI agents" of one gate and one shared appliance: fewer targets than shards, so both
    // gate it, one after the other (the load never overlaps: the lock is held for the whole run).
    const inv = await inventory();
    const args = (i: number) => ['gate', '--inventory', inv, '--target', 'lab-01', '--suite', 'sendfile,ktls', '--variant', 'sendfile-on,userspace-tls13', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--shard', `${i}/2`, '--out', path.join(work, `shard-${i}`), '--baselines', noBaselines, '--json'];
    const [a, b] = [startCli(args(1)), startCli(args(2))];
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const runs = await Promise.all([ra, rb].map((r) => readRun(JSON.parse(r.stdout).runDir)));
    expect(runs.map((r) => r.shard)).toEqual([1, 2].map((index) => ({ index, count: 2, targetShards: [1, 2], targets: ['lab-01'] })));
    expect(runs.map((r) => r.suites.map((s) => s.id))).toEqual([['sendfile'], ['ktls']]);
    for (const r of runs) expect(r.status).toBe('complete');
    // Exactly one of them found the target held and waited for it, then took it.
    const waited = [ra, rb].filter((r) => /target lab-01: locked by run .*: waiting up to \d+ s for it/.test(r.stderr));
    expect(waited).toHaveLength(1);
    expect(waited[0].stderr).toMatch(/target lab-01: lock taken after waiting \d+ s/);
    // Their repetitions never overlapped in time.
    const spans = runs.map((r) => r.suites.flatMap((s) => s.variants.flatMap((v) => v.repetitions.map((x) => [Date.parse(x.startedAt), Date.parse(x.startedAt) + x.durationMs]))));
    const [first, second] = spans[0][0][0] < spans[1][0][0] ? spans : [spans[1], spans[0]];
    expect(Math.min(...second.map((x) => x[0]))).toBeGreaterThanOrEqual(Math.max(...first.map((x) => x[1])));
    // Merged, the two shards make one run of the target with both suites.
    const m = await cli(['merge', JSON.parse(ra.stdout).runDir, JSON.parse(rb.stdout).runDir, '--out', path.join(work, 'shard-merged'), '--baselines', noBaselines, '--json']);
    expect(m.code, m.stderr).toBe(2); // merge requires a baseline; the merged run is kept
    const merged = await readRun(JSON.parse(m.stdout).runs[0].runDir);
    expect(merged.suites.map((s) => s.id)).toEqual(['sendfile', 'ktls']);
    expect(onLab('ls -A /var/lib/headgate')).not.toMatch(/lock/);
  }, 300_000);

  it('a SIGKILLed run over ssh leaves nginx on the appliance; `restore` finds it in the appliance\'s journal and stops it (M4)', async () => {
    const inv = await inventory();
    const nginxOnLab = () => onLab('pgrep -x nginx || true').trim();
    expect(nginxOnLab()).toBe('');
    const run = startCli(['gate', '--inventory', inv, '--target', 'lab-01', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '6', '--duration', '1', '--warmup', '0', '--out', path.join(work, 'r-kill'), '--baselines', noBaselines]);
    const deadline = Date.now() + 60_000;
    while (!/\[1\/6\]/.test(run.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    run.child.kill('SIGKILL');
    await run.done;
    expect(nginxOnLab(), 'nginx survived the harness on the appliance').not.toBe('');
    const r = await cli(['restore', '--inventory', inv, '--target', 'lab-01']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/stop nginx/);
    await expect.poll(nginxOnLab, { timeout: 10_000, message: `restore said: ${r.stdout}${r.stderr}; processes: ${onLab('ps -eo pid,ppid,pgid,stat,comm,args | grep -e nginx -e PID')}; journal: ${onLab('cat /var/lib/headgate/journal.jsonl')}` }).toBe('');
    // The appliance's journal holds nothing pending, and its lock is free.
    expect(onLab('ls -A /var/lib/headgate')).not.toMatch(/lock/);
  }, 120_000);

  it('an ssh drop in the middle of a suite is exit 3 with the partial run kept and marked incomplete', async () => {
    // A lab of its own: this test kills its sshd.
    const own = new CleanupStack();
    const doomed = await createLab(new LocalTarget(), { dir: path.join(work, 'lab-drop'), sshd: { otherMachine: true } }, own);
    const inv = await inventory({ host: doomed.serverAddress, identityFile: doomed.ssh!.identityFile, knownHostsFile: doomed.ssh!.knownHostsFile, workDir: path.join(work, 'remote-drop') });
    try {
      const out = path.join(work, 'r5');
      const run = startCli(['gate', '--inventory', inv, '--target', 'lab-01', '--suite', 'sendfile', '--variant', 'sendfile-on,sendfile-off', '--quick', '--runs', '6', '--duration', '1', '--warmup', '0', '--out', out, '--baselines', noBaselines]);
      const deadline = Date.now() + 120_000;
      while (!/\[2\/12\]/.test(run.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      // The appliance's sshd goes away (every sshd process in the lab namespace), connections included.
      const pids = execFileSync('ip', ['netns', 'pids', doomed.serverNs], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
        if (comm.trim() === 'sshd') process.kill(Number(pid), 'SIGKILL');
      }
      const r = await run.done;
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/ssh connection to root@198\.18\.\d+\.1:22 lost|unreachable/);
      const runDir = path.join(out, readdirSync(out).find((d) => /^\d{8}T/.test(d))!);
      const rec = await readRun(runDir);
      expect(rec.status).toBe('incomplete');
      expect(rec.suites[0].variants.flatMap((v) => v.repetitions).length).toBeGreaterThanOrEqual(2);
      expect(rec.errors.join('\n')).toMatch(/lab-01/);
    } finally {
      await own.unwind();
    }
  }, 300_000);
});

describe('separate load clients', () => {
  it('runs the load on two client hosts at once (one over ssh) and merges their results', async () => {
    const own = new CleanupStack();
    try {
      // A client host reached over ssh: an sshd of the test's own on a free loopback port.
      const port = await freePort('127.0.0.1');
      const ssh = await startSshd(new LocalTarget(), { address: '127.0.0.1', port, wrap: [], label: 'loopback-client' }, path.join(work, 'client-sshd'), own);
      const inv = path.join(work, 'clients.json');
      await writeFile(
        inv,
        JSON.stringify({
          schemaVersion: 1,
          targets: [],
          clients: [
            { name: 'here', kind: 'local' },
            { name: 'loadgen-01', kind: 'ssh', host: '127.0.0.1', port, user: ssh.user, identityFile: ssh.identityFile, knownHostsFile: ssh.knownHostsFile },
          ],
        }),
      );
      const r = await cli(['gate', '--inventory', inv, '--client', 'here,loadgen-01', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '2', '--duration', '2', '--warmup', '0', '--connections', '4', '--out', path.join(work, 'c1'), '--baselines', noBaselines, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const run = await readRun(JSON.parse(r.stdout).runDir);
      expect(run.target.clients).toEqual(['here', 'loadgen-01']);
      for (const rep of run.suites[0].variants[0].repetitions) {
        const note = rep.notes.find((n) => n.startsWith('load from 2 clients'))!;
        const perClient = [...note.matchAll(/(here|loadgen-01) (\d+) req/g)].map((m) => Number(m[2]));
        expect(perClient).toHaveLength(2);
        expect(Math.min(...perClient)).toBeGreaterThan(0);
        // Every response of both clients was verified, and the merged count is their sum.
        expect(rep.verification.verified).toBe(perClient[0] + perClient[1]);
        expect(rep.verification.failed).toBe(0);
        // Both windows started at the barrier (one clock here): within a twentieth of the window.
        const skew = rep.notes.map((n) => /^client windows started (\d+) ms apart \(start barrier\)$/.exec(n)).find(Boolean);
        expect(skew, rep.notes.join(' | ')).toBeTruthy();
        expect(Number(skew![1])).toBeLessThan(0.05 * rep.durationMs);
      }
    } finally {
      await own.unwind();
    }
  }, 300_000);
});

describe('load clients in ab and calibrate', () => {
  it('ab and calibrate take their load from --client hosts, as gate does', async () => {
    const inv = path.join(work, 'clients-ab.json');
    await writeFile(inv, JSON.stringify({ schemaVersion: 1, targets: [], clients: [{ name: 'here', kind: 'local' }] }));
    const common = ['--inventory', inv, '--client', 'here', '--suite', 'sendfile', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--connections', '4', '--baselines', noBaselines];
    const ab = await cli(['ab', ...common, '--a-variant', 'sendfile-on', '--b-variant', 'sendfile-off', '--no-adaptive', '--out', path.join(work, 'c-ab'), '--json']);
    expect([0, 1, 4], ab.stderr).toContain(ab.code);
    const abRun = await readRun(JSON.parse(ab.stdout).runDir);
    expect(abRun.target.clients).toEqual(['here']);
    const cal = await cli(['calibrate', ...common, '--variant', 'sendfile-on', '--sessions', '2', '--dry-run', '--out', path.join(work, 'c-cal')]);
    expect(cal.code, cal.stderr).toBe(0);
    const calRuns = (await readdir(path.join(work, 'c-cal'))).filter((d) => /^\d{8}T/.test(d));
    expect(calRuns).toHaveLength(2);
    const reps = [...abRun.suites[0].variants, ...(await Promise.all(calRuns.map((d) => readRun(path.join(work, 'c-cal', d))))).flatMap((r) => r.suites[0].variants)].flatMap((v) => v.repetitions);
    expect(reps.length).toBeGreaterThanOrEqual(6);
    // Every repetition's load came from the client host (the load-worker there), every body verified.
    for (const rep of reps) {
      expect(rep.notes.some((n) => /^load from 1 clients: here \d+ req/.test(n)), rep.notes.join(' | ')).toBe(true);
      expect(rep.verification.failed).toBe(0);
    }
  }, 300_000);
});

describe('the open model on client hosts', () => {
  it('each host offers its share of the arrivals; the merged load carries the whole offer, every body verified', async () => {
    const inv = path.join(work, 'clients-open.json');
    await writeFile(inv, JSON.stringify({ schemaVersion: 1, targets: [], clients: [{ name: 'here', kind: 'local' }, { name: 'there', kind: 'local' }] }));
    const r = await cli(['gate', '--inventory', inv, '--client', 'here,there', '--suite', 'sendfile', '--variant', 'sendfile-on', '--quick', '--runs', '2', '--duration', '3', '--warmup', '0', '--connections', '4', '--fixed-throughput', '0.4', '--out', path.join(work, 'c-open'), '--baselines', noBaselines, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = await readRun(JSON.parse(r.stdout).runDir);
    for (const rep of run.suites[0].variants[0].repetitions) {
      const all = rep.notes.join(' | ');
      // The rate the harness derived from the offer, in all; each host was sent half of it.
      const rate = Number(/fixed throughput: [\d.]+ Gb\/s offered = ([\d.]+) req\/s/.exec(all)?.[1]);
      expect(rate, all).toBeGreaterThan(0);
      const perClient = [...all.matchAll(/(here|there) (\d+) req/g)].map((m) => Number(m[2]));
      expect(perClient, all).toHaveLength(2);
      // Each host issued its share on its own schedule: about rate/2 x window, not the whole rate.
      for (const n of perClient) {
        expect(n).toBeGreaterThan(0.45 * rate * 3);
        expect(n).toBeLessThan(0.55 * rate * 3 + 2);
      }
      expect(rep.verification.verified).toBe(perClient[0] + perClient[1]);
      expect(rep.verification.failed).toBe(0);
      // The merged load carried the offer (the runner notes when it did not).
      expect(all).not.toMatch(/fixed throughput not carried|offered load not carried/);
      expect(all).toMatch(/client windows started \d+ ms apart \(start barrier\)/);
    }
  }, 300_000);
});

describe('netns target (a lab the harness builds)', () => {
  it('runs tcp-stack through the lab middle hop and tears the lab down', async () => {
    const started = startCli(['gate', '--target', 'netns', '--suite', 'tcp-stack', '--variant', 'cubic,bbr', '--quick', '--runs', '2', '--duration', '2', '--warmup', '0', '--out', path.join(work, 'n1'), '--baselines', noBaselines, '--json']);
    const r = await started.done;
    expect(r.code, r.stderr).toBe(0);
    const run = await readRun(JSON.parse(r.stdout).runDir);
    expect(run.target.kind).toBe('netns');
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'suites', 'tcp-stack', 'suite.json'), 'utf8'));
    for (const v of run.suites[0].variants) {
      const rate = manifest.variants.find((x: { id: string }) => x.id === v.id).params['imp.rateMbit'] as number;
      for (const rep of v.repetitions) {
        // The bottleneck is on the path: goodput cannot exceed its rate, and fills most of it.
        expect(rep.metrics.goodput_mbps).toBeLessThanOrEqual(rate * 1.02);
        expect(rep.metrics.goodput_mbps).toBeGreaterThan(rate * 0.5);
        expect(rep.counters['iperf3.sender_congestion_matches']).toBe(1);
        expect(rep.verification.verified).toBeGreaterThan(0);
      }
    }
    expect(r.stderr).toMatch(/bottleneck 198\.19\.\d+\.2 <- \[dev \S+ root tbf rate \d+mbit/);
    // The CLI's lab (namespaces named after its pid) is gone with it.
    expect(namespaces()).not.toMatch(new RegExp(`hg-[sm]-${started.child.pid}-`));
  }, 300_000);

  it('local and two netns targets of one machine share its one lock: asked to run in parallel, they run one after another (H7)', async () => {
    // M5: another TMPDIR is not where headgate keeps anything (it keeps its files in its home).
    const tmpdir = path.join(work, 'tmpdir');
    await mkdir(tmpdir);
    const r = await cli(['gate', '--target', 'local,netns:t0,netns:t1', '--parallel', '3', '--suite', 'sendfile', '--variant', 'boxart-sendfile-on', '--quick', '--runs', '2', '--duration', '1', '--warmup', '0', '--connections', '2', '--objects-mib', '8', '--out', path.join(work, 'p3'), '--baselines', noBaselines, '--json'], { TMPDIR: tmpdir });
    expect(r.code, r.stderr).toBe(0);
    // tsx, the TypeScript loader the CLI runs under, keeps its compile cache there (tsx-UID); headgate keeps nothing.
    expect(readdirSync(tmpdir).filter((f) => !/^tsx-\d+$/.test(f))).toEqual([]);
    const out = JSON.parse(r.stdout) as { targets: { name: string; code: number; runDir: string }[] };
    expect(out.targets.map((t) => t.name).sort()).toEqual(['local', 't0', 't1']);
    const spans: [number, number][] = [];
    for (const t of out.targets) {
      expect(t.code).toBe(0);
      const run = await readRun(t.runDir);
      expect(run.target.name).toBe(t.name);
      const reps = run.suites[0].variants.flatMap((v) => v.repetitions);
      expect(reps).toHaveLength(2);
      spans.push([Math.min(...reps.map((x) => Date.parse(x.startedAt))), Math.max(...reps.map((x) => Date.parse(x.startedAt) + x.durationMs))]);
    }
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0], 'a target measured while another of the same machine did').toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(r.stderr).toMatch(/another target of this command runs on the same machine; waiting for it/);
  }, 600_000);
});

describe('vagrant target (driver contract against a stand-in vagrant)', () => {
  const standin = path.join(ROOT, 'test', 'fixtures', 'vagrant-standin');
  const env = () => ({
    PATH: `${standin}:${process.env.PATH}`,
    HG_VAGRANT_LOG: path.join(work, 'vagrant.log'),
    HG_VAGRANT_HOST: lab.serverAddress,
    HG_VAGRANT_PORT: String(lab.ssh!.port),
    HG_VAGRANT_USER: 'root',
    HG_VAGRANT_KEY: lab.ssh!.identityFile,
  });

  it('vagrant up, ssh-config turned into an ssh target, gate, destroy on success', async () => {
    // The stand-in's "VM" is this machine: its work directory goes in the test's temp dir.
    const inv = path.join(work, 'vagrant-inventory.json');
    await writeFile(inv, JSON.stringify({ schemaVersion: 1, targets: [{ name: 'freebsd-head', kind: 'vagrant', workDir: path.join(work, 'remote-vagrant') }] }));
    const r = await cli(['gate', '--inventory', inv, '--target', 'vagrant:freebsd-head', ...SENDFILE, '--out', path.join(work, 'v1'), '--baselines', noBaselines, '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const run = await readRun(JSON.parse(r.stdout).runDir);
    expect(run.target).toMatchObject({ kind: 'vagrant', name: 'freebsd-head', address: lab.serverAddress });
    expect((await readFile(path.join(work, 'vagrant.log'), 'utf8')).trim().split('\n')).toEqual(['up --provision freebsd-head', 'ssh-config freebsd-head', 'destroy -f freebsd-head']);
    expect(r.stderr).toMatch(/pinned the host keys of freebsd-head/);
  }, 300_000);

  it('a box that never boots is exit 3 with vagrant\'s reason', async () => {
    const r = await cli(['gate', '--target', 'vagrant:freebsd-head', ...SENDFILE, '--out', path.join(work, 'v2'), '--baselines', noBaselines], { ...env(), HG_VAGRANT_FAIL: 'up' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/headgate: vagrant up freebsd-head failed \(exit 1\): Timed out while waiting for the machine to boot/);
  }, 60_000);

  it('the Vagrantfile passes `vagrant validate`, and a broken one does not', async () => {
    const ok = await new Promise<number>((resolve) => {
      const c = spawn('vagrant', ['validate', '--ignore-provider'], { cwd: path.join(ROOT, 'vagrant'), stdio: 'ignore' });
      c.on('close', (code) => resolve(code ?? -1));
    });
    expect(ok).toBe(0);
    const broken = path.join(work, 'vagrant-broken');
    await mkdir(broken, { recursive: true });
    const text = await readFile(path.join(ROOT, 'vagrant', 'Vagrantfile'), 'utf8');
    await writeFile(path.join(broken, 'Vagrantfile'), text.replace('m.vm.hostname =', 'm.vm.hostnam ='));
    const bad = await new Promise<number>((resolve) => {
      const c = spawn('vagrant', ['validate', '--ignore-provider'], { cwd: broken, stdio: 'ignore' });
      c.on('close', (code) => resolve(code ?? -1));
    });
    expect(bad).not.toBe(0);
  }, 60_000);
});

describe('qemu target (Debian kernel under QEMU)', () => {
  it('boots Debian linux-image-amd64 and proves kTLS in the guest from /proc/net/tls_stat', async () => {
    const r = await cli(['gate', '--target', 'qemu:guest', '--suite', 'ktls', '--variant', 'userspace-tls13,ktls-tls13', '--quick', '--runs', '2', '--duration', '2', '--warmup', '0', '--out', path.join(work, 'q1'), '--baselines', noBaselines, '--json'], { HEADGATE_CACHE: path.join(os.homedir(), '.cache', 'headgate') });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const run = await readRun(out.runDir);
    expect(run.target.kind).toBe('qemu');
    expect(run.fingerprint.kernelRelease).toMatch(/-amd64$/);
    // The guest runs on this machine's CPUs: under the split its QEMU had the server's, the load the others.
    expect(run.options.split?.guest).toBe(true);
    expect(run.options.serverCpus).toBeUndefined();
    // The runner pinned QEMU (taskset read back every thread on the server's CPUs).
    expect(r.stderr).toMatch(new RegExp(`qemu: guest: QEMU pid \\d+ pinned to CPU ${run.options.split!.server.join(',')} \\(\\d+ threads\\)`));
    const byId = new Map(run.suites[0].variants.map((v) => [v.id, v]));
    for (const rep of byId.get('ktls-tls13')!.repetitions) {
      expect(rep.counters['tls.TlsTxSw']).toBeGreaterThanOrEqual(1);
      expect(rep.verification.failed).toBe(0);
      expect(rep.verification.verified).toBeGreaterThan(0);
    }
    for (const rep of byId.get('userspace-tls13')!.repetitions) expect(rep.counters['tls.TlsTxSw']).toBe(0);
    if (!existsSync('/dev/kvm')) expect(run.target.notes?.join(' ')).toMatch(/software emulation .*not performance numbers/);
    // On a machine whose /dev/kvm opens but hangs, accel auto fell back to TCG and said why, in the notes and the console.
    if (run.target.notes?.join(' ').includes('KVM did not work here')) {
      expect(await readFile(path.join(out.runDir, 'console.log'), 'utf8')).toMatch(/^headgate: .*under KVM.*booting again under software emulation \(TCG\)$/m);
    }
    expect(await readFile(path.join(out.runDir, 'console.log'), 'utf8')).toMatch(/headgate-guest: Linux .* up; kTLS: \/proc\/net\/tls_stat present/);
    expect(await readFile(path.join(out.runDir, 'summary.md'), 'utf8')).toMatch(/Note:.*software emulation|Note:.*KVM/);
  }, 600_000);

  it('kernel A/B by reboot: two boot configurations alternate A B B A, each block on the boot it asked for, ending in a paired verdict', async () => {
    const out = path.join(work, 'q-ab');
    const r = await cli(
      ['ab', '--target', 'qemu:abguest', '--suite', 'sendfile', '--variant', 'sendfile-on', '--a-boot', 'default', '--b-boot', 'append=mitigations=off', '--quick', '--runs', '4', '--no-adaptive', '--duration', '1', '--warmup', '0', '--out', out, '--baselines', noBaselines, '--json'],
      { HEADGATE_CACHE: path.join(os.homedir(), '.cache', 'headgate') },
    );
    // A verdict, whatever it is (TCG numbers are noise): pass, regression or inconclusive, never an error.
    expect([0, 1, 4], r.stderr).toContain(r.code);
    const res = JSON.parse(r.stdout);
    const run = await readRun(res.runDir);
    const ab = run.abBlocks!;
    expect(ab).toMatchObject({ form: 'boots', a: 'default', b: 'append=mitigations=off' });
    // Two rounds: A B, then B A; a reboot before every block whose side is not the running boot (the first included).
    expect(ab.blocks.map((b) => b.side)).toEqual(['A', 'B', 'B', 'A']);
    expect(ab.blocks.map((b) => b.boot)).toEqual([0, 1, 1, 2]);
    expect(ab.boots.map((b) => b.side)).toEqual(['A', 'B', 'A']);
    // The guest itself reports the command line it booted with: B's has the setting, A's does not.
    for (const b of ab.boots) {
      expect(b.cmdline.includes('mitigations=off')).toBe(b.side === 'B');
      expect(b.kernelRelease).toMatch(/-amd64$/);
      expect(b.bootSec).toBeGreaterThan(0);
    }
    for (const b of ab.blocks) {
      expect(b.repetitions).toBe(2);
      expect(b.medians.throughput_gbps).toBeGreaterThan(0);
    }
    // Paired: every gating comparison pairs repetition k of a round with its counterpart (4 pairs).
    const gating = run.comparison!.comparisons.filter((c) => c.gating);
    expect(gating.length).toBeGreaterThan(0);
    for (const c of gating) expect((c as unknown as { paired: { pairs: number } }).paired.pairs).toBe(4);
    expect(run.comparison!.summary).toMatch(/^B \(boot append=mitigations=off: .*\) against A \(boot default: .*\) on abguest, 3 boots: /);
    const md = await readFile(path.join(res.runDir, 'summary.md'), 'utf8');
    expect(md).toMatch(/## A\/B by reboot: A = default, B = append=mitigations=off/);
    expect(md).toMatch(/- boot 2: B \(append=mitigations=off\) up after [\d.]+ s: .*mitigations=off/);
    expect(md).toMatch(/- block 4: A \(default\) on boot 3, 2 reps/);
    expect(md).toMatch(/Wilcoxon signed-rank of the within-pair log ratios/);
    // The console keeps every boot, with the harness's marker between them.
    expect((await readFile(path.join(res.runDir, 'console.log'), 'utf8')).match(/^headgate: reboot into [AB] /gm)).toHaveLength(3);
    // Under the CPU split QEMU was pinned to the server's CPUs before any load, and after each of the
    // 3 reboots again before the next load (a new QEMU inherits the load's CPUs from this process).
    const lines = r.stderr.split('\n');
    const pinned = (l: string) => /qemu: abguest: QEMU pid \d+ pinned to CPU \S+ \(\d+ threads\)/.test(l);
    const load = (l: string) => /sendfile\/sendfile-on #\d+:/.test(l);
    const reboots = lines.flatMap((l, i) => (/qemu: abguest: rebooting into [AB] /.test(l) ? [i] : []));
    expect(reboots).toHaveLength(3);
    for (const start of [-1, ...reboots]) {
      const next = lines.slice(start + 1).find((l) => pinned(l) || load(l));
      expect(next && pinned(next), `after line ${start}: ${next}`).toBe(true);
    }
    // Nothing of the guest is left: its QEMU is gone.
    expect(() => execFileSync('pgrep', ['-f', `qemu-system-x86_64 .*/qemu/abguest-[0-9a-f]{12}/`])).toThrow();
  }, 900_000);

  it('a guest that does not come up by the boot deadline is exit 3 with the console tail', async () => {
    const inv = path.join(work, 'qemu-inventory.json');
    await writeFile(inv, JSON.stringify({ schemaVersion: 1, targets: [{ name: 'slow', kind: 'qemu', qemu: { bootTimeoutSec: 4 } }] }));
    const t0 = Date.now();
    const r = await cli(['gate', '--inventory', inv, '--target', 'slow', ...SENDFILE, '--out', path.join(work, 'q2'), '--baselines', noBaselines]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/headgate: qemu slow: the guest did not come up within 4 s.*; console: /);
    expect(Date.now() - t0).toBeLessThan(60_000);
    // QEMU is gone too (pgrep exits 1 when nothing matches).
    expect(() => execFileSync('pgrep', ['-f', `qemu-system-x86_64 .*/qemu/slow-[0-9a-f]{12}/`])).toThrow();
  }, 120_000);

  it('the guest sees only its shares (no host secrets) and reaches nothing beyond its forwarded ports', async () => {
    const { openQemuTarget } = await import('../../harness/drivers/targets/qemu.js');
    const net = await import('node:net');
    // A listener on this machine's loopback: without restrict=on the guest reaches it as 10.0.2.2.
    let reached = 0;
    const srv = net.createServer((c) => {
      reached++;
      c.destroy();
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    const t = await openQemuTarget({ name: 'iso', kind: 'qemu' }, () => {});
    try {
      // Under a CPU split every thread of the guest's QEMU (vCPUs, I/O) runs on the server's CPUs only.
      const { affinityOf, chooseSplit } = await import('../../harness/engine/cpusplit.js');
      const { formatCpuList } = await import('../../harness/lib/cpulist.js');
      const c = chooseSplit(await affinityOf(process.pid));
      expect(c).toHaveProperty('split');
      const server = 'split' in c ? c.split.server : [];
      const said: string[] = [];
      await t.pinServer(server, (l) => said.push(l));
      expect(said.join('\n')).toMatch(new RegExp(`QEMU pid \\d+ pinned to CPU ${formatCpuList(server)} \\(\\d+ threads\\)`));
      const pid = execFileSync('pgrep', ['-f', `qemu-system-x86_64 .*/qemu/iso-[0-9a-f]{12}/`], { encoding: 'utf8' }).trim().split('\n')[0];
      const tasks = readdirSync(`/proc/${pid}/task`);
      expect(tasks.length).toBeGreaterThan(1);
      for (const tid of tasks) {
        const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8');
        expect(/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1], `thread ${tid}`).toBe(formatCpuList(server));
      }
      const sh = (script: string) => t.exec(['sh', '-c', script], { allowFail: true, timeoutMs: 30_000 });
      const tags = (await sh("awk '$3 == \"9p\" { print $1 }' /proc/mounts")).stdout.trim().split('\n').sort();
      expect(tags).toContain('hg_usr');
      expect(tags).toContain('hg_etc');
      expect(tags.every((x) => /^hg(_(usr|bin|sbin|lib|lib32|lib64|libx32|etc))?$/.test(x)), tags.join(',')).toBe(true);
      const secrets = await sh('for f in /etc/gshadow /etc/ssl/private /home /var/lib/dpkg /etc/ssh/ssh_host_*_key; do test -e "$f" && echo "$f"; done; ls -A /root; grep -rlI "PRIVATE KEY-----" /etc 2>/dev/null; true');
      expect(secrets.stdout.trim()).toBe('');
      // sshd needs an /etc/shadow to let root in with a key; the guest's has no password hash at all.
      const hashes = await sh("awk -F: 'length($2) > 2' /etc/shadow");
      expect(hashes.stdout.trim()).toBe('');
      expect((await sh('test -x /usr/sbin/sshd && test -r /etc/passwd && echo ok')).stdout.trim()).toBe('ok');
      const out = await sh(`timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/${port}' && echo connected`);
      expect(out.stdout).not.toContain('connected');
      expect(reached).toBe(0);
    } finally {
      await t.close();
      srv.close();
    }
  }, 600_000);
});
