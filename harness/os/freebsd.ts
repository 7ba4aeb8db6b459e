import type { CleanupStack } from '../core/cleanup.js';
import { infraError } from '../core/errors.js';
import type { Fingerprint } from '../core/types.js';
import type { Target } from '../targets/target.js';
import type { Capability, CpuTimes, OsAdapter } from './adapter.js';
import { parseCpTime, parseNetstatM, parseNetstatMJson, parsePsTime, parseSysctlLines } from './parsers/freebsd.js';

/** Sysctls recorded in every FreeBSD fingerprint. */
export const FREEBSD_FINGERPRINT_SYSCTLS = [
  'kern.ipc.mb_use_ext_pgs',
  'kern.ipc.tls.enable',
  'net.inet.tcp.functions_default',
  'net.inet.tcp.cc.algorithm',
  'kern.ipc.maxsockbuf',
];

/**
 * FreeBSD adapter: issues sysctl, netstat, ps and uname through the target and parses their
 * documented formats. Fixture-tested only: no FreeBSD host was available to verify it.
 */
export class FreeBSDAdapter implements OsAdapter {
  readonly family = 'freebsd' as const;
  constructor(private readonly target: Target) {}

  private async sysctls(names: string[]): Promise<Record<string, string>> {
    // Unknown names make sysctl exit non-zero but it still prints the known ones.
    const r = await this.target.exec(['sysctl', ...names], { allowFail: true });
    return parseSysctlLines(r.stdout);
  }

  async fingerprint(): Promise<Fingerprint> {
    const t = this.target;
    const hw = await this.sysctls(['kern.osrelease', 'kern.version', 'hw.machine_arch', 'hw.model', 'hw.ncpu', 'hw.physmem', 'kern.hostname']);
    const sysctls = await this.sysctls(FREEBSD_FINGERPRINT_SYSCTLS);
    const tools: Record<string, string> = {};
    const nginx = await t.exec(['nginx', '-v'], { allowFail: true }).catch(() => null);
    const m = nginx && /nginx\/(\S+)/.exec(nginx.stderr + nginx.stdout);
    if (m) tools.nginx = m[1];
    return {
      os: 'freebsd',
      hostname: hw['kern.hostname'] ?? 'unknown',
      kernelRelease: hw['kern.osrelease'] ?? 'unknown',
      kernelVersion: (hw['kern.version'] ?? '').trim(),
      arch: hw['hw.machine_arch'] ?? 'unknown',
      cpuModel: hw['hw.model'] ?? 'unknown',
      cpuCount: Number(hw['hw.ncpu'] ?? 0),
      memoryBytes: Number(hw['hw.physmem'] ?? 0),
      sysctls,
      tools,
    };
  }

  async cpuTimes(): Promise<CpuTimes> {
    const r = await this.target.exec(['sysctl', '-n', 'kern.cp_time']);
    return parseCpTime(r.stdout);
  }

  async processCpuSeconds(pids: number[]): Promise<number> {
    if (pids.length === 0) return 0;
    const r = await this.target.exec(['ps', '-o', 'time=', '-p', pids.join(',')], { allowFail: true });
    return r.stdout.split('\n').filter((l) => l.trim()).reduce((a, l) => a + parsePsTime(l), 0);
  }

  async childPids(pid: number): Promise<number[]> {
    const r = await this.target.exec(['pgrep', '-P', String(pid)], { allowFail: true });
    return r.stdout.split('\n').filter((l) => l.trim()).map(Number);
  }

  async counters(): Promise<Record<string, number>> {
    // Prefer libxo JSON; older netstat builds without --libxo fall back to the text format.
    const j = await this.target.exec(['netstat', '-m', '--libxo', 'json'], { allowFail: true });
    let sf: Record<string, number>;
    if (j.code === 0 && j.stdout.trim().startsWith('{')) sf = parseNetstatMJson(j.stdout);
    else sf = parseNetstatM((await this.target.exec(['netstat', '-m'])).stdout);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(sf)) out[`netstat-m.${k}`] = v;
    return out;
  }

  async getKnob(name: string): Promise<string> {
    const r = await this.target.exec(['sysctl', '-n', name], { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl ${name}: ${r.stderr.trim() || 'unknown oid'}`);
    return r.stdout.trim();
  }

  async setKnob(name: string, value: string, stack: CleanupStack): Promise<void> {
    const old = await this.getKnob(name);
    if (old === value) return;
    await this.write(name, value);
    stack.push(`sysctl ${name}=${old}`, () => this.write(name, old));
  }

  private async write(name: string, value: string): Promise<void> {
    const r = await this.target.exec(['sysctl', `${name}=${value}`], { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl ${name}=${value} failed: ${r.stderr.trim()}`);
  }

  async primePageCache(files: string[]): Promise<string | null> {
    // FreeBSD has no per-file eviction from the shell; cold-cache runs remount the test filesystem (suites issue).
    return files.length ? 'page cache not primed: per-file eviction is not available on FreeBSD; pages are in whatever state the cache holds' : null;
  }

  async capability(name: string): Promise<Capability> {
    switch (name) {
      case 'sendfile':
        return { ok: true };
      case 'aio-threads':
        return { ok: false, reason: 'not applicable on FreeBSD: sendfile is asynchronous in the kernel (SF_NODISKIO, since 11.0)' };
      default:
        return { ok: false, reason: `capability "${name}" is not known to the FreeBSD adapter` };
    }
  }
}
