import { describe, expect, it } from 'vitest';
import { chooseSplit } from '../../harness/engine/cpusplit.js';
import { formatCpuList, parseCpuList } from '../../harness/lib/cpulist.js';
import { parseProcStat } from '../../harness/drivers/os/parsers/linux.js';
import { parseCpTimes } from '../../harness/drivers/os/parsers/freebsd.js';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { makeNoise, makeRun } from '../helpers/records.js';

describe('CPU split: the load and the server on disjoint CPUs of one machine', () => {
  it('reads and writes Linux CPU lists', () => {
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList('1')).toEqual([1]);
    expect(formatCpuList([11, 0, 1, 2, 3, 8, 10])).toBe('0-3,8,10-11');
    expect(() => parseCpuList('0-a')).toThrow(/not a CPU list/);
  });

  it('auto gives the load the lower half and the server the rest; --server-cpus gives the load the others; one CPU has no split', () => {
    expect(chooseSplit([0, 1])).toEqual({ split: { client: [0], server: [1], how: 'auto' } });
    expect(chooseSplit([0, 1, 2, 3, 4])).toEqual({ split: { client: [0, 1], server: [2, 3, 4], how: 'auto' } });
    expect(chooseSplit([0, 1, 2, 3], [0])).toEqual({ split: { client: [1, 2, 3], server: [0], how: 'server-cpus' } });
    expect(chooseSplit([0])).toEqual({ none: 'one CPU (0): the load and the server share it' });
    expect(chooseSplit([0, 1], [0, 1])).toEqual({ none: '--server-cpus 0-1 leaves no CPU for the load' });
    expect(chooseSplit([0, 1], [5])).toMatchObject({
      none: expect.stringMatching(/CPU 5 is not one this process may use/),
    });
  });

  it("machine CPU under a split sums the server's CPUs only (/proc/stat cpuN lines; FreeBSD kern.cp_times rows)", () => {
    const stat = [
      'cpu  300 0 300 400 0 0 0 0 0 0',
      'cpu0 250 0 250 0 0 0 0 0 0 0',
      'cpu1 50 0 50 400 0 0 0 0 0 0',
      'intr 1',
    ].join('\n');
    expect(parseProcStat(stat)).toMatchObject({ busy: 600, total: 1000, cpus: 2 });
    // cpu1 alone: the load on cpu0 (fully busy) is not in it.
    expect(parseProcStat(stat, [1])).toMatchObject({ busy: 100, total: 500, machineBusy: 100, cpus: 1 });
    expect(() => parseProcStat(stat, [7])).toThrow(/no line for CPU 7/);
    // kern.cp_times: user nice sys intr idle per CPU, in CPU id order.
    const cp = '90 0 10 0 0 5 0 5 0 90';
    expect(parseCpTimes(cp, [1])).toMatchObject({ busy: 10, total: 100, cpus: 1 });
    expect(parseCpTimes(cp)).toMatchObject({ busy: 110, total: 200, cpus: 2 });
  });

  it('a reference measured under another split (or none) is not comparable: exit 2 naming both splits', () => {
    const s = { throughput_gbps: [10, 10.1, 9.9, 10, 10.2, 9.8] };
    const ref = makeRun({ a: s }, { runId: 'base' });
    const today = makeRun({ a: s }, { runId: 'today' });
    today.options = { ...today.options, split: { server: [1], client: [0], how: 'auto' } };
    const c = compareRun(today, runAsReference(ref), { alpha: 0.05 });
    expect(c.exitCode).toBe(2);
    expect(c.splitDifference).toMatch(
      /^the reference run base was measured with server and load sharing every CPU, this run with server CPU 1, load CPU 0/,
    );
    expect(c.summary).toMatch(/^not comparable: the reference run base/);
    // The same split on both sides compares as usual.
    ref.options = { ...ref.options, split: { server: [1], client: [0], how: 'auto' } };
    expect(compareRun(today, runAsReference(ref), { alpha: 0.05 }).exitCode).toBe(0);
    // Another split (the user's --server-cpus 0): refused again, also in a paired A/B.
    ref.options = { ...ref.options, split: { server: [0], client: [1], how: 'server-cpus' } };
    expect(compareRun(today, runAsReference(ref), { alpha: 0.05 }).exitCode).toBe(2);
    expect(comparePairedRun(today, ref, { alpha: 0.05 }).exitCode).toBe(2);
    // The same CPUs, but the server a QEMU guest on them: another metric definition, refused and named.
    ref.options = { ...ref.options, split: { server: [1], client: [0], how: 'auto' } };
    today.options = { ...today.options, split: { server: [1], client: [0], how: 'auto', guest: true } };
    const g = compareRun(today, runAsReference(ref), { alpha: 0.05 });
    expect(g.exitCode).toBe(2);
    expect(g.splitDifference).toMatch(/this run with server CPU 1 \(a QEMU guest\), load CPU 0/);
  });

  it('a QEMU guest on this machine is split on the host CPUs; inside it nothing is pinned, whatever --server-cpus said', async () => {
    const { affinityOf, planSplit } = await import('../../harness/engine/cpusplit.js');
    const mine = await affinityOf(process.pid);
    const guest = { onController: false, kind: 'qemu', pinServer: async () => {} };
    const base = makeRun({ a: { x: [1, 2] } }, { runId: 'o' }).options;
    const auto = await planSplit(guest, { ...base, cpuSplit: 'auto' });
    // This machine's own CPUs decide (at least two here, as on CI).
    expect(mine.length).toBeGreaterThan(1);
    const c = chooseSplit(mine);
    expect(auto.options.split).toEqual({ ...('split' in c ? c.split : {}), guest: true });
    expect(auto.options.serverCpus).toBeUndefined();
    // --server-cpus naming no CPU of this machine: no split, and the host's numbers never reach the guest's nginx.
    const bad = await planSplit(guest, { ...base, cpuSplit: 'auto', serverCpus: [999] });
    expect(bad.options.split).toBeUndefined();
    expect(bad.options.serverCpus).toBeUndefined();
    expect(bad.note).toMatch(/no CPU split: --server-cpus 999/);
    // A remote target (no emulator here to pin) is not split at all.
    const remote = await planSplit({ onController: false, kind: 'ssh' }, { ...base, cpuSplit: 'auto' });
    expect(remote.options.split).toBeUndefined();
  });
});

describe('stored noise is used only under the CPU split it was measured with', () => {
  it('a calibration without a split is not used by a run with one, and the comparison says so', () => {
    const s = { throughput_gbps: [10, 10.1, 9.9, 10, 10.2, 9.8] };
    const ref = makeRun({ a: s }, { runId: 'base' });
    const today = makeRun({ a: s }, { runId: 'today' });
    const split = { server: [1], client: [0], how: 'auto' as const };
    ref.options = { ...ref.options, split };
    today.options = { ...today.options, split };
    const noise = makeNoise(
      { 'sendfile/a/throughput_gbps': { cv: 0.01, drift: 0.01, n: 18, residuals: [0.01, -0.01, 0.005, -0.005, 0, 0.002] } },
      'p',
    );
    const old = compareRun(today, runAsReference(ref), { alpha: 0.05, noise });
    expect(old.noise).toBeUndefined();
    expect(old.fingerprintDifferences).toContain(
      'noise calibration of 2026-12-01T00:00:00Z was measured with server and load sharing every CPU, this run with server CPU 1, load CPU 0: not used (re-run headgate calibrate)',
    );
    const same = compareRun(today, runAsReference(ref), {
      alpha: 0.05,
      noise: { ...noise, options: { ...noise.options, split } },
    });
    expect(same.noise?.measuredAt).toBe('2026-12-01T00:00:00Z');
  });
});
