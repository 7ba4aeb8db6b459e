import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPin, hardwareChanges, MEMORY_TOLERANCE, pinMachine, pinsFile } from '../../harness/store/pins.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

// H4: the machine is who the target is. A pin records the hardware a machine had when its
// baseline was promoted; the kernel under test cannot talk its way into a fresh profile.

const fp = makeRun({ on: { throughput_gbps: [1, 2] } }).fingerprint;

describe('machine pins', () => {
  it('a machine is found by its hardware id when both sides have one, else by machine id', async () => {
    const dir = tempDir('hg-pins-');
    await pinMachine(dir, { machineId: 'm1', hardwareId: 'h1', name: 'lab-01' }, 'linux-x86_64-2cpu-24g-epyc', fp, { reason: 'first', sourceRun: 'r1' });
    expect((await findPin(dir, { machineId: 'other', hardwareId: 'h1', name: 'x' }))?.profile).toBe('linux-x86_64-2cpu-24g-epyc');
    expect(await findPin(dir, { machineId: 'm1', hardwareId: 'h2', name: 'x' })).toBeNull();
    expect((await findPin(dir, { machineId: 'm1', name: 'x' }))?.name).toBe('lab-01');
    expect(await findPin(dir, { machineId: '', name: 'x' })).toBeNull();
  });

  it('names each field the kernel now reports differently; memory within the tolerance is the same machine', () => {
    const pin = { machineId: 'm', name: 'n', profile: 'p', cpuCount: fp.cpuCount, cpuModel: fp.cpuModel, memoryBytes: fp.memoryBytes, pinnedAt: '', reason: '', sourceRun: '' };
    expect(hardwareChanges(pin, fp)).toEqual([]);
    expect(hardwareChanges(pin, { ...fp, cpuCount: fp.cpuCount - 1 })).toEqual([`online CPU count: baseline ${fp.cpuCount}, today ${fp.cpuCount - 1}`]);
    expect(hardwareChanges(pin, { ...fp, memoryBytes: fp.memoryBytes * (1 - MEMORY_TOLERANCE / 2) })).toEqual([]);
    expect(hardwareChanges(pin, { ...fp, memoryBytes: fp.memoryBytes * (1 - MEMORY_TOLERANCE * 2) })[0]).toMatch(/^memory: baseline .* GiB, today .* GiB \(4\.0% apart; tolerance 2%\)$/);
    expect(hardwareChanges(pin, { ...fp, cpuModel: 'Other CPU' })[0]).toMatch(/^CPU model: baseline ".*", today "Other CPU"$/);
  });

  it('re-pinning says what changed and keeps one pin per machine', async () => {
    const dir = tempDir('hg-pins-');
    const key = { machineId: 'm1', name: 'lab-01' };
    await pinMachine(dir, key, 'p2', fp, { reason: 'first', sourceRun: 'r1' });
    const r = await pinMachine(dir, key, 'p1', { ...fp, cpuCount: 1 }, { reason: 'a CPU died', sourceRun: 'r2' });
    expect(r.changes).toEqual([`online CPU count: baseline ${fp.cpuCount}, today 1`, 'profile: p2 -> p1']);
    const doc = JSON.parse(readFileSync(pinsFile(dir), 'utf8'));
    expect(doc.pins).toHaveLength(1);
    expect(doc.pins[0]).toMatchObject({ profile: 'p1', cpuCount: 1, reason: 'a CPU died', sourceRun: 'r2' });
    expect(path.basename(pinsFile(dir))).toBe('machines.json');
  });
});
