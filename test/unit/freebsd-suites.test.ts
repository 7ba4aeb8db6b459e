import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { diff } from '../../harness/probes/snapshot.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { discoverSuites } from '../../harness/engine/discovery.js';
import { proofFailures, variantApplies } from '../../harness/engine/plan.js';
import { variantKnobs } from '../../harness/engine/runner.js';
import type { Suite, SuiteContext } from '../../harness/engine/suite.js';
import type { VariantDef } from '../../harness/model/types.js';
import { FreeBSDAdapter } from '../../harness/drivers/os/freebsd.js';
import { FakeTarget } from '../helpers/fake-target.js';

const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'freebsd', f), 'utf8');

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
    'net.inet.tcp.cc.available': 'newreno\n',
    'kern.cam.do_dynamic_iosched': '1',
    'kern.cam.ada.0.iosched.read_bias': '100',
    'kern.cam.ada.0.iosched.write.limiter': 'none',
    'kern.cam.ada.0.iosched.write.max': '0',
    'kern.cam.ada.0.iosched.control.type': 'set_max',
  };
  const knobs = { ...initial };
  const modules = new Set<string>();
  const available = new Set(['tcphpts', 'tcp_rack', 'tcp_bbr', 'cc_cubic']);
  const state = { phase: 'before' as 'before' | 'after' };
  const netstatJson = (phase: string) => {
    const doc = JSON.parse(fx('netstat-m.json'));
    if (phase === 'after') for (const k of Object.keys(doc['mbuf-statistics'])) if (k.startsWith('sendfile')) doc['mbuf-statistics'][k] += 1000;
    return JSON.stringify(doc);
  };
  const t = new FakeTarget((argv) => {
    const cmd = argv.join(' ');
    if (cmd === 'sysctl -n net.inet.tcp.functions_available') return { stdout: fx('tcp-functions-available.txt') };
    if (argv[0] === 'sysctl' && argv[1] === '-n') return argv[2] in knobs ? { stdout: `${knobs[argv[2]]}\n` } : { code: 1, stderr: `sysctl: unknown oid '${argv[2]}'` };
    if (argv[0] === 'sysctl' && argv.length === 2 && argv[1].includes('=')) {
      const [k, v] = argv[1].split('=');
      if (!(k in knobs)) return { code: 1, stderr: `sysctl: unknown oid '${k}'` };
      knobs[k] = v;
      return { stdout: `${k}: ${v}\n` };
    }
    if (cmd === 'sysctl kern.ipc.tls.stats') return { stdout: fx(`tls-stats-${state.phase}.txt`) };
    if (argv[0] === 'kldstat') return modules.has(argv[3]) ? { stdout: '' } : { code: 1 };
    if (argv[0] === 'kldload') return available.has(argv[1]) ? (modules.add(argv[1]), {}) : { code: 1, stderr: `kldload: can't load ${argv[1]}: No such file or directory` };
    if (argv[0] === 'kldunload') return modules.delete(argv[1]) ? {} : { code: 1, stderr: `kldunload: can't find file ${argv[1]}` };
    if (cmd === 'netstat -m --libxo json') return { stdout: netstatJson(state.phase) };
    if (cmd === 'vmstat -z') return { stdout: fx(`vmstat-z-${state.phase}.txt`) };
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
    expect(table.find((l) => l.startsWith('tcp-stack/rack:'))).toMatch(/lab-targets issue/);
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
    // TLS 1.2 asks for tls12_gcm_encrypts, which did not move in this repetition: the variant fails.
    expect(proofFailures(variant('ktls', 'ktls-tls12').expect?.freebsd, d)).toEqual([
      'the kernel encrypted records in software (kern.ipc.tls.stats.ocf.tls12_gcm_encrypts): ktls.ocf.tls12_gcm_encrypts moved by 0, expected at least 1',
    ]);
  });

  it('sendfile and pbuf: sendfile and pbuf zone counters are read and prove a cold cache', async () => {
    const lab = freebsdLab();
    const sf = await deltas(lab, 'sendfile');
    expect(sf['netstat-m.sendfile-io-count']).toBe(1000);
    expect(proofFailures(variant('sendfile', 'sendfile-on-cold').expect?.freebsd, sf)).toEqual([]);
    const pb = await deltas(lab, 'pbuf');
    expect(pb['uma.vnpbuf.req']).toBe(61877 - 48213);
    expect(pb['uma.vnpbuf.sleep']).toBe(40 - 12);
    expect(pb['tcp.retransmitted-packets']).toBe(400);
    expect(proofFailures(variant('pbuf', 'cold-sendfile').expect?.freebsd, pb)).toEqual([]);
    expect(lab.t.transcript).toEqual(expect.arrayContaining(['netstat -m --libxo json', 'vmstat -z', 'netstat -s -p tcp']));
  });

  it('sendfile cold cache remounts the objects filesystem, and refuses one on /', async () => {
    const lab = freebsdLab();
    let mp = '/hg';
    const base = lab.t.exec.bind(lab.t);
    lab.t.exec = async (argv, o) => {
      if (argv[0] === 'df') return { code: 0, stderr: '', stdout: `Filesystem 1024-blocks Used Avail Capacity Mounted on\n/dev/ada1p1 101471 8 93346 0% ${mp}\n` };
      if (argv[0] === 'umount' || argv[0] === 'mount') return lab.t.transcript.push(argv.join(' ')), { code: 0, stdout: '', stderr: '' };
      return base(argv, o);
    };
    await lab.os.coldCache(['/hg/objects/seg-001.bin'], '/dev/null');
    expect(lab.t.transcript).toEqual(['umount /hg', 'mount /hg']);
    mp = '/';
    await expect(lab.os.coldCache(['/reports/.objects/seg-001.bin'], '/dev/null')).rejects.toThrow(/is on \/: put reports\/.objects on its own UFS filesystem/);
  });

  it('unmapped-mbufs: mb_use_ext_pgs 0 then restored; extpgs zone requests prove M_EXTPG was used', async () => {
    const lab = freebsdLab();
    const off = await knobTranscript(lab, variant('unmapped-mbufs', 'sendfile-ext-pgs-0'));
    expect(off).toEqual({ set: ['sysctl kern.ipc.mb_use_ext_pgs=0'], restore: ['sysctl kern.ipc.mb_use_ext_pgs=1'] });
    const on = await knobTranscript(lab, variant('unmapped-mbufs', 'sendfile-ext-pgs-1'));
    expect(on).toEqual({ set: [], restore: [] }); // already 1 on this host: nothing to change or restore
    const d = await deltas(lab, 'unmapped-mbufs');
    expect(d['uma.mbuf_extpgs.req']).toBe(180412);
    expect(proofFailures(variant('unmapped-mbufs', 'sendfile-ext-pgs-1').expect?.freebsd, d)).toEqual([]);
    expect(lab.knobs).toEqual(lab.initial);
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
});
