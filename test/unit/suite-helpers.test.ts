import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { proofFailures, suiteApplies, variantApplies } from '../../harness/engine/plan.js';
import type { SuiteManifest } from '../../harness/model/types.js';
import { fioArgs, parseFioJson } from '../../harness/probes/fio.js';
import { jainIndex, parseIperfJson } from '../../harness/probes/iperf.js';
import { qdiscCommands, staleLabNamespaces } from '../../harness/drivers/net/bottleneck.js';
import { parseDiskstats, parseTlsStat, sysfsChoice } from '../../harness/drivers/os/parsers/linux.js';
import { tlsDirectives } from '../../harness/drivers/servers/tls.js';
import { camIoschedPrefix } from '../../suites/io-sched/index.js';

const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'linux', f), 'utf8');

describe('Linux counter parsers', () => {
  it('/proc/net/tls_stat lines', () => {
    const t = parseTlsStat('TlsCurrTxSw                     \t2\nTlsCurrRxSw                     \t0\nTlsTxSw                         \t17\nTlsDecryptError                 \t0\n');
    expect(t).toEqual({ TlsCurrTxSw: 2, TlsCurrRxSw: 0, TlsTxSw: 17, TlsDecryptError: 0 });
  });
  it('/proc/diskstats with and without the discard/flush fields', () => {
    const d = parseDiskstats(' 254       0 vda 52913 1201 4410218 31211 98112 70231 9912312 120044 3 88120 170321 0 0 0 0 4410 9111\n   7       1 loop1 0 0 0 0 0 0 0 0 0 0 0\n');
    expect(d.vda).toEqual({ reads: 52913, sectorsRead: 4410218, readMs: 31211, writes: 98112, sectorsWritten: 9912312, writeMs: 120044, inFlight: 3, ioMs: 88120 });
    expect(d.loop1.reads).toBe(0);
  });
  it('sysfs choice files', () => {
    expect(sysfsChoice('none [mq-deadline] kyber bfq\n')).toBe('mq-deadline');
    expect(sysfsChoice('[none] mq-deadline')).toBe('none');
  });
});

describe('fio and iperf3 output (recorded on this machine)', () => {
  it('fio: reader percentiles and writer rate by job name', () => {
    const r = parseFioJson(fx('fio-reader-writer.json'));
    const doc = JSON.parse(fx('fio-reader-writer.json'));
    expect(r.reader.p99Us).toBe(doc.jobs[0].read.clat_ns.percentile['99.000000'] / 1000);
    expect(r.reader.iops).toBe(doc.jobs[0].read.iops);
    expect(r.writer.bytesPerSec).toBe(doc.jobs[1].write.bw_bytes);
    expect(r.reader.p50Us).toBeLessThanOrEqual(r.reader.p99Us);
    expect(() => parseFioJson('fio: engine libaio not loadable')).toThrow(/no JSON/);
  });
  it('fio arguments: O_DIRECT, reader on the first half, writer on the second', () => {
    const a = fioArgs({ device: '/dev/loop3', durationSec: 2, ioengine: 'libaio', reader: { rw: 'randread', bs: '4k', iodepth: 16 }, writer: { rw: 'write', bs: '1M', iodepth: 8 } });
    expect(a).toContain('--direct=1');
    expect(a.slice(a.indexOf('--name=reader'))).toEqual(['--name=reader', '--rw=randread', '--bs=4k', '--iodepth=16', '--offset=0', '--size=50%', '--name=writer', '--rw=write', '--bs=1M', '--iodepth=8', '--offset=50%', '--size=50%']);
  });
  it('iperf3: goodput, retransmits, RTT and per-flow rates', () => {
    const doc = JSON.parse(fx('iperf3-2flows.json'));
    const r = parseIperfJson(fx('iperf3-2flows.json'));
    expect(r.goodputBps).toBe(doc.end.sum_received.bits_per_second);
    expect(r.retransmits).toBe(doc.end.sum_sent.retransmits);
    expect(r.flowBps).toHaveLength(2);
    expect(r.congestion).toBe('reno');
    expect(() => parseIperfJson('{"error":"unable to connect to server: Connection refused"}')).toThrow(/Connection refused/);
  });
  it("Jain's index: 1 for equal flows, 1/n when one flow takes everything", () => {
    expect(jainIndex([5, 5])).toBeCloseTo(1);
    expect(jainIndex([10, 0])).toBeCloseTo(0.5);
    expect(jainIndex([3, 1])).toBeCloseTo(16 / 20);
  });
});

describe('bottleneck lab', () => {
  it('tbf alone without netem; netem as root with tbf below when delay or loss is asked', () => {
    expect(qdiscCommands('hgmc1', { rateMbit: 200, queueMs: 10 }, true)).toEqual([['tc', 'qdisc', 'add', 'dev', 'hgmc1', 'root', 'tbf', 'rate', '200mbit', 'burst', '64kb', 'latency', '10ms']]);
    const wan = qdiscCommands('hgmc1', { rateMbit: 100, queueMs: 20, delayMs: 20, lossPct: 0.5 }, true);
    expect(wan.map((c) => c.join(' '))).toEqual([
      'tc qdisc add dev hgmc1 root handle 1: netem delay 20ms loss 0.5%',
      'tc qdisc add dev hgmc1 parent 1:1 handle 10: tbf rate 100mbit burst 64kb latency 20ms',
    ]);
  });
  it('namespaces of dead runs are found for cleanup, live ones and foreign ones are left alone', () => {
    const list = 'hg-s-111-0 (id: 3)\nhg-m-111-0 (id: 2)\nhg-s-222-1\nblue\nhg-other\n';
    expect(staleLabNamespaces(list, (pid) => pid === 222)).toEqual(['hg-s-111-0', 'hg-m-111-0']);
  });
});

describe('suite planning and proof', () => {
  const m = { id: 'x', os: ['freebsd'], notApplicable: { linux: 'no such knob on Linux' }, variants: [], metrics: [] } as unknown as SuiteManifest;
  it('a suite that does not apply says why, in the manifest words', () => {
    expect(suiteApplies(m, 'linux')).toEqual({ ok: false, reason: 'not applicable on linux: no such knob on Linux' });
  });
  it('an OS-scoped variant and a missing capability are skipped with the exact reason', async () => {
    const os = { family: 'freebsd' as const, capability: async (c: string) => (c === 'ktls' ? { ok: false, reason: 'kernel built without options KERN_TLS' } : { ok: true }) };
    expect(await variantApplies(m, { id: 'a', description: '', os: ['linux'] }, os)).toEqual({ ok: false, reason: 'variant for linux only (target runs freebsd)' });
    expect(await variantApplies(m, { id: 'b', description: '', requires: ['sendfile', 'ktls'] }, os)).toEqual({ ok: false, reason: 'kernel built without options KERN_TLS' });
  });
  it('proof: a counter that did not move, or could not be read, fails the variant', () => {
    const expect_ = [{ counter: 'tls.TlsTxSw', atLeast: 1, means: 'kTLS engaged' }];
    expect(proofFailures(expect_, { 'tls.TlsTxSw': 3 })).toEqual([]);
    expect(proofFailures(expect_, { 'tls.TlsTxSw': 0 })).toEqual(['kTLS engaged: tls.TlsTxSw moved by 0, expected at least 1']);
    expect(proofFailures(expect_, {})).toEqual(['kTLS engaged: counter tls.TlsTxSw was not readable']);
  });
});

describe('suite helpers', () => {
  it('TLS directives: 1.2 cipher list vs 1.3 ciphersuites, kTLS through OpenSSL options', () => {
    expect(tlsDirectives({ protocol: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', ktls: false })).toContain('ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256');
    const d13 = tlsDirectives({ protocol: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', ktls: true });
    expect(d13).toEqual(expect.arrayContaining(['ssl_protocols TLSv1.3', 'ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256', 'ssl_conf_command Options KTLS']));
  });
  it('CAM iosched sysctl prefix from a device name', () => {
    expect(camIoschedPrefix('/dev/ada0')).toBe('kern.cam.ada.0.iosched');
    expect(camIoschedPrefix('da12')).toBe('kern.cam.da.12.iosched');
    expect(() => camIoschedPrefix('vtbd0p1')).toThrow(/not a CAM disk/);
  });
});
