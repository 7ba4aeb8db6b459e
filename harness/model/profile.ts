import type { Fingerprint, NicInfo } from './types.js';

/** Derives the comparability class of a target: OS family, arch, CPU model and count, memory. */
export function deriveProfile(fp: Fingerprint): string {
  const cpu = fp.cpuModel
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, ' ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  const memGiB = Math.round(fp.memoryBytes / 2 ** 30);
  return `${fp.os}-${fp.arch}-${fp.cpuCount}cpu-${memGiB}g-${cpu || 'unknown'}`;
}

/** Fingerprint facts that make two runs incomparable or suspicious, in words. Kernel changes are expected. */
export function fingerprintDifferences(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  const check = (what: string, x: unknown, y: unknown) => {
    if (x !== y) out.push(`${what}: ${String(x)} -> ${String(y)}`);
  };
  check('OS', a.os, b.os);
  check('arch', a.arch, b.arch);
  check('CPU model', a.cpuModel, b.cpuModel);
  check('CPU count', a.cpuCount, b.cpuCount);
  check('memory', a.memoryBytes, b.memoryBytes);
  for (const k of new Set([...Object.keys(a.sysctls), ...Object.keys(b.sysctls)])) check(`sysctl ${k}`, a.sysctls[k], b.sysctls[k]);
  for (const k of new Set([...Object.keys(a.tools), ...Object.keys(b.tools)])) check(`${k} version`, a.tools[k], b.tools[k]);
  // Recorded since issue 14: a side from before then has no value, which is not a difference.
  const both = <T>(x: T | undefined, y: T | undefined) => x !== undefined && y !== undefined;
  if (both(a.numaDomains, b.numaDomains)) check('NUMA domains', a.numaDomains, b.numaDomains);
  if (both(a.cpuFreqGovernor, b.cpuFreqGovernor)) check('CPU frequency governor', a.cpuFreqGovernor, b.cpuFreqGovernor);
  if (both(a.nics, b.nics)) {
    const byName = (l: NicInfo[]) => new Map(l.map((n) => [n.name, n]));
    const na = byName(a.nics!);
    const nb = byName(b.nics!);
    for (const name of new Set([...na.keys(), ...nb.keys()])) {
      const x = na.get(name);
      const y = nb.get(name);
      if (!x || !y) check(`NIC ${name}`, x ? `${x.model} (${x.driver})` : 'absent', y ? `${y.model} (${y.driver})` : 'absent');
      else {
        check(`NIC ${name} model`, x.model, y.model);
        check(`NIC ${name} driver`, x.driver, y.driver);
        check(`NIC ${name} firmware`, x.firmware ?? 'unknown', y.firmware ?? 'unknown');
      }
    }
  }
  return out;
}
