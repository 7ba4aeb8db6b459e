import type { CleanupStack } from '../core/cleanup.js';
import { infraError, inputError } from '../core/errors.js';
import type { Fingerprint } from '../core/types.js';
import type { Target } from '../targets/target.js';
import type { Capability, CpuTimes, OsAdapter } from './adapter.js';
import { parseCpuinfo, parseKeyValueLines, parseMeminfoTotal, parseProcNetSnmp, parseProcPidStat, parseProcStat } from './parsers/linux.js';

/** Sysctls recorded in every Linux fingerprint: they change what the suites measure. */
export const LINUX_FINGERPRINT_SYSCTLS = [
  'net.ipv4.tcp_congestion_control',
  'net.core.default_qdisc',
  'net.ipv4.tcp_wmem',
  'net.ipv4.tcp_rmem',
  'net.core.somaxconn',
  'vm.dirty_ratio',
];

/** /proc/vmstat counters kept as deltas (page cache and reclaim: what sendfile touches). */
const VMSTAT_KEYS = ['pgpgin', 'pgpgout', 'pgmajfault', 'pgfault', 'workingset_refault_file', 'pgscan_direct', 'allocstall_normal', 'allocstall_movable'];
/** /proc/net/snmp counters kept as deltas. */
const SNMP_KEYS = ['Tcp.ActiveOpens', 'Tcp.PassiveOpens', 'Tcp.InSegs', 'Tcp.OutSegs', 'Tcp.RetransSegs', 'Tcp.InErrs', 'Tcp.OutRsts'];

const knobPath = (name: string) => `/proc/sys/${name.replace(/\./g, '/')}`;

/** Linux adapter: reads /proc and /sys, sets knobs by writing /proc/sys through the target. */
export class LinuxAdapter implements OsAdapter {
  readonly family = 'linux' as const;
  constructor(private readonly target: Target) {}

  async fingerprint(): Promise<Fingerprint> {
    const t = this.target;
    const [release, version, arch, hostname, cpuinfo, meminfo] = await Promise.all([
      t.readFile('/proc/sys/kernel/osrelease'),
      t.readFile('/proc/sys/kernel/version'),
      t.exec(['uname', '-m']).then((r) => r.stdout),
      t.readFile('/proc/sys/kernel/hostname'),
      t.readFile('/proc/cpuinfo'),
      t.readFile('/proc/meminfo'),
    ]);
    const cpu = parseCpuinfo(cpuinfo);
    const sysctls: Record<string, string> = {};
    for (const name of LINUX_FINGERPRINT_SYSCTLS) {
      const v = await t.readFileIfExists(knobPath(name));
      if (v !== null) sysctls[name] = v.trim().replace(/\s+/g, ' ');
    }
    const tools: Record<string, string> = {};
    const nginx = await t.exec(['nginx', '-v'], { allowFail: true }).catch(() => null);
    const m = nginx && /nginx\/(\S+)/.exec(nginx.stderr + nginx.stdout);
    if (m) tools.nginx = m[1];
    return {
      os: 'linux',
      hostname: hostname.trim(),
      kernelRelease: release.trim(),
      kernelVersion: version.trim(),
      arch: arch.trim(),
      cpuModel: cpu.model,
      cpuCount: cpu.count,
      memoryBytes: parseMeminfoTotal(meminfo),
      sysctls,
      tools,
    };
  }

  async cpuTimes(): Promise<CpuTimes> {
    return parseProcStat(await this.target.readFile('/proc/stat'));
  }

  async processCpuSeconds(pids: number[]): Promise<number> {
    let ticks = 0;
    for (const pid of pids) {
      const s = await this.target.readFileIfExists(`/proc/${pid}/stat`);
      if (s) ticks += parseProcPidStat(s);
    }
    return ticks / 100; // USER_HZ is 100 on every Linux architecture's /proc interface
  }

  async childPids(pid: number): Promise<number[]> {
    const text = await this.target.readFileIfExists(`/proc/${pid}/task/${pid}/children`);
    return text ? text.trim().split(/\s+/).filter(Boolean).map(Number) : [];
  }

  async counters(): Promise<Record<string, number>> {
    const [vm, snmp] = await Promise.all([this.target.readFile('/proc/vmstat'), this.target.readFile('/proc/net/snmp')]);
    const v = parseKeyValueLines(vm);
    const s = parseProcNetSnmp(snmp);
    const out: Record<string, number> = {};
    for (const k of VMSTAT_KEYS) if (k in v) out[`vmstat.${k}`] = v[k];
    for (const k of SNMP_KEYS) if (k in s) out[`snmp.${k}`] = s[k];
    return out;
  }

  async getKnob(name: string): Promise<string> {
    const v = await this.target.readFileIfExists(knobPath(name));
    if (v === null) throw inputError(`knob ${name}: no such sysctl on this Linux target (${knobPath(name)} absent)`);
    return v.trim();
  }

  async setKnob(name: string, value: string, stack: CleanupStack): Promise<void> {
    const old = await this.getKnob(name);
    if (old.replace(/\s+/g, ' ') === value.replace(/\s+/g, ' ')) return;
    await this.write(name, value);
    stack.push(`sysctl ${name}=${old}`, () => this.write(name, old));
  }

  private async write(name: string, value: string): Promise<void> {
    const r = await this.target.exec(['sysctl', '-q', '-w', `${name}=${value}`], { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl -w ${name}=${value} failed: ${r.stderr.trim()}`);
  }

  async primePageCache(files: string[]): Promise<string | null> {
    if (files.length === 0) return null;
    // GNU dd's iflag=nocache with count=0 is posix_fadvise(POSIX_FADV_DONTNEED) on the whole file.
    const script = 'for f; do dd if="$f" iflag=nocache count=0 status=none || exit 1; cat "$f" > /dev/null || exit 1; done';
    const r = await this.target.exec(['sh', '-c', script, 'sh', ...files], { allowFail: true, timeoutMs: 600_000 });
    return r.code === 0 ? null : `page cache not primed (dd iflag=nocache failed: ${r.stderr.trim().split('\n')[0]})`;
  }

  async capability(name: string): Promise<Capability> {
    switch (name) {
      case 'sendfile':
        return { ok: true };
      case 'aio-threads':
        // nginx's thread-pool offload of blocking sendfile; whether nginx was built with threads is checked by nginx -t.
        return { ok: true };
      default:
        return { ok: false, reason: `capability "${name}" is not known to the Linux adapter` };
    }
  }
}
