import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countNumaNodes, parseEthtoolInfo, parseNicListing, parseProcStat } from '../../harness/drivers/os/parsers/linux.js';
import { parseOpensslVersion } from '../../harness/drivers/os/parsers/common.js';
import { diff, type Snapshot } from '../../harness/probes/snapshot.js';
import { offeredGbps, openRateFor, parseFixedThroughput } from '../../harness/probes/open.js';
import { checkOptions } from '../../harness/engine/runner.js';
import { fingerprintDifferences } from '../../harness/model/profile.js';
import { resolveGateOptions, runOptionsOf } from '../../harness/model/options.js';
import { validateDoc } from '../../harness/model/validate.js';
import { efficiencyNoise, noiseLine } from '../../harness/reporters/format.js';
import { renderMarkdown } from '../../harness/reporters/markdown.js';
import type { Fingerprint } from '../../harness/model/types.js';
import { makeRun } from '../helpers/records.js';

const fx = (f: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'linux', f), 'utf8');

describe('whole-machine CPU from /proc/stat', () => {
  it('counts user + nice + system + irq + softirq on every CPU; idle, iowait and steal are not busy', () => {
    const t = parseProcStat(fx('proc-stat-steal.txt'));
    expect(t.machineBusy).toBe(1000 + 50 + 400 + 20 + 130);
    // The older busy figure (target_cpu_pct) keeps steal, so old baselines still compare.
    expect(t.busy).toBe(t.machineBusy + 600);
    expect(t.total).toBe(1000 + 50 + 400 + 8000 + 300 + 20 + 130 + 600);
    expect(t.cpus).toBe(2);
    expect(parseProcStat(fx('proc-stat.txt')).cpus).toBe(2);
    expect(() => parseProcStat('cpu  1 2 x 4\n')).toThrow(/\/proc\/stat/);
  });

  it('snapshot deltas turn ticks into a share of every CPU and into cores', () => {
    const snap = (at: bigint, machineBusy: number, busy: number, total: number): Snapshot => ({ at, cpu: { busy, total, machineBusy, cpus: 4 }, serverCpuSec: null, counters: {} });
    const d = diff(snap(0n, 100, 110, 1000), snap(1_000_000_000n, 500, 530, 2000), 16);
    expect(d.machineBusy).toBeCloseTo(0.4);
    // The CPUs the OS counted win over the fingerprint's count.
    expect(d.machineBusyCores).toBeCloseTo(1.6);
    expect(d.targetBusy).toBeCloseTo(0.42);
    // An adapter without machineBusy (old fakes) falls back to busy.
    const old = diff({ at: 0n, cpu: { busy: 0, total: 0 }, serverCpuSec: null, counters: {} }, { at: 1n, cpu: { busy: 50, total: 100 }, serverCpuSec: null, counters: {} }, 2);
    expect([old.machineBusy, old.machineBusyCores]).toEqual([0.5, 1]);
  });
});

describe('fixed-throughput mode', () => {
  it('parses Gb/s or a share of the warm-up capacity, naming the flag on bad input', () => {
    expect(parseFixedThroughput('2.5')).toEqual({ gbps: 2.5 });
    expect(parseFixedThroughput(40)).toEqual({ gbps: 40 });
    expect(parseFixedThroughput('60%')).toEqual({ capacityShare: 0.6 });
    for (const bad of ['0', '0%', '150%', 'fast', '-1', '2.5 Gb/s']) expect(() => parseFixedThroughput(bad)).toThrow(/^--fixed-throughput /);
  });

  it('offers every variant the same load: the share of the lowest warm-up throughput', () => {
    expect(offeredGbps({ gbps: 3 }, [])).toBe(3);
    expect(offeredGbps({ capacityShare: 0.5 }, [4, 2, 3])).toBe(1);
    expect(offeredGbps({ capacityShare: 0.5 }, [NaN, 0])).toBeNull();
  });

  it('the open-model rate carries the offered Gb/s over the objects it cycles through', () => {
    // 1 Gb/s = 125 MB/s; objects of 1 MB and 3 MB average 2 MB: 62.5 requests per second.
    expect(openRateFor(1, [1e6, 3e6])).toBeCloseTo(62.5);
    // Empty objects count: they are requested too and carry nothing.
    expect(openRateFor(1, [0, 2e6])).toBeCloseTo(125);
    expect(() => openRateFor(1, [0])).toThrow(/no non-empty object/);
  });

  it('is one option (flag, env, config) recorded as text in run.json; it excludes --rate and needs a warm-up for a share', () => {
    expect(runOptionsOf(resolveGateOptions({ env: { HEADGATE_FIXED_THROUGHPUT: '60%' } })).fixedThroughput).toBe('60%');
    expect(runOptionsOf(resolveGateOptions({ config: { file: 'c.yaml', values: { fixedThroughput: 2.5 } } })).fixedThroughput).toBe('2.5');
    expect(() => resolveGateOptions({ flags: { fixedThroughput: 'fast' } })).toThrow(/--fixed-throughput fast/);
    const o = runOptionsOf(resolveGateOptions({ flags: { fixedThroughput: '60%' } }));
    expect(() => checkOptions(o)).not.toThrow();
    expect(() => checkOptions({ ...o, rate: 100 })).toThrow(/--fixed-throughput 60% with --rate 100/);
    expect(() => checkOptions({ ...o, warmupSec: 0 })).toThrow(/--warmup is 0/);
    expect(() => checkOptions({ ...o, fixedThroughput: '150%' })).toThrow(/at most 100%/);
  });
});

describe('fingerprint additions', () => {
  it('Linux NICs: sysfs driver and PCI ids, firmware from ethtool -i', () => {
    const listing = [
      '== eth0 virtio_net 0x1af4 0x0001',
      '== enp65s0f0 mlx5_core 0x15b3 0x101d',
      'driver: mlx5_core',
      'version: 6.1.0-18-amd64',
      'firmware-version: 22.36.1010 (MT_0000000359)',
      'bus-info: 0000:41:00.0',
      '',
    ].join('\n');
    expect(parseNicListing(listing)).toEqual([
      { name: 'eth0', driver: 'virtio_net', model: '0x1af4:0x0001' },
      { name: 'enp65s0f0', driver: 'mlx5_core', model: '0x15b3:0x101d', firmware: '22.36.1010 (MT_0000000359)' },
    ]);
    expect(parseEthtoolInfo('driver: virtio_net\nfirmware-version: \nbus-info: 0000:00:03.0\n')).toEqual({ driver: 'virtio_net', firmware: undefined, busInfo: '0000:00:03.0' });
    expect(countNumaNodes(['has_cpu', 'node0', 'node1', 'online', 'possible'])).toBe(2);
    expect(parseOpensslVersion('OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)')).toBe('OpenSSL 3.0.19');
    expect(parseOpensslVersion('OpenSSL 3.0.13 30 Jan 2024')).toBe('OpenSSL 3.0.13');
  });

  const fp = (extra: Partial<Fingerprint> = {}): Fingerprint => ({
    os: 'linux', hostname: 'h', kernelRelease: '6.1', kernelVersion: '#1', arch: 'x86_64', cpuModel: 'Xeon', cpuCount: 16, memoryBytes: 1, sysctls: {}, tools: {}, ...extra,
  });

  it('the comparability check names what differs, and a record from before these facts is not a difference', () => {
    const a = fp({ numaDomains: 1, cpuFreqGovernor: 'performance', nics: [{ name: 'ix0', driver: 'ix', model: 'Intel X520', firmware: '1.0' }], tools: { openssl: 'OpenSSL 3.0.13' } });
    const b = fp({ numaDomains: 2, cpuFreqGovernor: 'powersave', nics: [{ name: 'ix0', driver: 'ix', model: 'Intel X520', firmware: '1.1' }, { name: 'mce0', driver: 'mlx5en', model: 'ConnectX-6' }], tools: { openssl: 'OpenSSL 3.0.15' } });
    expect(fingerprintDifferences(a, b)).toEqual([
      'openssl version: OpenSSL 3.0.13 -> OpenSSL 3.0.15',
      'NUMA domains: 1 -> 2',
      'CPU frequency governor: performance -> powersave',
      'NIC ix0 firmware: 1.0 -> 1.1',
      'NIC mce0: absent -> ConnectX-6 (mlx5en)',
    ]);
    expect(fingerprintDifferences(fp(), b)).toEqual(['openssl version: undefined -> OpenSSL 3.0.15']);
  });

  it('run.json with and without the new facts validates (old records still load)', () => {
    const run = makeRun({ a: { throughput_gbps: [1, 2] } });
    expect(() => validateDoc('run', JSON.parse(JSON.stringify(run)), 'run.json')).not.toThrow();
    const withFacts = { ...run, fingerprint: { ...run.fingerprint, numaDomains: 2, cpuFreqGovernor: 'powerd', nics: [{ name: 'ix0', driver: 'ix', model: 'Intel X520' }] }, suites: run.suites.map((s) => ({ ...s, offeredGbps: 1.5 })) };
    expect(() => validateDoc('run', JSON.parse(JSON.stringify(withFacts)), 'run.json')).not.toThrow();
    const bad = { ...withFacts, fingerprint: { ...withFacts.fingerprint, nics: [{ name: 'ix0' }] } };
    expect(() => validateDoc('run', JSON.parse(JSON.stringify(bad)), 'run.json')).toThrow(/nics/);
  });
});

describe('noise of the efficiency metrics next to throughput', () => {
  it('median and robust CV per variant, in the summary', () => {
    const run = makeRun({ a: { throughput_gbps: [10, 10, 10, 12], machine_cpu_per_gbps: [0.2, 0.2, 0.22, 0.2], gbps_per_core: [8, 9, 10, 11] } });
    for (const s of run.suites)
      s.metrics = [
        ...s.metrics,
        { id: 'machine_cpu_per_gbps', title: 'm', unit: 'cores per Gb/s', direction: 'lower', noiseFloor: 0.08, gating: true },
        { id: 'gbps_per_core', title: 'g', unit: 'Gb/s/core', direction: 'higher', noiseFloor: 0.08, gating: false },
      ];
    const rows = efficiencyNoise(run);
    const s = run.suites[0].id;
    expect(rows.map((r) => [r.metric, r.median, Number(r.cv.toFixed(4)), r.n])).toEqual([
      ['throughput_gbps', 10, 0, 4],
      ['machine_cpu_per_gbps', 0.2, 0, 4],
      ['gbps_per_core', 9.5, Number(((1.4826 * 1) / 9.5).toFixed(4)), 4],
    ]);
    expect(noiseLine(rows, s, 'a')).toContain('machine_cpu_per_gbps 0.200 cores per Gb/s (CV 0.0%)');
    expect(renderMarkdown(run)).toContain('## Efficiency and its noise');
  });
});
