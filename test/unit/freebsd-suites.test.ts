import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { diff } from '../../harness/probes/snapshot.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { discoverSuites } from '../../harness/engine/discovery.js';
import { proofFailures, variantApplies } from '../../harness/engine/plan.js';
import { executeRun, variantKnobs, type RunParams } from '../../harness/engine/runner.js';
import { loadPeersOf } from '../../harness/engine/context.js';
import type { RepetitionMeasurement, Suite, SuiteContext } from '../../harness/engine/suite.js';
import { exitCodeOf } from '../../harness/app/common.js';
import type { VariantDef } from '../../harness/model/types.js';
import { coldDir, devstatDisk, FreeBSDAdapter, kldModuleName, onDisk } from '../../harness/drivers/os/freebsd.js';
import { pollClock } from '../../harness/drivers/os/poll.js';
import { parseCcAvailable, parseVmstatZ } from '../../harness/drivers/os/parsers/freebsd.js';
import type { UndoAction } from '../../harness/lib/journal.js';
import type { OsAdapter } from '../../harness/drivers/os/adapter.js';
import { ktlsPath, ktlsTxProof } from '../../harness/engine/suite.js';
import { logOffProof } from '../../suites/tcp-log/index.js';

import { extPgsProof } from '../../suites/unmapped-mbufs/index.js';
import { FakeTarget, freebsdSysctl, journalIntoTranscript, undoOn } from '../helpers/fake-target.js';

const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'freebsd', f), 'utf8');

/** Bytes one scripted repetition serves: 10 Gb/s for 2 s (the load double's figures). */
const SERVED_BYTES = 2.5e9;
/** Pages of 4 KiB in it: vn_sendfile's unit (kern_sendfile.c). */
const SERVED_PAGES = Math.round(SERVED_BYTES / 4096);

/**
 * `vmstat -z` of the scripted host, derived from what kern_sendfile.c allocates: the fixtures
 * are an ext_pgs=1 repetition (mbuf REQ +220,000: one M_EXTPG mbuf per MBUF_PEXT_MAX_PGS = 5
 * pages, the rest TCP and headers). With ext_pgs=0 vn_sendfile does m_get() per page instead, so
 * the "after" mbuf REQ is the same other share plus one request per page served.
 */
function vmstatZ(phase: 'before' | 'after', extPgs: string | undefined, rxFrames = 0): string {
  const text = fx(`vmstat-z-${phase}.txt`);
  if (phase === 'before' || (extPgs !== '0' && !rxFrames)) return text;
  const before = parseVmstatZ(fx('vmstat-z-before.txt')).find((z) => z.name === 'mbuf')!.requests;
  const after = parseVmstatZ(text).find((z) => z.name === 'mbuf')!.requests;
  const other = after - before - Math.round(SERVED_PAGES / 5);
  // rxFrames: one header mbuf per frame received on an iflib or cxgbe NIC (iflib.c _iflib_fl_refill
  // `m = m_gethdr(M_NOWAIT, MT_NOINIT)`, t4_sge.c refill_fl `sd->m = m_gethdr(M_NOWAIT, MT_NOINIT)`).
  const sendfile = extPgs === '0' ? SERVED_PAGES : Math.round(SERVED_PAGES / 5);
  return text.replace(/^(mbuf:(?:\s*\d+,){4}\s*)\d+/m, (_, head: string) => `${head}${before + other + sendfile + rxFrames}`);
}

/** A `mount -p` line as mount.c putfsent prints it: tab padding after fields shorter than 8/16/24, options then "\t", dump and pass. */
function putfsent(special: string, node: string, fstype: string, opts: string, dumpPass: string): string {
  const pad = (x: string) => x + (x.length < 8 ? '\t' : '') + (x.length < 16 ? '\t' : '') + (x.length < 24 ? '\t' : ' ');
  return `${pad(special)}${pad(node)}${fstype}\t${opts}${opts.length < 8 ? '\t' : ' '}\t${dumpPass}\n`;
}

/** Where the scripted host keeps the run's objects (a remote target: workDir/objects). */
const OBJECTS = '/var/lib/headgate/work/objects';

/**
 * Filesystems the scripted host may hold the objects on. `zroot-var` is the installer's default
 * (no special setup): the objects are under /var, on zroot/var with primarycache=all.
 */
const OBJECT_FS = {
  'zroot-var': { special: 'zroot/var', node: '/var', fstype: 'zfs', opts: 'rw,nfsv4acls', primarycache: 'all' },
  'ufs-ada1': { special: '/dev/ada1p1', node: OBJECTS, fstype: 'ufs', opts: 'rw', primarycache: '' },
  'ufs-md': { special: '/dev/md0', node: OBJECTS, fstype: 'ufs', opts: 'rw', primarycache: '' },
  'zfs-all': { special: 'zroot/objects', node: OBJECTS, fstype: 'zfs', opts: 'rw,nfsv4acls', primarycache: 'all' },
  'zfs-metadata': { special: 'zroot/objects', node: OBJECTS, fstype: 'zfs', opts: 'rw,nfsv4acls', primarycache: 'metadata' },
} as const;

/**
 * A scripted FreeBSD 15 host with KERN_TLS, CAM_IOSCHED_DYNAMIC, an ada0 disk, fio and iperf3,
 * tcp_rack/tcp_bbr/cc_cubic available as modules. Knobs and loaded modules change like the
 * real ones; counters answer from the "before" or "after" fixtures.
 */
function freebsdLab() {
  const initial: Record<string, string> = {
    'kern.ipc.mb_use_ext_pgs': '1',
    'kern.ipc.tls.enable': '0',
    'net.inet.tcp.functions_default': 'freebsd',
    'net.inet.tcp.cc.algorithm': 'newreno',
    'kern.cam.do_dynamic_iosched': '1',
    'kern.cam.ada.0.iosched.read_bias': '100',
    'kern.cam.ada.0.iosched.write.limiter': 'none',
    'kern.cam.ada.0.iosched.write.max': '0',
    'kern.cam.ada.0.iosched.control.type': 'set_max',
    // A box tuned to a 2 s MSL (tcp_timer.c: net.inet.tcp.msl, "Maximum segment lifetime", in ms), so busy waits stay short.
    'net.inet.tcp.msl': '2000',
  };
  const knobs = { ...initial };
  /** Module names in the kernel (kldstat -m): a kld file cc_X declares module X (DECLARE_CC_MODULE). */
  const modules = new Set<string>();
  const available = new Set(['tcphpts', 'tcp_rack', 'tcp_bbr', 'cc_cubic']);
  /** tls: which kernel's kern.ipc.tls.stats answers: head (software OCF), head with NIC offload, or 13.x (*_crypts names). */
  const state = { phase: 'before' as 'before' | 'after', tls: '' as '' | '-ifnet' | '-13' | '-rx-only', mextpg: true, sshClient: '192.0.2.10', ccForm: 'table' as 'table' | 'list', builtinCc: [] as string[], rxFrames: 0, busy: {} as Record<string, number>, objects: 'zroot-var' as keyof typeof OBJECT_FS, mounted: true };
  const netstatJson = (phase: string) => {
    const doc = JSON.parse(fx('netstat-m.json'));
    if (phase === 'after') for (const k of Object.keys(doc['mbuf-statistics'])) if (k.startsWith('sendfile')) doc['mbuf-statistics'][k] += 1000;
    return JSON.stringify(doc);
  };
  const t = new FakeTarget((argv) => {
    const cmd = argv.join(' ');
    if (cmd === 'sysctl -n net.inet.tcp.functions_available') return { stdout: fx('tcp-functions-available.txt') };
    // cc.c cc_list_available (newreno compiled in, the rest as loaded): head and 14 print a table,
    // "\n%-16s%c %s\n" header then "%-16s%c %u\n" rows ('*': the default); 13 one ", " line.
    if (cmd === 'sysctl -n net.inet.tcp.cc.available') {
      const names = ['newreno', ...[...modules].filter((m) => m === 'cubic'), ...state.builtinCc];
      if (state.ccForm === 'list') return { stdout: names.join(', ') + '\n' };
      const def = knobs['net.inet.tcp.cc.algorithm'];
      return { stdout: `\n${'CCmod'.padEnd(16)}D PCB count\n${names.map((n) => `${n.padEnd(16)}${n === def ? '*' : ' '} 0\n`).join('')}` };
    }
    const sc = freebsdSysctl(argv, knobs);
    if (sc) return sc;
    if (cmd === 'sysctl kern.ipc.tls.stats kern.ipc.tls.ifnet kern.ipc.tls.toe') {
      // No TCP_OFFLOAD: the toe node is unknown, sysctl prints the rest and exits 1 (sysctl.c parse()).
      return { code: 1, stderr: "sysctl: unknown oid 'kern.ipc.tls.toe'", stdout: fx(`tls-stats-${state.phase}${state.phase === 'before' && state.tls !== '-13' ? '' : state.tls}.txt`) };
    }
    // The ssh session's peer ($SSH_CLIENT). Routes (route -n get ADDR, each fixture's "route to:"
    // line): the data network through ixl0 (netlink form, head; MEXTPG on or off), a management
    // network through em0 (no MEXTPG), and, as a 13.x host prints it (rtsock form), mce0.
    if (argv[0] === 'sh' && argv[2] === 'printf %s "${SSH_CLIENT%% *}"') return { stdout: state.sshClient };
    if (argv[0] === 'route' && argv[1] === '-n' && argv[2] === 'get') {
      const f = ['route-get.txt', 'route-get-em0.txt', 'route-get-mce0-rtsock.txt'].find((x) => /route to: (\S+)/.exec(fx(x))?.[1] === argv[3]);
      return f ? { stdout: fx(f) } : { code: 1 };
    }
    if (cmd === 'ifconfig -m ixl0') return { stdout: fx(state.mextpg ? 'ifconfig-m-mextpg.txt' : 'ifconfig-m-no-mextpg.txt') };
    // em0: the no-MEXTPG options line; mce0: a real ioctl-ifconfig output with the IFCAP_NV "options NAME,..." line.
    if (cmd === 'ifconfig -m em0') return { stdout: fx('ifconfig-m-no-mextpg.txt').replace(/^ixl0:/, 'em0:') };
    if (cmd === 'ifconfig -m mce0') return { stdout: fx('real/ifconfig/unknown-jc-extra-fields4-mce0-mextpg.txt') };
    if (argv[0] === 'kldstat') return modules.has(argv[3]) ? { stdout: '' } : { code: 1 };
    if (argv[0] === 'kldload') {
      if (modules.has(kldModuleName(argv[1]))) return { code: 1, stderr: `kldload: can't load ${argv[1]}: module already loaded or in kernel` };
      return available.has(argv[1]) ? (modules.add(kldModuleName(argv[1])), {}) : { code: 1, stderr: `kldload: can't load ${argv[1]}: No such file or directory` };
    }
    if (argv[0] === 'kldunload') {
      // A module its connections still hold (state.busy: how many more attempts fail): EBUSY as
      // kldunload.c prints it, err(EXIT_FAILURE, "can't unload file") + errlst.c "Device busy".
      if (modules.has(kldModuleName(argv[1])) && (state.busy[argv[1]] ?? 0) > 0) return state.busy[argv[1]]--, { code: 1, stderr: "kldunload: can't unload file: Device busy\n" };
      return modules.delete(kldModuleName(argv[1])) ? {} : { code: 1, stderr: `kldunload: can't find file ${argv[1]}` };
    }
    // The objects filesystem (OBJECT_FS): df -P (bin/df/df.c POSIX format), mount -p (putfsent), zfs get -H, zpool status -P, iostat -x -I.
    const ofs = OBJECT_FS[state.objects];
    if (argv[0] === 'df' && argv[1] === '-P') return { stdout: `Filesystem 1024-blocks Used Avail Capacity Mounted on\n${ofs.special} 101471 8 93346 0% ${ofs.node}\n` };
    if (cmd === 'mount -p') return { stdout: fx('mount-p.txt') + putfsent('zroot/var', '/var', 'zfs', 'rw,nfsv4acls', '0 0') + (ofs.node === '/var' || !state.mounted ? '' : putfsent(ofs.special, ofs.node, ofs.fstype, ofs.opts, ofs.fstype === 'ufs' ? '2 2' : '0 0')) };
    if (cmd === `zfs get -H -o value primarycache ${ofs.special}`) return { stdout: `${ofs.primarycache}\n` };
    if (cmd === 'zpool status -P zroot') return { stdout: fx('zpool-status-P.txt') };
    if (cmd === 'iostat -x -I ada1') return { stdout: fx(`iostat-x-I-${state.phase}.txt`) };
    if (argv[0] === 'umount' && argv[1] === ofs.node && state.mounted) return (state.mounted = false), {};
    if (argv[0] === 'mount' && argv[argv.length - 1] === ofs.node && !state.mounted) return (state.mounted = true), {};
    if (cmd === 'netstat -m --libxo json') return { stdout: netstatJson(state.phase) };
    if (cmd === 'vmstat -z') return { stdout: vmstatZ(state.phase, knobs['kern.ipc.mb_use_ext_pgs'], state.rxFrames) };
    if (cmd === 'netstat -s -p tcp') return { stdout: fx(`netstat-s-tcp-${state.phase}.txt`) };
    return undefined;
  });
  t.readFileIfExists = async (f: string) => (/\/boot\/kernel\/(.+)\.ko$/.test(f) && available.has(/\/boot\/kernel\/(.+)\.ko$/.exec(f)![1]) ? 'ELF' : null);
  t.which = async (p: string) => (['fio', 'iperf3', 'nginx'].includes(p) ? `/usr/local/bin/${p}` : null);
  return { t, knobs, initial, modules, state, os: new FreeBSDAdapter(t) };
}

let suites: Suite[];
beforeAll(async () => {
  suites = await discoverSuites();
});
const suite = (id: string) => suites.find((s) => s.manifest.id === id)!;
const variant = (s: string, v: string) => suite(s).manifest.variants.find((x) => x.id === v)!;

/** Applies a variant's manifest knobs as the runner does, then unwinds; returns both halves of the transcript. */
async function knobTranscript(lab: ReturnType<typeof freebsdLab>, v: VariantDef) {
  const stack = new CleanupStack();
  const start = lab.t.transcript.length;
  for (const [k, val] of variantKnobs(v, 'freebsd')) await lab.os.setKnob(k, val, stack);
  const set = lab.t.transcript.slice(start).filter((c) => !/^(sysctl -n|kldstat)/.test(c));
  const mid = lab.t.transcript.length;
  expect(await stack.unwind()).toEqual([]);
  return { set, restore: lab.t.transcript.slice(mid) };
}

/** Counter deltas of one repetition for a suite's counter groups (before/after fixtures). */
async function deltas(lab: ReturnType<typeof freebsdLab>, suiteId: string) {
  const groups = suite(suiteId).manifest.counters;
  lab.state.phase = 'before';
  const a = await lab.os.counters(groups);
  lab.state.phase = 'after';
  const b = await lab.os.counters(groups);
  const snap = (c: Record<string, number>) => ({ at: 0n, cpu: { busy: 0, total: 1 }, serverCpuSec: null, counters: c });
  return diff(snap(a), snap(b), 1).counters;
}

describe('FreeBSD transcripts of the six suites (fixture-tested, no FreeBSD host)', () => {
  it('every suite variant is runnable or skipped with a reason on the scripted host', async () => {
    const lab = freebsdLab();
    const table: string[] = [];
    for (const s of suites)
      for (const v of s.manifest.variants) {
        const c = await variantApplies(s.manifest, v, lab.os);
        table.push(`${s.manifest.id}/${v.id}: ${c.ok ? 'runs' : c.reason}`);
      }
    expect(table).toContain('sendfile/aio-threads: not applicable on FreeBSD: sendfile is asynchronous in the kernel (SF_NODISKIO, since 11.0)');
    expect(table).toContain('ktls/ktls-tls13: runs');
    expect(table).toContain('unmapped-mbufs/sendfile-ext-pgs-0: runs');
    expect(table).toContain('io-sched/cam-write-iops-limit: runs');
    expect(table).toContain('io-sched/bfq: variant for linux only (target runs freebsd)');
    expect(table).toContain('pbuf/cold-aio-threads: variant for linux only (target runs freebsd)');
    // tcp-stack's FreeBSD lab (VNET jails) has tests of its own; here: runs or skipped with a reason.
    expect(table.find((l) => l.startsWith('tcp-stack/rack:'))).toMatch(/^tcp-stack\/rack: .+/);
  });

  it('ktls: kTLS knobs set in manifest order and restored in reverse; counters prove kTLS engaged', async () => {
    const lab = freebsdLab();
    lab.knobs['kern.ipc.mb_use_ext_pgs'] = '0';
    const { set, restore } = await knobTranscript(lab, variant('ktls', 'ktls-tls13'));
    expect(set).toEqual(['sysctl kern.ipc.mb_use_ext_pgs=1', 'sysctl kern.ipc.tls.enable=1']);
    expect(restore).toEqual(['sysctl kern.ipc.tls.enable=0', 'sysctl kern.ipc.mb_use_ext_pgs=0']);
    expect(lab.knobs).toEqual({ ...lab.initial, 'kern.ipc.mb_use_ext_pgs': '0' });
    const d = await deltas(lab, 'ktls');
    expect(d['ktls.enable_calls']).toBe(64);
    expect(d['ktls.ocf.tls13_gcm_encrypts']).toBe(52113);
    expect(proofFailures(variant('ktls', 'ktls-tls13').expect?.freebsd, d)).toEqual([]);
    expect(ktlsPath(d)).toBe('software (OCF: ocf.tls13_gcm_encrypts +52113; 64 sessions)');
    // ChaCha20 has its own counter, which did not move in this AES-GCM repetition: that variant fails.
    expect(proofFailures(variant('ktls', 'ktls-tls13-chacha20').expect?.freebsd, d)).toEqual([
      'the kernel encrypted ChaCha20-Poly1305 records (kern.ipc.tls.stats.ocf.tls13_chacha20_encrypts; tls13_chacha20_crypts on older kernels): ktls.ocf.tls13_chacha20_encrypts moved by 0, expected at least 1',
    ]);
  });

  it('ktls: NIC (ifnet) offload passes the proof and is recorded as the path; refused sessions fail it', async () => {
    const lab = freebsdLab();
    lab.state.tls = '-ifnet';
    const d = await deltas(lab, 'ktls');
    expect(d['ktls.ocf.tls13_gcm_encrypts']).toBe(0);
    for (const v of ['ktls-tls13', 'ktls-tls12', 'browser-ktls-tls13']) expect(proofFailures(variant('ktls', v).expect?.freebsd, d)).toEqual([]);
    expect(d['ktls.ifnet.gcm']).toBe(64);
    expect(ktlsTxProof(d)).toEqual([]);
    expect(ktlsPath(d)).toBe('NIC (ifnet TLS) or TOE: ifnet.gcm +64; 64 sessions installed');
    // The gauge fell back before the closing snapshot (sessions closed): the mid-load sample proves it.
    const closed = { ...d, 'ktls.ifnet.gcm': 0 };
    expect(ktlsTxProof(closed)).toHaveLength(1);
    expect(ktlsTxProof(closed, undefined, 64)).toEqual([]);
    // enable_calls moved but no session was installed (e.g. mb_use_ext_pgs=0: ENXIO): not engaged.
    const refused = { ...closed, 'ktls.offload_total': 0 };
    expect(proofFailures(variant('ktls', 'ktls-tls13').expect?.freebsd, refused)[0]).toMatch(/ktls.offload_total moved by 0/);
    expect(ktlsPath(refused)).toMatch(/^none: 64 enable calls, 0 sessions installed/);
  });

  it('ktls: receive-only sessions (offload_total moved, no encrypts, no ifnet session) fail the transmit proof', async () => {
    // mb_use_ext_pgs=0: every ktls_enable_tx counts enable_calls and returns ENXIO; ktls_enable_rx
    // needs no ext_pgs and counts enable_calls and offload_total (uipc_ktls.c). Decryptions only.
    const lab = freebsdLab();
    lab.state.tls = '-rx-only';
    const d = await deltas(lab, 'ktls');
    expect(d).toMatchObject({ 'ktls.offload_total': 64, 'ktls.enable_calls': 128, 'ktls.ocf.tls13_gcm_encrypts': 0, 'ktls.ocf.tls13_gcm_decrypts': 640, 'ktls.ifnet.gcm': 0 });
    // The manifest's offload_total proof alone passes: that was the hole.
    expect(proofFailures(variant('ktls', 'ktls-tls13').expect?.freebsd, d)).toEqual([]);
    expect(ktlsTxProof(d)).toEqual([expect.stringMatching(/^no kTLS transmit session proven: offload_total \+64/)]);
    expect(ktlsPath(d)).toMatch(/^none proven: 64 sessions installed/);
    // Through the suite's session as the runner calls it: the repetition carries the failure.
    for (const [suiteId, v] of [['ktls', 'ktls-tls13'], ['unmapped-mbufs', 'ktls-ext-pgs-1']] as const) {
      const ctx = {
        fingerprint: { os: 'freebsd' },
        options: { warmupSec: 0, durationSec: 0.01 },
        getKnob: (k: string) => lab.os.getKnob(k),
        capability: (c: string) => lab.os.capability(c),
        startHttpServer: async () => ({ host: '127.0.0.1' }),
        measureHttp: async () => ({ durationMs: 2000, metrics: { throughput_gbps: 10, requests_per_sec: 100 }, counters: d, verification: { verified: 1, failed: 0, failures: [] }, clientBound: false, notes: [] }),
      } as unknown as SuiteContext;
      const m = await (await suite(suiteId).prepare(ctx, variant(suiteId, v))).repetition(0);
      expect(m.proofFailures).toEqual([expect.stringMatching(/^no kTLS transmit session proven/)]);
      expect(m.notes).toContain('kTLS path: none proven: 64 sessions installed, but no OCF encryption and no ifnet/TOE session (receive-only sessions count in offload_total too)');
    }
    // On 13.x TLS 1.2 *_crypts also counted decryptions: not a transmit proof unless well above the requests.
    expect(ktlsTxProof({ 'ktls.offload_total': 64, 'ktls.ocf.tls12_gcm_crypts': 150 }, 100)).toHaveLength(1);
    expect(ktlsTxProof({ 'ktls.offload_total': 64, 'ktls.ocf.tls12_gcm_crypts': 52113 }, 100)).toEqual([]);
  });

  it('ktls: a 13.x kernel names OCF counters *_crypts; they prove ChaCha20 under the *_encrypts name', async () => {
    const lab = freebsdLab();
    lab.state.tls = '-13';
    const d = await deltas(lab, 'ktls');
    expect(d['ktls.ocf.tls13_chacha20_crypts']).toBe(4096);
    expect(d['ktls.ocf.tls13_chacha20_encrypts']).toBe(4096);
    expect(proofFailures(variant('ktls', 'ktls-tls13-chacha20').expect?.freebsd, d)).toEqual([]);
    expect(ktlsPath(d)).toBe('software (OCF: ocf.tls13_chacha20_encrypts +4096; 16 sessions)');
  });

  it('sendfile and pbuf: sendfile, pbuf zone and devstat counters are read and prove a cold cache', async () => {
    const lab = freebsdLab();
    lab.state.objects = 'ufs-ada1';
    lab.os.setObjectsDir(`${OBJECTS}/seed1-1MiB`);
    expect(await lab.os.capability('cache-cold')).toEqual({ ok: true });
    const sf = await deltas(lab, 'sendfile');
    expect(sf['netstat-m.sendfile-io-count']).toBe(1000);
    expect(proofFailures(variant('sendfile', 'sendfile-on-cold').expect?.freebsd, sf)).toEqual([]);
    const pb = await deltas(lab, 'pbuf');
    expect(pb['uma.vnpbuf.req']).toBe(61877 - 48213);
    expect(pb['uma.vnpbuf.sleep']).toBe(40 - 12);
    expect(pb['tcp.retransmitted-packets']).toBe(400);
    expect(proofFailures(variant('pbuf', 'cold-sendfile').expect?.freebsd, pb)).toEqual([]);
    expect(lab.t.transcript).toEqual(expect.arrayContaining(['netstat -m --libxo json', 'vmstat -z', 'netstat -s -p tcp', 'iostat -x -I ada1']));
  });

  describe('cold cache (W1): remount of the objects filesystem on a disk; md(4), tmpfs and ARC-cached ZFS are refused', () => {
    const SET = `${OBJECTS}/seed1-64MiB`;
    const files = [`${SET}/cold-64MiB/seg/0001.m4s`, `${SET}/cold-64MiB/seg/0002.m4s`];
    const cold = (objects: keyof typeof OBJECT_FS) => {
      const lab = freebsdLab();
      lab.state.objects = objects;
      lab.os.setObjectsDir(SET);
      return lab;
    };
    /** Commands that would make, attach or mount anything. */
    const making = (t: string[]) => t.filter((c) => /^(mdconfig|newfs|mount(?! -p)|umount|dd|cp)\b/.test(c));

    it('UFS on /dev/ada1p1: accepted; each repetition remounts it from fstab; the disk figure is ada1\'s devstat bytes read', async () => {
      const lab = cold('ufs-ada1');
      expect(await lab.os.capability('cache-cold')).toEqual({ ok: true });
      // headgate doctor asks about the objects mount point itself (workDir/objects): the same answer.
      const doctor = freebsdLab();
      doctor.state.objects = 'ufs-ada1';
      doctor.os.setObjectsDir(OBJECTS);
      expect(await doctor.os.capability('cache-cold')).toEqual({ ok: true });
      const stack = new CleanupStack();
      const journal = journalIntoTranscript(lab.t);
      await (await lab.os.coldCache(files, '/dev/null', 60, stack)).stop();
      await (await lab.os.coldCache(files, '/dev/null', 60, stack)).stop();
      // How to mount it again is journaled before every umount (a run killed in between leaves it for the replay).
      const again = `journal mount ${OBJECTS} again`;
      expect(lab.t.transcript).toEqual([`df -P ${SET}`, 'mount -p', again, `umount ${OBJECTS}`, `mount ${OBJECTS}`, again, `umount ${OBJECTS}`, `mount ${OBJECTS}`]);
      expect(journal).toEqual([0, 1].map(() => ({ kind: 'remount', node: OBJECTS, special: '/dev/ada1p1', fstype: 'ufs' })));
      expect(lab.state.mounted).toBe(true);
      expect(await stack.unwind()).toEqual([]); // nothing made, nothing to undo
      // The proof comes from the device: 1709056.0 KiB more read on ada1 (iostat -x -I fixtures).
      for (const id of ['pbuf', 'sendfile']) {
        const d = await deltas(lab, id);
        expect(d['devstat.cold.bytes_read']).toBe(1709056 * 1024);
        expect(d['disk.ada1.reads']).toBe(13353);
      }
      expect(lab.t.transcript).toContain('iostat -x -I ada1');
      const pb = await deltas(lab, 'pbuf');
      expect(proofFailures(variant('pbuf', 'cold-sendfile').expect?.freebsd, pb)).toEqual([]);
      const sf = await deltas(lab, 'sendfile');
      for (const v of ['sendfile-on-cold', 'sendfile-off-cold']) expect(proofFailures(variant('sendfile', v).expect?.freebsd, sf)).toEqual([]);
      // Sendfile pages alone (an md(4) or a cached backing file moves them too) no longer pass.
      const noDisk = { ...pb, 'devstat.cold.bytes_read': 0 };
      expect(proofFailures(variant('pbuf', 'cold-sendfile').expect?.freebsd, noDisk)).toEqual([
        'the disk under the objects filesystem read at least 1 MiB (devstat bytes read, iostat -x -I): devstat.cold.bytes_read moved by 0, expected at least 1048576',
      ]);
    });

    it('ZFS dataset with primarycache=all: the cold variants are skipped with the reason naming the dataset and the fix; nothing is made or mounted', async () => {
      const lab = cold('zfs-all');
      const reason =
        'cold cache on FreeBSD needs the objects directory on a UFS filesystem of its own (mounted on .../objects or .../.objects) on a real device, or on a ZFS dataset of its own with primarycache=metadata; ' +
        `${OBJECTS} is zroot/objects (zfs, primarycache=all): a remount does not empty the ARC; run zfs set primarycache=metadata zroot/objects (or give the objects a UFS filesystem on a disk)`;
      expect(await lab.os.capability('cache-cold')).toEqual({ ok: false, reason });
      for (const [sid, vid] of [['pbuf', 'cold-sendfile'], ['sendfile', 'sendfile-on-cold'], ['sendfile', 'sendfile-off-cold']]) {
        expect(await variantApplies(suite(sid).manifest, variant(sid, vid), lab.os)).toEqual({ ok: false, reason });
      }
      expect(lab.t.transcript).toContain('zfs get -H -o value primarycache zroot/objects');
      expect(making(lab.t.transcript)).toEqual([]);
      await expect(lab.os.coldCache(files, '/dev/null', 60, new CleanupStack())).rejects.toThrow(reason);
      expect(making(lab.t.transcript)).toEqual([]);
    });

    it('ZFS dataset with primarycache=metadata on a pool of disks: accepted, remounted by name, its vdevs\' disk read by iostat', async () => {
      const lab = cold('zfs-metadata');
      expect(await lab.os.capability('cache-cold')).toEqual({ ok: true });
      await lab.os.coldCache(files, '/dev/null', 60, new CleanupStack());
      expect(lab.t.transcript.slice(-3)).toEqual(['zpool status -P zroot', `umount ${OBJECTS}`, `mount -t zfs zroot/objects ${OBJECTS}`]);
      expect((await deltas(lab, 'pbuf'))['devstat.cold.bytes_read']).toBe(1709056 * 1024);
    });

    it('md(4)-backed UFS, the default /var on ZFS, and no root: skipped with the reason; nothing made or mounted', async () => {
      const md = cold('ufs-md');
      expect(await md.os.capability('cache-cold')).toEqual({
        ok: false,
        reason: expect.stringMatching(/; \/dev\/md0 \(ufs on \/var\/lib\/headgate\/work\/objects\) is an md\(4\) device: its reads come from memory or from a backing file whose pages stay cached, not from a disk$/),
      });
      expect(making(md.t.transcript)).toEqual([]);
      const plain = cold('zroot-var');
      expect(await plain.os.capability('cache-cold')).toEqual({
        ok: false,
        reason: expect.stringMatching(/; \/var\/lib\/headgate\/work\/objects\/seed1-64MiB is on zroot\/var \(zfs\) mounted on \/var, not a filesystem of its own$/),
      });
      expect(making(plain.t.transcript)).toEqual([]);
      Object.assign(plain.t, { runsAsRoot: false });
      expect(await plain.os.capability('cache-cold')).toEqual({ ok: false, reason: 'cold cache on FreeBSD remounts the objects filesystem: needs root on the target' });
      expect(coldDir(['/o/cold-64MiB/seg/1.m4s', '/o/cold-64MiB/boxart/2.jpg'])).toBe('/o/cold-64MiB');
      expect(['/dev/ada1p1', '/dev/nda0p2.eli', '/dev/da3s1a', '/dev/md0p1', '/dev/md1.nop', '/dev/gpt/objects', '/dev/mirror/gm0'].map(devstatDisk)).toEqual(['ada1', 'nda0', 'da3', 'md0', 'md1', null, null]);
    });
  });

  it('unmapped-mbufs: mb_use_ext_pgs 0 then restored; no mbuf_extpgs zone is read; knobs as the manifest says', async () => {
    const lab = freebsdLab();
    const off = await knobTranscript(lab, variant('unmapped-mbufs', 'sendfile-ext-pgs-0'));
    expect(off).toEqual({ set: ['sysctl kern.ipc.mb_use_ext_pgs=0'], restore: ['sysctl kern.ipc.mb_use_ext_pgs=1'] });
    const on = await knobTranscript(lab, variant('unmapped-mbufs', 'sendfile-ext-pgs-1'));
    expect(on).toEqual({ set: [], restore: [] }); // already 1 on this host: nothing to change or restore
    const d = await deltas(lab, 'unmapped-mbufs');
    expect(d['uma.mbuf.req']).toBe(2931093 - 2711093);
    expect(Object.keys(d).filter((k) => k.includes('extpgs'))).toEqual([]);
    expect(proofFailures(variant('unmapped-mbufs', 'sendfile-ext-pgs-1').expect?.freebsd, d)).toEqual([]);
    expect(lab.knobs).toEqual(lab.initial);
  });

  /**
   * Runs one repetition of an unmapped-mbufs sendfile variant through the suite's session on the
   * scripted host: the counters are the lab's before/after transcripts with the knob as the variant
   * sets it; `readBack` is what kern.ipc.mb_use_ext_pgs answers during the repetition.
   */
  async function extPgsRepetition(lab: ReturnType<typeof freebsdLab>, v: string, o: { readBack?: string; loadPeers?: SuiteContext['loadPeers'] } = {}) {
    lab.knobs['kern.ipc.mb_use_ext_pgs'] = variant('unmapped-mbufs', v).knobs!.freebsd!['kern.ipc.mb_use_ext_pgs'];
    const d = await deltas(lab, 'unmapped-mbufs');
    if (o.readBack !== undefined) lab.knobs['kern.ipc.mb_use_ext_pgs'] = o.readBack;
    const ctx = {
      fingerprint: { os: 'freebsd' },
      options: { warmupSec: 0, durationSec: 2 },
      getKnob: (k: string) => lab.os.getKnob(k),
      capability: (c: string) => lab.os.capability(c),
      // Default: the load from the controller, which reaches the target at the address its ssh session uses.
      loadPeers: o.loadPeers ?? ((h: string) => loadPeersOf({ address: '192.0.2.1', onController: false, sshHost: '192.0.2.1' }, [], h)),
      startHttpServer: async () => ({ host: '192.0.2.1' }),
      // The load double's figures: 10 Gb/s for 2 s (SERVED_BYTES).
      measureHttp: async () => ({ durationMs: 2000, metrics: { throughput_gbps: 10 }, counters: d, verification: { verified: 1, failed: 0, failures: [] }, clientBound: false, notes: [] }),
    } as unknown as SuiteContext;
    const m = await (await suite('unmapped-mbufs').prepare(ctx, variant('unmapped-mbufs', v))).repetition(0);
    return { m, d, failures: [...(m.proofFailures ?? []), ...proofFailures(variant('unmapped-mbufs', v).expect?.freebsd, m.counters)] };
  }

  it('unmapped-mbufs (W2): the proof is the mb_use_ext_pgs read-back on the TCP path; receive mbufs that tripped the old mbuf-zone rule do not fail a working kernel', async () => {
    // One header mbuf per frame received (iflib/cxgbe refill): the client's segments of the
    // netstat -s -p tcp fixtures (packets received), added to the mbuf zone's REQ in both variants.
    const rxFrames = (await deltas(freebsdLab(), 'tcp-stack'))['tcp.received-packets'];
    expect(rxFrames).toBeGreaterThan(0);
    const lab = freebsdLab();
    lab.state.rxFrames = rxFrames;
    const off = await extPgsRepetition(lab, 'sendfile-ext-pgs-0');
    const on = await extPgsRepetition(lab, 'sendfile-ext-pgs-1');
    const perGB = (d: Record<string, number>) => d['uma.mbuf.req'] / (SERVED_BYTES / 1e9);
    expect(on.m.metrics.mbuf_req_per_gb).toBe(perGB(on.d));
    expect(off.m.metrics.mbuf_req_per_gb).toBe(perGB(off.d));
    // The old rule failed this transcript both ways: not below one request per 4 KiB page sent,
    // and not at most 0.5x the ext_pgs=0 figure of the same run.
    expect(on.m.metrics.mbuf_req_per_gb).toBeGreaterThanOrEqual(1e9 / 4096);
    expect(on.m.metrics.mbuf_req_per_gb / off.m.metrics.mbuf_req_per_gb).toBeGreaterThan(0.5);
    // The new proof: mb_use_ext_pgs read back as 1 during the repetition, sendfile(2) used.
    expect(on.failures).toEqual([]);
    expect(off.failures).toEqual([]);
    // The mbuf figure stays a metric; the egress check is a note (ixl0 toward the ssh peer has MEXTPG).
    expect(on.m.notes).toEqual([expect.stringMatching(/^M_EXTPG engaged end to end.*egress interface ixl0 toward 192\.0\.2\.10 has MEXTPG enabled/)]);
    // Same transcripts, but the knob reads back 0 (a write that did not take, or a restore that
    // raced it): vn_sendfile's test is false, one sf_buf mbuf per page; the variant fails.
    const zero = await extPgsRepetition(lab, 'sendfile-ext-pgs-1', { readBack: '0' });
    expect(zero.d).toEqual(on.d);
    expect(zero.failures).toEqual([expect.stringMatching(/^kern\.ipc\.mb_use_ext_pgs read back as "0" during the repetition, not 1: vn_sendfile used one sf_buf mbuf per page/)]);
    expect(extPgsProof({ readBack: '1\n' })).toEqual([]);
    expect(extPgsProof({ readBack: '' })).toHaveLength(1);
  });

  it('unmapped-mbufs (W2): an egress interface without MEXTPG is a note (not engaged end to end), never a proof failure', async () => {
    const lab = freebsdLab();
    lab.state.mextpg = false;
    const on = await extPgsRepetition(lab, 'sendfile-ext-pgs-1');
    expect(on.failures).toEqual([]);
    expect(on.m.notes).toEqual([expect.stringMatching(/^M_EXTPG not shown end to end \(a note, not a proof failure.*ssh peer.*egress interface ixl0 toward 192\.0\.2\.10 has MEXTPG off/)]);
    // The read-back still decides: 0 fails whatever the NIC.
    expect((await extPgsRepetition(lab, 'sendfile-ext-pgs-1', { readBack: '0' })).failures).toHaveLength(1);
  });

  it('unmapped-mbufs egress (W5): the interface toward the --client load client is checked, not the ssh session\'s management NIC', async () => {
    const lab = freebsdLab();
    // The data client's address and the management peer's, from the route fixtures' "route to:" lines.
    const dataClient = /route to: (\S+)/.exec(fx('route-get.txt'))![1];
    lab.state.sshClient = /route to: (\S+)/.exec(fx('route-get-em0.txt'))![1];
    const peers = [{ via: 'address' as const, address: dataClient, why: 'load client loadgen1 (--client)' }];
    const start = lab.t.transcript.length;
    const on = await extPgsRepetition(lab, 'sendfile-ext-pgs-1', { loadPeers: () => peers });
    const ran = lab.t.transcript.slice(start);
    expect(ran).toEqual(expect.arrayContaining([`route -n get ${dataClient}`, 'ifconfig -m ixl0']));
    expect(ran.filter((c) => c.startsWith('route ') || c.startsWith('ifconfig ') || c.includes('SSH_CLIENT'))).toEqual([`route -n get ${dataClient}`, 'ifconfig -m ixl0']);
    expect(on.m.notes).toEqual([`M_EXTPG engaged end to end, sendfile to the driver: load client loadgen1 (--client); egress interface ixl0 toward ${dataClient} has MEXTPG enabled (route -n get ${dataClient}; ifconfig -m ixl0 options)`]);
    expect(on.failures).toEqual([]);
    // What the ssh peer would have given: the management NIC, without MEXTPG.
    const mgmt = await lab.os.capability('egress-mextpg:ssh-peer');
    expect(mgmt).toMatchObject({ ok: false, reason: expect.stringMatching(new RegExp(`^egress interface em0 toward ${lab.state.sshClient.replace(/\./g, '\\.')} has MEXTPG off`)) });
  });

  it('unmapped-mbufs egress (W5): a 13.x host prints route get in the rtsock form and mlx5 options in the IFCAP_NV form; both are read', async () => {
    const lab = freebsdLab();
    const client = /route to: (\S+)/.exec(fx('route-get-mce0-rtsock.txt'))![1];
    expect(await lab.os.capability(`egress-mextpg:${client}`)).toEqual({ ok: true, reason: `egress interface mce0 toward ${client} has MEXTPG enabled (route -n get ${client}; ifconfig -m mce0 options)` });
    // Names are never handed to route(8): an inventory host name is reported, not resolved.
    expect(await lab.os.capability('egress-mextpg:loadgen1.lab')).toMatchObject({ ok: false, reason: expect.stringMatching(/^egress interface toward loadgen1\.lab unknown: not an IP address/) });
    expect(lab.t.transcript.filter((c) => c.startsWith('route '))).toEqual([`route -n get ${client}`]);
  });

  it('load peers (W5): --client hosts first; the ssh peer only on the ssh session\'s path; the server\'s own address on the target\'s machine', () => {
    const remote = { address: '192.0.2.1', onController: false, sshHost: '192.0.2.1' };
    const c = (name: string, address: string, onController = false) => ({ name, target: { address, onController } });
    expect(loadPeersOf(remote, [c('loadgen1', '192.0.2.10'), c('loadgen2', '203.0.113.7')], '192.0.2.1')).toEqual([
      expect.objectContaining({ via: 'address', address: '192.0.2.10', why: expect.stringMatching(/^load client loadgen1 \(--client\)/) }),
      expect.objectContaining({ via: 'address', address: '203.0.113.7', why: expect.stringMatching(/^load client loadgen2 \(--client\)/) }),
    ]);
    expect(loadPeersOf(remote, [], '192.0.2.1')).toEqual([expect.objectContaining({ via: 'ssh-peer' })]);
    // A `local` client is the controller: the same rule as no --client.
    expect(loadPeersOf(remote, [c('local', '127.0.0.1', true)], '192.0.2.1')).toEqual([expect.objectContaining({ via: 'ssh-peer', why: expect.stringMatching(/^load client local runs on the controller/) })]);
    // ssh to a management name, load to the data address: the ssh peer is not the load's source.
    expect(loadPeersOf({ ...remote, sshHost: 'bsd-mgmt' }, [], '192.0.2.1')).toEqual([
      { via: 'unknown', why: 'the load (no --client) runs on the controller and connects to 192.0.2.1, but ssh reaches it as bsd-mgmt: the ssh peer is not on the load\'s path, and the controller\'s address on that path is unknown' },
    ]);
    // headgate on the box itself (maybe from an admin's ssh login): the server's own address, never $SSH_CLIENT.
    expect(loadPeersOf({ address: '127.0.0.1', onController: true }, [], '192.0.2.1')).toEqual([expect.objectContaining({ via: 'address', address: '192.0.2.1' })]);
  });

  it('tcp-stack: RACK loads tcphpts and tcp_rack, switches the default stack, and undoes it in reverse', async () => {
    const lab = freebsdLab();
    const rack = await knobTranscript(lab, variant('tcp-stack', 'rack'));
    expect(rack.set).toEqual(['kldload tcphpts', 'kldload tcp_rack', 'sysctl net.inet.tcp.functions_default=rack']);
    expect(rack.restore).toEqual(['sysctl net.inet.tcp.functions_default=freebsd', 'kldunload tcp_rack', 'kldunload tcphpts']);
    const cubic = await knobTranscript(lab, variant('tcp-stack', 'freebsd-cubic'));
    expect(cubic.set).toEqual(['kldload cc_cubic', 'sysctl net.inet.tcp.cc.algorithm=cubic']);
    expect(cubic.restore).toEqual(['sysctl net.inet.tcp.cc.algorithm=newreno', 'kldunload cc_cubic']);
    expect(lab.knobs).toEqual(lab.initial);
    expect(lab.modules.size).toBe(0);
    const d = await deltas(lab, 'tcp-stack');
    expect(d).toMatchObject({ 'tcp.sent-packets': 1_000_000, 'tcp.retransmitted-packets': 400, 'tcp.received-packets': 500_000, 'tcp.sack-recovery-episodes': 37 });
  });

  it('kld knobs: the kldunload undo is journaled before kldload, so the replay after a killed run unloads tcp_rack, tcphpts and cc_cubic', async () => {
    const lab = freebsdLab();
    const entries: UndoAction[] = [];
    Object.assign(lab.t, {
      journal: {
        where: 'fake',
        record: async (_l: string, u: UndoAction) => (lab.t.transcript.push(`journal ${JSON.stringify(u)}`), entries.push(u), String(entries.length)),
        done: async () => {},
        read: async () => ({ entries: [], done: new Set<string>(), torn: false }),
      },
    });
    const stack = new CleanupStack(); // never unwound: the run is SIGKILLed with the modules loaded
    for (const [k, v] of variantKnobs(variant('tcp-stack', 'rack'), 'freebsd')) await lab.os.setKnob(k, v, stack);
    await lab.os.setKnob('kld:cc_cubic', 'loaded', stack);
    expect(lab.t.transcript.filter((c) => /^(journal \{"kind":"kldunload"|kldload)/.test(c))).toEqual([
      'journal {"kind":"kldunload","name":"tcphpts"}',
      'kldload tcphpts',
      'journal {"kind":"kldunload","name":"tcp_rack"}',
      'kldload tcp_rack',
      'journal {"kind":"kldunload","name":"cc_cubic"}',
      'kldload cc_cubic',
    ]);
    expect([...lab.modules].sort()).toEqual(['cubic', 'tcp_rack', 'tcphpts']);
    // The next command's replay, newest first.
    lab.t.os = async () => lab.os;
    for (const u of [...entries].reverse()) await undoOn(lab.t, u);
    expect([...lab.modules]).toEqual([]);
    // Only the files a kld: knob loads are accepted from a journal.
    await expect(undoOn(lab.t, { kind: 'kldunload', name: 'zfs' })).rejects.toThrow(/not one headgate loads/);
  });

  it('kldunload EBUSY (W7): a TCP stack still held by connections is retried once a second and then unloaded; the transcript shows the retries', async () => {
    const lab = freebsdLab();
    const sleeps: number[] = [];
    const real = pollClock.sleep;
    pollClock.sleep = async (ms) => void sleeps.push(ms);
    try {
      lab.state.busy = { tcp_rack: 2 };
      const rack = await knobTranscript(lab, variant('tcp-stack', 'rack')); // asserts the unwind reported no failure
      expect(rack.restore).toEqual(['sysctl net.inet.tcp.functions_default=freebsd', 'kldunload tcp_rack', 'sysctl -n net.inet.tcp.msl', 'kldunload tcp_rack', 'kldunload tcp_rack', 'kldunload tcphpts']);
      expect(sleeps).toEqual([1000, 1000]);
      expect(lab.modules.size).toBe(0);
    } finally {
      pollClock.sleep = real;
    }
  });

  it('kldunload EBUSY (W7): still busy after 2 x net.inet.tcp.msl is reported naming the module, and its journal entry stays for the next restore', async () => {
    const lab = freebsdLab();
    const sleeps: number[] = [];
    const real = pollClock.sleep;
    pollClock.sleep = async (ms) => void sleeps.push(ms);
    const done: string[] = [];
    const recorded = new Map<string, UndoAction>();
    Object.assign(lab.t, {
      journal: {
        where: 'fake',
        record: async (_l: string, u: UndoAction) => (recorded.set(String(recorded.size + 1), u), String(recorded.size)),
        done: async (id: string) => void done.push(id),
        read: async () => ({ entries: [], done: new Set<string>(), torn: false }),
      },
    });
    try {
      lab.state.busy = { tcp_rack: Number.POSITIVE_INFINITY };
      const stack = new CleanupStack();
      for (const [k, v] of variantKnobs(variant('tcp-stack', 'rack'), 'freebsd')) await lab.os.setKnob(k, v, stack);
      const failures = await stack.unwind();
      expect(failures).toEqual([expect.stringMatching(/^kldunload tcp_rack: kldunload tcp_rack failed: module tcp_rack still busy after \d+ s and \d+ attempts \(kldunload: can't unload file: Device busy\): connections still hold it .*kept in the journal/)]);
      // It waited at least the TIME_WAIT span the box's own MSL gives (2 x net.inet.tcp.msl), polling each second.
      expect(sleeps.length).toBeGreaterThanOrEqual((2 * Number(lab.initial['net.inet.tcp.msl'])) / 1000);
      expect(new Set(sleeps)).toEqual(new Set([1000]));
      expect(lab.t.transcript.filter((c) => c === 'kldunload tcp_rack').length).toBe(sleeps.length + 1);
      // tcp_rack's entry is not marked done (the next restore retries it); the others are.
      const rackId = [...recorded].find(([, u]) => u.kind === 'kldunload' && u.name === 'tcp_rack')![0];
      expect(done).not.toContain(rackId);
      expect(done.length).toBe(recorded.size - 1);
      expect(lab.modules.has('tcp_rack')).toBe(true);
      // Once the connections are gone, the journal replay unloads it.
      lab.state.busy = {};
      lab.t.os = async () => lab.os;
      await undoOn(lab.t, recorded.get(rackId)!);
      expect(lab.modules.has('tcp_rack')).toBe(false);
    } finally {
      pollClock.sleep = real;
    }
  });

  it('tcp-log log-off on FreeBSD: log_auto_ratio=0 set and restored (journaled like every sysctl knob); a tcp_log record fails the repetition', async () => {
    const lab = freebsdLab();
    lab.knobs['net.inet.tcp.bb.log_auto_ratio'] = '1'; // the appliance had auto logging on
    const off = await knobTranscript(lab, variant('tcp-log', 'log-off'));
    expect(off).toEqual({ set: ['sysctl net.inet.tcp.bb.log_auto_ratio=0'], restore: ['sysctl net.inet.tcp.bb.log_auto_ratio=1'] });
    expect(logOffProof('freebsd', false, { 'tcplog.records': 0 })).toEqual([]);
    expect(logOffProof('freebsd', false, { 'tcplog.records': 12 })).toEqual(['TCP black-box logging off, yet 12 tcp_log records were allocated (vmstat -z zone tcp_log): sessions were still logged']);
    expect(logOffProof('freebsd', false, {})).toHaveLength(1);
    expect(logOffProof('freebsd', true, { 'tcplog.records': 12 })).toEqual([]);
    expect(logOffProof('linux', false, { 'tcplog.records': 12 })).toEqual([]);
    // Without TCP_BLACKBOX the knob does not exist: log-off is skipped with the reason, not an error.
    const probe = suite('tcp-log').probe!;
    delete lab.knobs['net.inet.tcp.bb.log_auto_ratio'];
    const ctx = { fingerprint: { os: 'freebsd' }, capability: (c: string) => lab.os.capability(c) } as unknown as SuiteContext;
    expect(await probe(ctx, variant('tcp-log', 'log-off'))).toEqual({ ok: false, reason: 'kernel built without options TCP_BLACKBOX: sysctl net.inet.tcp.bb.log_auto_ratio unknown' });
    const metrics = Object.fromEntries(suite('tcp-log').manifest.metrics.map((m) => [m.id, m.gatingAtFixedThroughput]));
    expect(metrics).toMatchObject({ machine_cpu_pct: true, machine_cpu_per_gbps: false });
  });

  it('io-sched: the suite sets CAM iosched sysctls of the named disk and they are restored in reverse', async () => {
    const lab = freebsdLab();
    const stack = new CleanupStack();
    const blockIo: string[] = [];
    const ctx = {
      fingerprint: { os: 'freebsd' },
      options: { warmupSec: 0, durationSec: 1 },
      blockDevice: async () => '/dev/ada0',
      setKnob: (k: string, v: string) => lab.os.setKnob(k, v, stack),
      measureBlockIo: async (o: { device: string }) => (blockIo.push(o.device), { metrics: {} }),
    } as unknown as SuiteContext;
    const session = await suite('io-sched').prepare(ctx, variant('io-sched', 'cam-read-latency'));
    const start = lab.t.transcript.length;
    await session.repetition(0);
    expect(lab.t.transcript.slice(start).filter((c) => !c.startsWith('sysctl -n'))).toEqual([
      'sysctl kern.cam.ada.0.iosched.read_bias=1000',
      'sysctl kern.cam.ada.0.iosched.control.type=read_latency',
    ]);
    const mid = lab.t.transcript.length;
    await stack.unwind();
    expect(lab.t.transcript.slice(mid)).toEqual(['sysctl kern.cam.ada.0.iosched.control.type=set_max', 'sysctl kern.cam.ada.0.iosched.read_bias=100']);
    expect(blockIo).toEqual(['/dev/ada0']);
    expect(lab.knobs).toEqual(lab.initial);
    expect(lab.os.fioEngine).toBe('posixaio');
  });
  it('io-sched without --block-device: the CAM variants are skipped with the reason (md(4) is not CAM), never an input error', async () => {
    const probe = suite('io-sched').probe!;
    const ctx = (blockDevice?: string) => ({ fingerprint: { os: 'freebsd' }, options: { blockDevice } }) as unknown as SuiteContext;
    expect(await probe(ctx(), variant('io-sched', 'cam-default'))).toEqual({
      ok: false,
      reason: 'CAM I/O scheduler variants need a CAM disk named with --block-device (ada/da/nda): the scratch device would be md(4), which is not a CAM device, so no iosched sysctls',
    });
    expect(await probe(ctx('/dev/ada2'), variant('io-sched', 'cam-default'))).toEqual({ ok: true });
    await expect((freebsdLab().os as OsAdapter).scratchBlockDevice('/x', 1, new CleanupStack())).rejects.toMatchObject({ kind: 'infra' });
  });

  it('io-sched with --block-device: refused when mounted, swap or a ZFS vdev (mount -p, swapctl -l, zpool status -P), by disk and partition', async () => {
    const lab = freebsdLab();
    const base = lab.t.exec.bind(lab.t);
    lab.t.exec = async (argv, o) => {
      const out = (f: string) => ({ code: 0, stderr: '', stdout: fx(f) });
      if (argv[0] === 'realpath') return { code: 0, stderr: '', stdout: `${argv[2]}\n` };
      if (argv.join(' ') === 'mount -p') return out('mount-p.txt');
      if (argv.join(' ') === 'swapctl -l') return out('swapctl-l.txt');
      if (argv.join(' ') === 'zpool status -P') return out('zpool-status-P.txt');
      if (argv.join(' ') === 'sysctl -n kern.geom.confxml') return out('geom-confxml.xml');
      // An exported pool on da0: nothing has it open, only its label tells (fstyp -u: zfs).
      if (argv[0] === 'fstyp') return argv[3] === '/dev/da0' ? { code: 0, stderr: '', stdout: 'zfs\n' } : { code: 1, stderr: `fstyp: ${argv[3]}: filesystem not recognized\n`, stdout: '' };
      return base(argv, o);
    };
    const refused = async (d: string) => lab.os.checkDeviceUnused(d).then(() => 'accepted', (e: Error) => e.message);
    // GEOM (geom_dump.c's XML; fixture shaped from the source, no published sample exists) and fstyp.
    expect(await refused('/dev/da0')).toBe('--block-device /dev/da0: it holds a zfs filesystem or pool (fstyp); the io-sched writer would overwrite it (headgate uses only a device without any signature)');
    expect(await refused('/dev/da1')).toBe('--block-device /dev/da1: GEOM class PART has tasted it (a partition table); the io-sched writer would overwrite it');
    expect(await refused('/dev/da2')).toBe('--block-device /dev/da2: it carries a label (ufs/scratch); the io-sched writer would overwrite it');
    expect(await refused('/dev/da9')).toMatch(/GEOM has no provider named da9/);
    expect(await refused('/dev/ada1')).toBe('--block-device /dev/ada1: /dev/ada1p3 is a vdev of a ZFS pool (zpool status -P); the io-sched writer would overwrite it');
    expect(await refused('/dev/ada0')).toMatch(/^--block-device \/dev\/ada0: holds a mounted filesystem \(\/dev\/ada0p2 on \/\)/);
    expect(await refused('/dev/ada0p3')).toBe('--block-device /dev/ada0p3: /dev/ada0p3 is in use as swap; the io-sched writer would overwrite it');
    expect(await refused('/dev/ada2')).toBe('accepted');
    expect(onDisk('/dev/ada10', '/dev/ada1')).toBe(false);
    expect(onDisk('/dev/ada1p3.eli', '/dev/ada1')).toBe(true);
  });

  it('tcp-stack: an algorithm compiled in is available whatever form cc.available takes, with no .ko (W4)', async () => {
    for (const form of ['table', 'list'] as const) {
      const lab = freebsdLab();
      lab.state.ccForm = form;
      // dctcp compiled into the kernel (options CC_DCTCP): listed, no cc_dctcp.ko, no module of that file name.
      expect(await lab.os.capability('cc:dctcp'), form).toMatchObject({ ok: false });
      lab.state.builtinCc.push('dctcp');
      expect(await lab.os.capability('cc:dctcp'), form).toEqual({ ok: true });
      expect(await lab.os.capability('cc:newreno'), form).toEqual({ ok: true });
      expect(lab.t.transcript.filter((c) => c.startsWith('kldload')), form).toEqual([]);
    }
  });

  it('tcp-stack: cubic compiled in is found by its module name and not loaded again', async () => {
    const lab = freebsdLab();
    expect(await lab.os.capability('cc:cubic')).toEqual({ ok: true }); // loadable: /boot/kernel/cc_cubic.ko
    lab.modules.add('cubic'); // compiled in (DECLARE_CC_MODULE(cubic, ...)): no cc_cubic file loaded
    expect(await lab.os.capability('cc:cubic')).toEqual({ ok: true });
    expect(lab.t.transcript).toContain('kldstat -q -m cubic');
    const cubic = await knobTranscript(lab, variant('tcp-stack', 'freebsd-cubic'));
    expect(cubic.set).toEqual(['sysctl net.inet.tcp.cc.algorithm=cubic']);
    expect(cubic.restore).toEqual(['sysctl net.inet.tcp.cc.algorithm=newreno']);
    expect(parseCcAvailable('newreno, cubic\n')).toEqual(['newreno', 'cubic']);
    expect(await lab.os.capability('cc:dctcp')).toMatchObject({ ok: false });
  });
});

describe('a gate on a scripted FreeBSD 15 target with no special setup', () => {
  // No special setup: the objects sit on zroot/var (primarycache=all), so the cold variants are
  // skipped with the reason and nothing is made or mounted. With a UFS of their own on ada1 the
  // cold variants run, remount it, and prove the disk path by ada1's devstat bytes read.
  it.each([
    ['zroot-var', 'skipped'],
    ['ufs-ada1', 'ran'],
  ] as const)('objects on %s: completes with exit 0, no proof failure, nothing left; cold variants %s', async (objects, coldStatus) => {
    const lab = freebsdLab();
    lab.state.objects = objects;
    // The runner's own directories (run dir, server prefixes): made and removed, nothing else.
    const base = lab.t.exec.bind(lab.t);
    lab.t.exec = async (argv, o) => (['mkdir', 'rm', 'rmdir'].includes(argv[0]) ? (lab.t.transcript.push(argv.join(' ')), { code: 0, stdout: '', stderr: '' }) : base(argv, o));
    lab.t.os = async () => lab.os;
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'hg-freebsd-gate-'));
    const set = {
      manifest: { schemaVersion: 1 as const, seed: 1, totalMiB: 1, objects: [{ path: '/seg/0000.m4s', size: 1, kind: 'segment' as const, sha256: '' }] },
      bodies: new Map([['/seg/0000.m4s', Buffer.from('x')]]),
    };
    // The load is the only double: the suites' own code, manifests, probes, knobs, capabilities,
    // counters and cold cache run for real against the scripted host.
    const wrap = (real: Suite): Suite => ({
      ...real,
      prepare(ctx, v) {
        const suiteStack = (ctx as unknown as { suiteStack: CleanupStack }).suiteStack; // what measureHttp passes to coldCache
        const measure = async (o: { durationSec: number; cache?: 'hot' | 'cold' }): Promise<RepetitionMeasurement> => {
          if (o.cache === 'cold') await (await lab.os.coldCache([`${OBJECTS}/seed1-1MiB/cold-1MiB/seg/0000.m4s`], '/dev/null', 60, suiteStack)).stop();
          // The mbuf zone's REQ follows kern.ipc.mb_use_ext_pgs as set by the variant (vmstatZ derives it).
          const counters = await deltas(lab, real.manifest.id);
          const metrics = Object.fromEntries(real.manifest.metrics.map((m) => [m.id, 1]));
          return { durationMs: o.durationSec * 1000, metrics: { ...metrics, throughput_gbps: 10 }, counters, verification: { verified: 1, failed: 0, failures: [] }, clientBound: false, notes: [] };
        };
        const fake = Object.create(ctx) as SuiteContext;
        Object.assign(fake, {
          startHttpServer: async () => ({ baseUrl: 'http://fake', pids: async () => [], alive: () => true, artifacts: {} }),
          measureHttp: (_s: unknown, o: { durationSec: number; cache?: 'hot' | 'cold' }) => measure(o),
          measureBrowser: (_s: unknown, o: { durationSec: number }) => measure(o),
        });
        return real.prepare(fake, v);
      },
    });
    // tcp-stack (and any bottleneck suite) is another session's work and has its own FreeBSD tests.
    const selected = suites.filter((s) => !s.manifest.probes.includes('tcp')).map(wrap);
    let code: number;
    try {
      const { record } = await executeRun({
        target: lab.t,
        options: { suites: [], variants: [], runs: 2, durationSec: 2, warmupSec: 0, connections: 1, objects: { seed: 1, totalMiB: 1 }, serverWorkers: 1, serverDirectives: [], quick: true },
        settings: { reportsDir: tmp, profile: 'fake' } as RunParams['settings'],
        suites: selected,
        signal: new AbortController().signal,
        progress: { start: () => {}, extend: () => {}, step: () => {}, tick: () => {}, done: () => {}, log: () => {}, stop: () => {} },
        fingerprint: { os: 'freebsd', hostname: 'lab', kernelRelease: '15.0-CURRENT', kernelVersion: 'FreeBSD 15.0-CURRENT', arch: 'amd64', cpuModel: 'x', cpuCount: 16, memoryBytes: 1 << 30, sysctls: {}, tools: {} },
        io: {
          materializeObjects: async () => set,
          buildObjects: () => set,
          syncObjects: async () => {},
          primePageCache: async () => null,
          lock: async () => ({ release: async () => {} }),
          replay: async () => {},
        },
      });
      code = exitCodeOf(record);
      expect(record.errors).toEqual([]);
      const status = Object.fromEntries(record.suites.flatMap((s) => s.variants.map((v) => [`${s.id}/${v.id}`, v.status === 'skipped' ? `skipped: ${v.reason}` : v.status])));
      const skipReason = expect.stringMatching(/^skipped: cold cache on FreeBSD needs the objects directory on a UFS filesystem of its own .*; \/var\/lib\/headgate\/work\/objects\/seed1-1MiB is on zroot\/var \(zfs\) mounted on \/var, not a filesystem of its own$/);
      const cold = coldStatus === 'ran' ? 'ran' : skipReason;
      expect(status).toMatchObject({
        'sendfile/sendfile-on-cold': cold,
        'sendfile/sendfile-off-cold': cold,
        'pbuf/cold-sendfile': cold,
        'pbuf/hot-sendfile': 'ran',
        'unmapped-mbufs/sendfile-ext-pgs-1': 'ran',
        'ktls/ktls-tls13': 'ran',
        'io-sched/cam-default': expect.stringMatching(/^skipped: CAM I\/O scheduler variants need a CAM disk named with --block-device/),
        'sendfile/aio-threads': expect.stringMatching(/^skipped: not applicable on FreeBSD/),
      });
      const failures = record.suites.flatMap((s) => s.variants.flatMap((v) => v.repetitions.flatMap((r) => r.proofFailures ?? [])));
      expect(failures).toEqual([]);
      // Nothing made: no md(4), newfs or staging copy; the objects filesystem is mounted as it was.
      expect(lab.t.transcript.filter((c) => /^(mdconfig|newfs|dd|cp) /.test(c))).toEqual([]);
      const remounts = lab.t.transcript.filter((c) => /^u?mount (?!-p)/.test(c));
      if (coldStatus === 'skipped') expect(remounts).toEqual([]);
      else {
        expect(remounts.length).toBeGreaterThan(0);
        expect(new Set(remounts)).toEqual(new Set([`umount ${OBJECTS}`, `mount ${OBJECTS}`]));
        const cold = record.suites.find((s) => s.id === 'pbuf')!.variants.find((v) => v.id === 'cold-sendfile')!;
        expect(cold.repetitions[0].counters?.['devstat.cold.bytes_read']).toBe(1709056 * 1024);
      }
      expect(lab.state.mounted).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    expect([0, 1]).toContain(code);
    expect(code).toBe(0);
  });
});
