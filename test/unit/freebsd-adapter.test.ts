import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { FreeBSDAdapter } from '../../harness/drivers/os/freebsd.js';
import { parseIostatXI } from '../../harness/drivers/os/parsers/freebsd.js';
import type { ExecResult } from '../../harness/drivers/targets/target.js';
import { FakeTarget, freebsdSysctl } from '../helpers/fake-target.js';

const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'freebsd', f), 'utf8');

/** A scripted FreeBSD host whose sysctls can be changed, like the real one. */
function freebsdHost(opts: { libxo?: boolean; first?: (argv: string[]) => Partial<ExecResult> | undefined } = {}) {
  const knobs: Record<string, string> = { 'kern.ipc.mb_use_ext_pgs': '1', 'kern.ipc.tls.enable': '0', 'net.inet.tcp.functions_default': 'freebsd' };
  const t = new FakeTarget((argv) => {
    const cmd = argv.join(' ');
    const first = opts.first?.(argv);
    if (first) return first;
    if (argv.join(' ') === 'sysctl -n kern.cp_time') return { stdout: fx('kern-cp_time.txt') };
    const sc = freebsdSysctl(argv, knobs);
    if (sc) return sc;
    if (argv[0] === 'sysctl' && argv.includes('hw.model')) return { stdout: fx('sysctl-fingerprint.txt') };
    if (argv[0] === 'sysctl') return { stdout: fx('sysctl-knobs.txt') };
    if (cmd === 'netstat -m --libxo json') return opts.libxo === false ? { code: 1, stderr: 'netstat: illegal option -- -' } : { stdout: fx('netstat-m.json') };
    if (cmd === 'netstat -m') return { stdout: fx('netstat-m.txt') };
    if (cmd === 'nginx -v') return { stderr: 'nginx version: nginx/1.26.2\n' };
    if (argv[0] === 'ps') return { stdout: '0:01.50\n0:12.25\n' };
    return undefined;
  });
  return { t, knobs };
}

describe('FreeBSD adapter (fixture-tested: the command transcript a FreeBSD target receives)', () => {
  it('sets knobs with sysctl and restores them in reverse order', async () => {
    const { t, knobs } = freebsdHost();
    const os = new FreeBSDAdapter(t);
    const stack = new CleanupStack();
    await os.setKnob('kern.ipc.tls.enable', '1', stack);
    await os.setKnob('net.inet.tcp.functions_default', 'rack', stack);
    await os.setKnob('kern.ipc.mb_use_ext_pgs', '1', stack); // already 1: no change, no restore
    expect(knobs['kern.ipc.tls.enable']).toBe('1');
    const mark = t.transcript.length;
    expect(await stack.unwind()).toEqual([]);
    expect(t.transcript.slice(mark)).toEqual(['sysctl net.inet.tcp.functions_default=freebsd', 'sysctl kern.ipc.tls.enable=0']);
    expect(t.transcript.slice(0, mark)).toEqual([
      'sysctl -n kern.ipc.tls.enable',
      'sysctl kern.ipc.tls.enable=1',
      'sysctl -n kern.ipc.tls.enable', // read back
      'sysctl -n net.inet.tcp.functions_default',
      'sysctl net.inet.tcp.functions_default=rack',
      'sysctl -n net.inet.tcp.functions_default',
      'sysctl -n kern.ipc.mb_use_ext_pgs',
    ]);
    expect(knobs).toEqual({ 'kern.ipc.mb_use_ext_pgs': '1', 'kern.ipc.tls.enable': '0', 'net.inet.tcp.functions_default': 'freebsd' });
  });

  it('a write sysctl(8) accepts but the handler does not apply is exit 3 naming the knob, and the old value is restored', async () => {
    // A handler that keeps its value: sysctl(8) prints "old -> new" and exits 0, yet the value is not what was asked.
    const { t: clamping, knobs } = freebsdHost({ first: (argv) => (argv.join(' ') === 'sysctl net.inet.tcp.functions_default=rack' ? { stdout: 'net.inet.tcp.functions_default: freebsd -> freebsd\n' } : undefined) });
    const stack = new CleanupStack();
    const err = await new FreeBSDAdapter(clamping).setKnob('net.inet.tcp.functions_default', 'rack', stack).catch((e) => e);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/^net.inet.tcp.functions_default=rack did not take: it reads "freebsd"/);
    expect(await stack.unwind()).toEqual([]);
    expect(knobs['net.inet.tcp.functions_default']).toBe('freebsd');
  });

  it('an unknown knob fails with the oid named, and nothing is pushed to restore', async () => {
    const { t } = freebsdHost();
    const stack = new CleanupStack();
    await expect(new FreeBSDAdapter(t).setKnob('kern.nope', '1', stack)).rejects.toThrow(/kern.nope/);
    expect(stack.size).toBe(0);
  });

  it('reads sendfile counters from libxo JSON, falling back to text on old netstat', async () => {
    const a = freebsdHost();
    const j = await new FreeBSDAdapter(a.t).counters();
    expect(a.t.transcript).toEqual(['netstat -m --libxo json']);
    const b = freebsdHost({ libxo: false });
    const x = await new FreeBSDAdapter(b.t).counters();
    expect(b.t.transcript).toEqual(['netstat -m --libxo json', 'netstat -m']);
    expect(x).toEqual(j);
    expect(j['netstat-m.sendfile-syscalls']).toBe(18452);
  });

  it('fingerprint, CPU time and process CPU from sysctl, kern.cp_time and ps', async () => {
    const { t } = freebsdHost();
    const os = new FreeBSDAdapter(t);
    const fp = await os.fingerprint();
    expect(fp).toMatchObject({ os: 'freebsd', kernelRelease: '15.0-CURRENT', arch: 'amd64', cpuCount: 16, hostname: 'lab-100g-01', memoryBytes: 103079215104 });
    expect(fp.sysctls['net.inet.tcp.cc.algorithm']).toBe('newreno');
    expect(fp.tools.nginx).toBe('1.26.2');
    expect((await os.cpuTimes()).busy).toBe(1826 + 40128 + 2210);
    expect(await os.processCpuSeconds([10, 11])).toBeCloseTo(13.75);
    expect(t.transcript).toContain('ps -o time= -p 10,11');
  });

  it('aio threads is reported not applicable with the reason', async () => {
    const c = await new FreeBSDAdapter(freebsdHost().t).capability('aio-threads');
    expect(c.ok).toBe(false);
    expect(c.reason).toMatch(/SF_NODISKIO/);
  });
});

describe('FreeBSD adapter: whole-machine CPU and the fingerprint facts of issue 14 (scripted FreeBSD 15 target)', () => {
  /** A FreeBSD 15 host with kern.cp_times, NUMA, two NICs, powerd and hwpstate_intel. */
  function host15(o: { cpTimes?: boolean } = {}) {
    return new FakeTarget((argv) => {
      const cmd = argv.join(' ');
      if (cmd === 'sysctl -n kern.cp_times') return o.cpTimes === false ? { code: 1, stderr: "sysctl: unknown oid 'kern.cp_times'" } : { stdout: fx('kern-cp_times.txt') };
      if (cmd === 'sysctl -n kern.cp_time') return { stdout: fx('kern-cp_time.txt') };
      if (cmd === 'sysctl -n dev.hwpstate_intel.0.epp') return { stdout: '50\n' };
      if (argv[0] === 'sysctl' && argv.includes('hw.model')) return { stdout: `${fx('sysctl-fingerprint.txt')}vm.ndomains: 2\n` };
      if (argv[0] === 'sysctl') return { stdout: fx('sysctl-knobs.txt') };
      if (cmd === 'pciconf -lv') return { stdout: fx('pciconf-lv.txt') };
      if (cmd === 'pgrep -x powerd') return { stdout: '812\n' };
      if (cmd === 'openssl version') return { stdout: 'OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)\n' };
      if (cmd === 'nginx -v') return { stderr: 'nginx version: nginx/1.26.2\n' };
      if (cmd === 'nginx -V') return { stderr: 'nginx version: nginx/1.26.2\nbuilt with OpenSSL 3.0.15 3 Sep 2024\nTLS SNI support enabled\n' };
      return undefined;
    });
  }

  it('kern.cp_times: every CPU summed (CPUSTATES = 5 longs per CPU id), absent ids not counted', async () => {
    const t = host15();
    const c = await new FreeBSDAdapter(t).cpuTimes();
    // user + nice + sys + intr of CPUs 0, 1 and 3; CPU id 2 is absent (all zeros).
    expect(c).toEqual({ busy: 455 + 10032 + 552 + (457 + 10031 + 553) + (459 + 10033 + 552), machineBusy: 33124, total: 33124 + 1652803 + 1652802 + 1652801, cpus: 3 });
    expect(t.transcript).toEqual(['sysctl -n kern.cp_times']);
  });

  it('falls back to the kern.cp_time aggregate where kern.cp_times is missing', async () => {
    const t = host15({ cpTimes: false });
    expect((await new FreeBSDAdapter(t).cpuTimes()).machineBusy).toBe(1826 + 40128 + 2210);
    expect(t.transcript).toEqual(['sysctl -n kern.cp_times', 'sysctl -n kern.cp_time']);
  });

  it('fingerprint: vm.ndomains, pciconf -lv network devices, powerd and hwpstate_intel epp, OpenSSL versions', async () => {
    const t = host15();
    const fp = await new FreeBSDAdapter(t).fingerprint();
    expect(fp.numaDomains).toBe(2);
    expect(fp.nics).toEqual([
      { name: 'ix0', driver: 'ix', model: "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection" },
      { name: 'mlx5_core0', driver: 'mlx5_core', model: 'Mellanox Technologies MT2892 Family [ConnectX-6 Dx]' },
    ]);
    expect(fp.cpuFreqGovernor).toBe('powerd; hwpstate_intel epp 50');
    expect(fp.tools).toMatchObject({ nginx: '1.26.2', openssl: 'OpenSSL 3.0.15', 'nginx-openssl': 'OpenSSL 3.0.15' });
    expect(t.transcript).toEqual(expect.arrayContaining(['pciconf -lv', 'pgrep -x powerd', 'sysctl -n dev.hwpstate_intel.0.epp', 'openssl version', 'nginx -V']));
    expect(t.transcript.find((c) => c.includes('hw.model'))).toMatch(/ vm\.ndomains$/);
  });

  it('a host without pciconf output, powerd or cpufreq driver still fingerprints', async () => {
    const t = new FakeTarget((argv) => (argv[0] === 'sysctl' && argv.includes('hw.model') ? { stdout: fx('sysctl-fingerprint.txt') } : argv[0] === 'sysctl' ? { stdout: '' } : undefined));
    const fp = await new FreeBSDAdapter(t).fingerprint();
    expect(fp.numaDomains).toBeUndefined();
    expect(fp.nics).toEqual([]);
    expect(fp.cpuFreqGovernor).toBe('no powerd');
  });
});

describe('iostat -x -I (devstat totals; fixtures built from the format strings in usr.sbin/iostat/iostat.c:devstats())', () => {
  const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'freebsd', f), 'utf8');

  it('reads r/i, w/i and kr/i (KiB, one decimal) of each device row after the header', () => {
    expect(parseIostatXI(fx('iostat-x-I-before.txt'))).toEqual([{ device: 'ada1', reads: 10234, writes: 5120, bytesRead: 1024000 * 1024, bytesWritten: 409600 * 1024 }]);
    // "%-8.8s %11.1Lf %11.1Lf %12.1Lf %12.1Lf %4ju %10.1Lf %9.1Lf ": a long name is cut to 8 characters.
    const row = `${'nda10'.padEnd(8)} ${'3.0'.padStart(11)} ${'0.0'.padStart(11)} ${'12.5'.padStart(12)} ${'0.0'.padStart(12)} ${'0'.padStart(4)} ${'0.1'.padStart(10)} ${'0.0'.padStart(9)} \n`;
    const text = fx('iostat-x-I-before.txt') + row;
    expect(parseIostatXI(text).map((r) => [r.device, r.bytesRead])).toEqual([
      ['ada1', 1024000 * 1024],
      ['nda10', 12800],
    ]);
    expect(parseIostatXI('usage: iostat [-CdhIKoTxz?] [-c count] [-M core] [-n devs] [-N system]\n')).toEqual([]);
  });
});
