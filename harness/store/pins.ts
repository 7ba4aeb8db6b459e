import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeJsonAtomic } from '../lib/atomic.js';
import { inputError } from '../model/errors.js';
import type { Fingerprint } from '../model/types.js';

/**
 * Machine pins: which profile (and so which baselines) a machine is compared with, recorded with
 * the hardware it had when its first baseline was promoted. The profile of a pinned machine comes
 * from its pin, not from what the kernel under test reports, so a kernel that brings up fewer
 * CPUs or reserves more memory lands on the same baselines and is judged, instead of landing in
 * a fresh profile with no baseline and passing (the audit's H4).
 */

/** What identifies a machine whatever its kernel says: its machine id, and its DMI/SMBIOS system UUID where readable. */
export interface MachineKey {
  machineId: string;
  hardwareId?: string;
  /** The inventory or target name, for messages. */
  name: string;
}

/** One pinned machine. */
export interface Pin {
  machineId: string;
  hardwareId?: string;
  name: string;
  profile: string;
  cpuCount: number;
  cpuModel: string;
  memoryBytes: number;
  pinnedAt: string;
  reason: string;
  sourceRun: string;
}

/** The file all pins of a baselines directory live in (one small JSON document, written atomically). */
export const pinsFile = (baselinesDir: string) => path.join(baselinesDir, 'machines.json');

/** Memory may differ by this fraction from the pin before the gate fails: firmware and kernel reservations move MemTotal by a few MiB, a lost DIMM or a new crashkernel reservation by far more. */
export const MEMORY_TOLERANCE = 0.02;

async function readPins(dir: string): Promise<Pin[]> {
  const f = pinsFile(dir);
  if (!existsSync(f)) return [];
  try {
    const doc = JSON.parse(await readFile(f, 'utf8')) as { schemaVersion: 1; pins: Pin[] };
    if (!Array.isArray(doc.pins)) throw new Error('no "pins" list');
    return doc.pins;
  } catch (e) {
    throw inputError(`${f}: not a headgate machine-pin file: ${(e as Error).message}`);
  }
}

/** The pin of a machine: matched by hardware id when both have one, else by machine id; null when unpinned. */
export async function findPin(dir: string, key: MachineKey): Promise<Pin | null> {
  if (!key.machineId && !key.hardwareId) return null;
  const pins = await readPins(dir);
  return pins.find((p) => (key.hardwareId && p.hardwareId ? p.hardwareId === key.hardwareId : key.machineId !== '' && p.machineId === key.machineId)) ?? null;
}

/** Fields where today's kernel reports other hardware than the pin: CPU count, CPU model, memory beyond MEMORY_TOLERANCE. */
export function hardwareChanges(pin: Pin, fp: Pick<Fingerprint, 'cpuCount' | 'cpuModel' | 'memoryBytes'>): string[] {
  const out: string[] = [];
  if (pin.cpuCount !== fp.cpuCount) out.push(`online CPU count: baseline ${pin.cpuCount}, today ${fp.cpuCount}`);
  if (pin.cpuModel !== fp.cpuModel) out.push(`CPU model: baseline ${JSON.stringify(pin.cpuModel)}, today ${JSON.stringify(fp.cpuModel)}`);
  const rel = Math.abs(fp.memoryBytes - pin.memoryBytes) / Math.max(1, pin.memoryBytes);
  if (rel > MEMORY_TOLERANCE) out.push(`memory: baseline ${(pin.memoryBytes / 2 ** 30).toFixed(2)} GiB, today ${(fp.memoryBytes / 2 ** 30).toFixed(2)} GiB (${(rel * 100).toFixed(1)}% apart; tolerance ${MEMORY_TOLERANCE * 100}%)`);
  return out;
}

/** Pins (or re-pins) a machine to a profile with the hardware of the run being promoted; returns what changed from an earlier pin. */
export async function pinMachine(dir: string, key: MachineKey, profile: string, fp: Fingerprint, o: { reason: string; sourceRun: string }): Promise<{ previous: Pin | null; changes: string[] }> {
  const pins = await readPins(dir);
  const previous = (await findPin(dir, key)) ?? null;
  const pin: Pin = {
    machineId: key.machineId,
    ...(key.hardwareId ? { hardwareId: key.hardwareId } : {}),
    name: key.name,
    profile,
    cpuCount: fp.cpuCount,
    cpuModel: fp.cpuModel,
    memoryBytes: fp.memoryBytes,
    pinnedAt: new Date().toISOString(),
    reason: o.reason,
    sourceRun: o.sourceRun,
  };
  const rest = pins.filter((p) => p !== pins.find((x) => previous && x.machineId === previous.machineId && x.hardwareId === previous.hardwareId));
  await writeJsonAtomic(pinsFile(dir), { schemaVersion: 1, pins: [...rest, pin] });
  return { previous, changes: previous ? [...hardwareChanges(previous, fp), ...(previous.profile !== profile ? [`profile: ${previous.profile} -> ${profile}`] : [])] : [] };
}
