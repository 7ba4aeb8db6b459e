import { existsSync } from 'node:fs';
import { CHROMIUM_PATH } from '../probes/browser.js';
import type { Capability, OsAdapter } from '../drivers/os/adapter.js';
import type { Target } from '../drivers/targets/target.js';
import type { OsFamily, Proof, SuiteManifest, VariantDef } from '../model/types.js';

/** Capabilities of the machine running the harness (the client side), not of the target. */
const HARNESS_CAPABILITIES: Record<string, () => Capability> = {
  browser: () => (existsSync(CHROMIUM_PATH) ? { ok: true } : { ok: false, reason: `browser client: ${CHROMIUM_PATH} not found on the harness machine (apt-get install chromium)` }),
};

/** Whether a suite applies to an OS family at all, with the manifest's reason when it does not. */
export function suiteApplies(m: SuiteManifest, os: OsFamily): Capability {
  if (m.os.includes(os)) return { ok: true };
  return { ok: false, reason: `not applicable on ${os}: ${m.notApplicable?.[os] ?? `suite supports ${m.os.join(', ')}`}` };
}

/**
 * Whether one variant can run on the target: its OS family, then every capability it requires,
 * probed by the adapter. The first missing one is the exact reason for the skip.
 */
export async function variantApplies(
  m: SuiteManifest,
  v: VariantDef,
  os: Pick<OsAdapter, 'family' | 'capability'>,
  target?: Pick<Target, 'workDir' | 'lab' | 'kind'>,
): Promise<Capability> {
  const s = suiteApplies(m, os.family);
  if (!s.ok) return s;
  if (v.os && !v.os.includes(os.family)) return { ok: false, reason: `variant for ${v.os.join(', ')} only (target runs ${os.family})` };
  for (const cap of v.requires ?? []) {
    // A namespace path is built on the harness host: a remote target is only on it when it is a netns lab.
    if (cap === 'netns' && target && target.workDir !== null && !target.lab) {
      return { ok: false, reason: `needs a network path the harness builds (a local or netns target); ${target.kind} targets have none` };
    }
    const c = HARNESS_CAPABILITIES[cap]?.() ?? (await os.capability(cap));
    if (!c.ok) return { ok: false, reason: c.reason ?? `target lacks ${cap}` };
  }
  return { ok: true };
}

/** The expected counter movements a repetition missed: the feature the variant asks for did not engage. */
export function proofFailures(expect: Proof[] | undefined, counters: Record<string, number>): string[] {
  const out: string[] = [];
  for (const p of expect ?? []) {
    const got = counters[p.counter];
    if (got === undefined) out.push(`${p.means}: counter ${p.counter} was not readable`);
    else if (got < p.atLeast) out.push(`${p.means}: ${p.counter} moved by ${got}, expected at least ${p.atLeast}`);
  }
  return out;
}
