import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { discoverSuites } from '../../harness/engine/discovery.js';
import { variantApplies } from '../../harness/engine/plan.js';
import { variantKnobs } from '../../harness/engine/runner.js';
import type { Suite } from '../../harness/engine/suite.js';
import { createFreebsdBottleneck } from '../../harness/drivers/net/bottleneck.js';
import { pipeArgs, vnetLabNames } from '../../harness/drivers/net/freebsd-vnet-lab.js';
import { FreeBSDAdapter, kldModuleName } from '../../harness/drivers/os/freebsd.js';

import { runIperf } from '../../harness/probes/iperf.js';
import type { ProcessHandle } from '../../harness/drivers/targets/target.js';
import { FakeTarget, journalIntoTranscript, undoOn } from '../helpers/fake-target.js';

/** An iperf3 -J client document (the fields parseIperfJson reads). */
const IPERF_JSON = JSON.stringify({
  start: { tcp_congestion: '' },
  end: {
    sum_received: { bits_per_second: 180e6 },
    sum_sent: { retransmits: 12 },
    streams: [
      { sender: { mean_rtt: 11000 }, receiver: { bits_per_second: 90e6 } },
      { sender: { mean_rtt: 12000 }, receiver: { bits_per_second: 90e6 } },
    ],
  },
});

/**
 * A scripted FreeBSD 15 host with VIMAGE, if_epair/ipfw/dummynet as loadable modules (none
 * loaded), dnctl, iperf3, tcp_rack/tcp_bbr/cc_cubic. Outputs follow the source: `ifconfig
 * epairN create` prints `epairNa` (sbin/ifconfig/ifclone.c ifclonecreate), `kenv -q NAME`
 * exits 1 when unset (bin/kenv/kenv.c), `ifconfig -l` prints names on one line.
 */
function freebsdHost() {
  const knobs: Record<string, string> = {
    'kern.features.vimage': '1',
    'net.inet.tcp.functions_default': 'freebsd',
    'net.inet.tcp.cc.algorithm': 'newreno',
  };
  const modules = new Set<string>();
  const loadable = new Set(['if_epair', 'ipfw', 'dummynet', 'tcphpts', 'tcp_rack', 'tcp_bbr', 'cc_cubic']);
  const ifaces = new Set(['vtnet0', 'lo0']);
  const jails = new Set<string>();
  const kenv = new Map<string, string>();
  const spawned: string[] = [];
  const t = new FakeTarget((argv) => {
    const [cmd, ...a] = argv;
    if (argv.join(' ') === 'sysctl -n net.inet.tcp.functions_available') return { stdout: readFileSync(path.join(__dirname, '..', 'fixtures', 'freebsd', 'tcp-functions-available.txt'), 'utf8') };
    // cc.c cc_list_available: one line, ", " between names.
    if (argv.join(' ') === 'sysctl -n net.inet.tcp.cc.available') return { stdout: ['newreno', ...[...modules].filter((m) => m === 'cubic')].join(', ') + '\n' };
    if (cmd === 'sysctl' && a[0] === '-n') return a[1] in knobs ? { stdout: `${knobs[a[1]]}\n` } : { code: 1, stderr: `sysctl: unknown oid '${a[1]}'` };
    if (cmd === 'sysctl' && a.length === 1 && a[0].includes('=')) {
      const [k, v] = a[0].split('=');
      if (!(k in knobs)) return { code: 1, stderr: `sysctl: unknown oid '${k}'` };
      knobs[k] = v;
      return { stdout: `${k}: ${v}\n` };
    }
    if (cmd === 'kldstat') return modules.has(a[2]) ? {} : { code: 1 };
    if (cmd === 'kldload') return loadable.has(a[0]) ? (modules.add(kldModuleName(a[0])), {}) : { code: 1, stderr: `kldload: can't load ${a[0]}` };
    if (cmd === 'kldunload') return modules.delete(kldModuleName(a[0])) ? {} : { code: 1, stderr: `kldunload: can't find file ${a[0]}` };
    if (cmd === 'kenv' && a[0] === '-q' && a[1] === '-u') return kenv.delete(a[2]) ? {} : { code: 1 };
    if (cmd === 'kenv' && a[0] === '-q') return kenv.has(a[1]) ? { stdout: `${kenv.get(a[1])}\n` } : { code: 1 };
    if (cmd === 'kenv') {
      const [k, v] = a[0].split('=');
      kenv.set(k, v);
      return { stdout: `${k}="${v}"\n` };
    }
    if (cmd === 'netstat') return { stdout: 'Routing tables\n\nInternet:\nDestination        Gateway            Flags         Netif Expire\ndefault            10.0.2.2           UGS          vtnet0\n198.18.1.0/24      link#3             U            epair9a\n' };
    if (cmd === 'ifconfig' && a[0] === '-l') return { stdout: [...ifaces].join(' ') + '\n' };
    if (cmd === 'ifconfig' && a[1] === 'create') {
      ifaces.add(`${a[0]}a`).add(`${a[0]}b`);
      return { stdout: `${a[0]}a\n` };
    }
    if (cmd === 'ifconfig' && a[1] === 'destroy') return ifaces.delete(a[0]) && ifaces.delete(a[0].replace(/a$/, 'b')) ? {} : { code: 1, stderr: `ifconfig: interface ${a[0]} does not exist` };
    if (cmd === 'ifconfig' || cmd === 'route') return {};
    if (cmd === 'jail' && a[0] === '-c') return jails.add(a[1].slice('name='.length)), { stdout: `${a[1].slice(5)}: created\n` };
    if (cmd === 'jail' && a[0] === '-r') return jails.delete(a[1]) ? { stdout: `${a[1]}: removed\n` } : { code: 1, stderr: `jail: "${a[1]}" not found` };
    if (cmd === 'jexec') return jails.has(a[0]) ? (a[1] === 'iperf3' ? { stdout: IPERF_JSON } : {}) : { code: 1, stderr: `jexec: jail "${a[0]}" not found` };
    if (cmd === 'iperf3') return { stdout: IPERF_JSON };
    return undefined;
  });
  t.which = async (p: string) => (['dnctl', 'iperf3', 'jail', 'jexec'].includes(p) ? `/usr/sbin/${p}` : null);
  t.readFileIfExists = async (f: string) => (/^\/boot\/kernel\/(.+)\.ko$/.test(f) && loadable.has(/^\/boot\/kernel\/(.+)\.ko$/.exec(f)![1]) ? 'ELF' : null);
  (t as { spawn: (argv: string[]) => Promise<ProcessHandle> }).spawn = async (argv: string[]): Promise<ProcessHandle> => {
    spawned.push(argv.join(' '));
    t.transcript.push(`spawn ${argv.join(' ')}`);
    return { pid: 4242, exited: Promise.resolve(0), running: () => false, kill: () => {} };
  };
  // The journal records each undo before its change is made: the entries interleave with the transcript.
  const entries = journalIntoTranscript(t, 'fake:/var/lib/headgate/work/journal.jsonl');
  return { t, knobs, modules, ifaces, jails, kenv, entries, os: new FreeBSDAdapter(t) };
}

let suites: Suite[];
beforeAll(async () => {
  suites = await discoverSuites();
});
const variant = (v: string) => suites.find((s) => s.manifest.id === 'tcp-stack')!.manifest.variants.find((x) => x.id === v)!;

const PID = 4321;
const names = vnetLabNames(PID, 0);
const se = `epair${names.serverUnit}`;
const ce = `epair${names.clientUnit}`;
const M = names.middleJail;
const C = names.clientJail;

/** What building the lab sends to the target, in order (journal entries first, then each change). */
const CREATE = [
  'kldstat -q -m if_epair',
  'journal kldunload if_epair',
  'kldload if_epair',
  'kldstat -q -m ipfw',
  'kenv -q net.inet.ip.fw.default_to_accept',
  'journal kenv net.inet.ip.fw.default_to_accept back to unset',
  'kenv net.inet.ip.fw.default_to_accept=1',
  'journal kldunload ipfw',
  'kldload ipfw',
  'kldstat -q -m dummynet',
  'journal kldunload dummynet',
  'kldload dummynet',
  'netstat -rn -f inet',
  'ifconfig -l',
  `journal ifconfig ${se}a destroy`,
  `ifconfig ${se} create`,
  `journal ifconfig ${ce}a destroy`,
  `ifconfig ${ce} create`,
  `journal jail -r ${M}`,
  `jail -c name=${M} persist vnet vnet.interface=${se}b vnet.interface=${ce}a`,
  `journal jail -r ${C}`,
  `jail -c name=${C} persist vnet vnet.interface=${ce}b`,
  `ifconfig ${se}a 198.18.2.1/24 up`,
  `jexec ${M} ifconfig ${se}b 198.18.2.2/24 up`,
  `jexec ${M} ifconfig ${ce}a 198.19.2.1/24 up`,
  `jexec ${C} ifconfig ${ce}b 198.19.2.2/24 up`,
  `jexec ${M} sysctl net.inet.ip.forwarding=1`,
  `jexec ${C} route add -net 198.18.2.0/24 198.19.2.1`,
  `jexec ${C} ipfw add 200 allow ip from any to any`,
  'route add -net 198.19.2.0/24 198.18.2.2',
  `jexec ${M} dnctl pipe 1 config bw 200Mbit/s queue 245K`,
  `jexec ${M} ipfw add 100 pipe 1 ip from any to 198.19.2.0/24 out`,
  `jexec ${M} ipfw add 200 allow ip from any to any`,
];
/** Teardown: the exact reverse of what was made. */
const TEARDOWN = [
  `jail -r ${C}`,
  `jail -r ${M}`,
  `ifconfig ${ce}a destroy`,
  `ifconfig ${se}a destroy`,
  'kldunload dummynet',
  'kldunload ipfw',
  'kenv -q -u net.inet.ip.fw.default_to_accept',
  'kldunload if_epair',
];

/**
 * One variant end to end on the scripted host: the lab (suite stack), the variant's knobs
 * (repetition stack), one bulk transfer from vnet0 to the client jail, then both stacks unwound.
 */
async function runVariant(id: string) {
  const h = freebsdHost();
  const v = variant(id);
  expect(await variantApplies(suites.find((s) => s.manifest.id === 'tcp-stack')!.manifest, v, h.os, h.t)).toEqual({ ok: true });
  h.t.transcript.length = 0;
  const suiteStack = new CleanupStack();
  // A fixed pid, so the jail and epair names are known to the expectations.
  const b = await createFreebsdBottleneck(h.t, { rateMbit: 200, queueMs: 10 }, suiteStack, PID);
  const created = h.t.transcript.splice(0);
  const knobStack = new CleanupStack();
  for (const [k, val] of variantKnobs(v, 'freebsd')) await h.os.setKnob(k, val, knobStack);
  const knobs = h.t.transcript.splice(0).filter((c) => !/^(sysctl -n|kldstat)/.test(c));
  const r = await runIperf(h.t, h.t, { senderWrap: b.serverWrap, receiverWrap: b.clientWrap, clientAddress: b.clientAddress, port: 5201, flows: 2, durationSec: 1, logFile: '/var/lib/headgate/work/iperf3.log' });
  const transfer = h.t.transcript.splice(0);
  expect(await knobStack.unwind()).toEqual([]);
  const restored = h.t.transcript.splice(0);
  expect(await suiteStack.unwind()).toEqual([]);
  const torn = h.t.transcript.splice(0);
  return { h, b, r, created, knobs, transfer, restored, torn };
}

describe('tcp-stack on FreeBSD: VNET jails, epair(4) and dummynet (scripted FreeBSD 15 host)', () => {
  it('pipe arguments follow sbin/ipfw/dummynet.c: bw in bit/s, queue in KBytes within the 1 MiB limit, delay in ms, plr a probability', () => {
    expect(pipeArgs({ rateMbit: 200, queueMs: 10 })).toEqual(['bw', '200Mbit/s', 'queue', '245K']);
    expect(pipeArgs({ rateMbit: 10000, queueMs: 50 })).toEqual(['bw', '10000Mbit/s', 'queue', '1024K']);
    expect(pipeArgs({ rateMbit: 200, queueMs: 10, delayMs: 20, lossPct: 0.5 })).toEqual(['bw', '200Mbit/s', 'queue', '245K', 'delay', '20', 'plr', '0.005']);
  });

  for (const [id, knobSet, knobRestore] of [
    ['freebsd-newreno', [], []],
    ['freebsd-cubic', ['kldload cc_cubic', 'sysctl net.inet.tcp.cc.algorithm=cubic'], ['sysctl net.inet.tcp.cc.algorithm=newreno', 'kldunload cc_cubic']],
    ['rack', ['kldload tcphpts', 'kldload tcp_rack', 'sysctl net.inet.tcp.functions_default=rack'], ['sysctl net.inet.tcp.functions_default=freebsd', 'kldunload tcp_rack', 'kldunload tcphpts']],
    ['bbr-stack', ['kldload tcphpts', 'kldload tcp_bbr', 'sysctl net.inet.tcp.functions_default=bbr'], ['sysctl net.inet.tcp.functions_default=freebsd', 'kldunload tcp_bbr', 'kldunload tcphpts']],
  ] as const) {
    it(`${id}: lab built in order with every undo journaled first, the stack's knobs set in vnet0, iperf3 from vnet0 to the client jail, all undone in reverse`, async () => {
      const x = await runVariant(id);
      expect(x.created).toEqual(CREATE);
      expect(x.knobs.filter((c) => !c.startsWith('journal '))).toEqual(knobSet);
      expect(x.transfer).toEqual([
        `spawn jexec ${C} iperf3 -s -1 -B 198.19.2.2 -p 5201`,
        'iperf3 -J -c 198.19.2.2 -p 5201 -t 1 -P 2',
      ]);
      expect(x.r.goodputBps).toBe(180e6);
      expect(x.restored).toEqual(knobSet.length ? knobRestore : []);
      expect(x.torn).toEqual(TEARDOWN);
      expect(x.b).toMatchObject({ serverAddress: '198.18.2.1', clientAddress: '198.19.2.2', serverWrap: [], clientWrap: ['jexec', C], httpThroughPath: false });
      // Nothing is left: no jail, no epair, no module, no tunable, knobs as found.
      expect([...x.h.jails]).toEqual([]);
      expect([...x.h.ifaces].sort()).toEqual(['lo0', 'vtnet0']);
      expect([...x.h.modules]).toEqual([]);
      expect([...x.h.kenv]).toEqual([]);
      expect(x.h.knobs).toMatchObject({ 'net.inet.tcp.functions_default': 'freebsd', 'net.inet.tcp.cc.algorithm': 'newreno' });
    });
  }

  it('a dead run is repaired from the journal: replaying its entries newest first gives the same teardown', async () => {
    const h = freebsdHost();
    await createFreebsdBottleneck(h.t, { rateMbit: 200, queueMs: 10 }, new CleanupStack(), PID);
    h.t.os = async () => h.os;
    h.t.transcript.length = 0;
    for (const u of [...h.entries].reverse()) await undoOn(h.t, u);
    // A replay first reads the tunable: it is unset only while it still holds what headgate set.
    expect(h.t.transcript).toEqual([...TEARDOWN.slice(0, 6), 'kenv -q net.inet.ip.fw.default_to_accept', ...TEARDOWN.slice(6)]);
    expect([...h.jails, ...h.modules]).toEqual([]);
  });

  it('ipfw already loaded with default_to_accept=0: the client jail starts deny-all and gets an allow rule, removed with the jail', async () => {
    const h = freebsdHost();
    h.modules.add('ipfw'); // loaded at boot without the tunable: every new vnet's default rule denies
    const allowed = new Set<string>();
    const base = h.t.exec.bind(h.t);
    h.t.exec = async (argv, o) => {
      if (argv[0] === 'jexec' && argv[2] === 'ipfw' && argv.includes('allow')) allowed.add(argv[1]);
      if (argv[0] === 'jail' && argv[1] === '-r') allowed.delete(argv[2]);
      // vnet0 -> client jail: the client jail's default rule drops what it receives unless allowed.
      if (argv[0] === 'iperf3' && !allowed.has(C)) return h.t.transcript.push(argv.join(' ')), { code: 1, stdout: '', stderr: 'iperf3: error - unable to connect to server: Operation timed out' };
      return base(argv, o);
    };
    const stack = new CleanupStack();
    const b = await createFreebsdBottleneck(h.t, { rateMbit: 200, queueMs: 10 }, stack, PID);
    // ipfw was there: no kenv change, no load, no unload; the rule is in the client jail's own vnet.
    expect(h.t.transcript.filter((c) => /kenv|kldload ipfw/.test(c))).toEqual([]);
    expect(h.t.transcript).toContain(`jexec ${C} ipfw add 200 allow ip from any to any`);
    const r = await runIperf(h.t, h.t, { senderWrap: b.serverWrap, receiverWrap: b.clientWrap, clientAddress: b.clientAddress, port: 5201, flows: 2, durationSec: 1, logFile: '/var/lib/headgate/work/iperf3.log' });
    expect(r.goodputBps).toBe(180e6);
    expect(await stack.unwind()).toEqual([]);
    expect(allowed.size).toBe(0); // the jail's removal (journaled jail-remove) took its rule with it
    expect([...h.modules]).toEqual(['ipfw']);
  });

  it('an epair unit already in use is refused before anything is journaled or created', async () => {
    const h = freebsdHost();
    h.ifaces.add(`${se}a`).add(`${se}b`);
    const stack = new CleanupStack();
    await expect(createFreebsdBottleneck(h.t, { rateMbit: 200, queueMs: 10 }, stack, PID)).rejects.toThrow(new RegExp(`${se} already exists`));
    expect(h.t.transcript.filter((c) => c.startsWith('journal ifconfig') || c.endsWith(' create'))).toEqual([]);
    await stack.unwind();
    expect(h.ifaces.has(`${se}a`)).toBe(true);
  });

  it('vnet-lab is skipped with the reason on a kernel without VIMAGE', async () => {
    const h = freebsdHost();
    h.knobs['kern.features.vimage'] = '0';
    expect(await h.os.capability('vnet-lab')).toEqual({ ok: false, reason: 'kernel built without options VIMAGE (kern.features.vimage is not 1): no VNET jails for the bottleneck path' });
  });
});
