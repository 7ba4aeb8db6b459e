import type { CleanupStack } from '../../lib/cleanup.js';
import { journaled } from '../../lib/journal.js';
import { checkSysfsKnobPath, linuxSysctlPath } from '../../lib/confine.js';
import { infraError, inputError } from '../../model/errors.js';
import type { CounterGroup, Fingerprint } from '../../model/types.js';
import type { Target } from '../targets/target.js';
import type { Capability, ColdCache, CpuTimes, OsAdapter } from './adapter.js';
import { checkBlockDeviceUnused, targetBlockFs } from './blockdev.js';
import { BLKID_SCRIPT, EXCL_OPEN_SCRIPT, parseBlkidExport, signatureRefusal } from './device-claims.js';
import { enableTcpTrace, tcpTraceCounters } from './tracefs.js';
import { parseCpuinfo, parseDiskstats, parseKeyValueLines, parseMeminfoTotal, parseProcNetSnmp, parseProcPidStat, parseProcStat, parseTlsStat, sysfsChoice } from './parsers/linux.js';
import { countNumaNodes, LINUX_NIC_SCRIPT, parseNicListing } from './parsers/linux.js';
import { opensslVersions } from './fingerprint.js';
import { checkKnobTook } from './knobs.js';

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
const VMSTAT_KEYS = ['pgpgin', 'pgpgout', 'pgmajfault', 'pgfault', 'workingset_refault_file', 'pgscan_direct', 'pgscan_kswapd', 'pgsteal_direct', 'allocstall_normal', 'allocstall_movable'];
/** /proc/net/snmp counters kept as deltas. */
const SNMP_KEYS = ['Tcp.ActiveOpens', 'Tcp.PassiveOpens', 'Tcp.InSegs', 'Tcp.OutSegs', 'Tcp.RetransSegs', 'Tcp.InErrs', 'Tcp.OutRsts'];

/** The /proc/sys file of a sysctl name (checked: it stays under /proc/sys). */
const knobPath = (name: string) => linuxSysctlPath('knob', name);

/** Kernel TLS statistics; absent when the kernel was built without CONFIG_TLS or the module is not loaded. */
export const TLS_STAT = '/proc/net/tls_stat';

/** Shell loop that evicts files from the page cache: GNU dd iflag=nocache count=0 is posix_fadvise(DONTNEED). */
const EVICT_ONCE = 'for f; do dd if="$f" iflag=nocache count=0 status=none || exit 1; done';

/**
 * The evictor of a cold-cache repetition: one python3 process holding every file open and calling
 * posix_fadvise(DONTNEED) on each every 50 ms until its deadline. The shell loop forked a dd per
 * file and a date every 50 ms (hundreds of processes a second), and on a shared machine that CPU
 * came out of the load client's. argv: deadline (s since the epoch), files.
 */
export const EVICT_LOOP_PY = [
  'import os, sys, time',
  'end = float(sys.argv[1])',
  'fds = [os.open(f, os.O_RDONLY) for f in sys.argv[2:]]',
  'while time.time() < end:',
  '    for fd in fds:',
  '        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)',
  '    time.sleep(0.05)',
].join('\n');

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
    Object.assign(tools, await opensslVersions(t));
    const nodes = await t.exec(['ls', '/sys/devices/system/node'], { allowFail: true }).catch(() => null);
    const numa = nodes && nodes.code === 0 ? countNumaNodes(nodes.stdout.split(/\s+/)) : 0;
    const nics = await t.exec(['sh', '-c', LINUX_NIC_SCRIPT], { allowFail: true }).catch(() => null);
    const governor = await t.readFileIfExists('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor');
    return {
      // A kernel without CONFIG_NUMA has no node directory: one domain.
      numaDomains: numa || 1,
      nics: nics && nics.code === 0 ? parseNicListing(nics.stdout) : [],
      cpuFreqGovernor: governor?.trim() || 'none (no cpufreq driver)',
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

  async cpuTimes(serverCpus?: readonly number[]): Promise<CpuTimes & { server?: CpuTimes }> {
    const text = await this.target.readFile('/proc/stat');
    return { ...parseProcStat(text), ...(serverCpus ? { server: parseProcStat(text, serverCpus) } : {}) };
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

  async counters(groups: CounterGroup[] = ['vm', 'tcp']): Promise<Record<string, number>> {
    const t = this.target;
    const out: Record<string, number> = {};
    if (groups.includes('vm')) {
      const v = parseKeyValueLines(await t.readFile('/proc/vmstat'));
      for (const k of VMSTAT_KEYS) if (k in v) out[`vmstat.${k}`] = v[k];
    }
    if (groups.includes('tcp')) {
      const s = parseProcNetSnmp(await t.readFile('/proc/net/snmp'));
      for (const k of SNMP_KEYS) if (k in s) out[`snmp.${k}`] = s[k];
    }
    if (groups.includes('ktls')) {
      const tls = await t.readFileIfExists(TLS_STAT);
      for (const [k, v] of Object.entries(tls ? parseTlsStat(tls) : {})) out[`tls.${k}`] = v;
    }
    // The tcp trace instance of the current repetition (none: logging is off, no counters).
    if (groups.includes('tcplog') && this.traceInstance) Object.assign(out, await tcpTraceCounters(t, this.traceInstance));
    if (groups.includes('block')) {
      for (const [dev, d] of Object.entries(parseDiskstats(await t.readFile('/proc/diskstats')))) {
        if (d.reads + d.writes === 0 || /^(ram|zram)/.test(dev)) continue;
        out[`disk.${dev}.reads`] = d.reads;
        out[`disk.${dev}.sectors_read`] = d.sectorsRead;
        out[`disk.${dev}.read_ms`] = d.readMs;
        out[`disk.${dev}.writes`] = d.writes;
        out[`disk.${dev}.sectors_written`] = d.sectorsWritten;
        out[`disk.${dev}.io_ms`] = d.ioMs;
      }
    }
    return out;
  }

  /**
   * The file behind a knob: a sysctl name maps under /proc/sys (checked by its spelling); a path
   * must be spelled under /sys and its real path on the target (symlinks resolved) must stay
   * there. Anything else is exit 2 before anything is read or written.
   */
  private async knobFile(name: string): Promise<string> {
    if (!name.startsWith('/')) return knobPath(name);
    checkSysfsKnobPath('knob', name);
    const r = await this.target.exec(['readlink', '-f', '--', name], { allowFail: true });
    const real = r.stdout.trim();
    if (r.code !== 0 || !real) throw inputError(`knob ${name}: no such sysfs file on this Linux target`);
    if (!/^\/sys\/[^\n]+$/.test(real) || real.split('/').includes('..')) throw inputError(`knob ${name}: resolves to ${real}, outside /sys; refusing to touch it`);
    return real;
  }

  async getKnob(name: string): Promise<string> {
    const file = await this.knobFile(name);
    const v = await this.target.readFileIfExists(file);
    if (v === null) throw inputError(`knob ${name}: no such ${name.startsWith('/') ? 'sysfs file' : 'sysctl'} on this Linux target (${file} absent)`);
    return name.startsWith('/') ? sysfsChoice(v) : v.trim();
  }

  async setKnob(name: string, value: string, stack: CleanupStack): Promise<void> {
    const old = await this.getKnob(name);
    if (old.replace(/\s+/g, ' ') === value.replace(/\s+/g, ' ')) return;
    const sysfs = name.startsWith('/');
    await journaled(
      this.target.journal,
      stack,
      sysfs ? `${name} = ${old}` : `sysctl ${name}=${old}`,
      // `set`: a replay writes old back only while the knob still holds what was set here.
      sysfs ? { kind: 'write', path: name, value: old, set: value } : { kind: 'sysctl', name, value: old, set: value },
      () => this.write(name, value),
      () => this.write(name, old),
    );
    checkKnobTook(name, value, await this.getKnob(name));
  }

  private async write(name: string, value: string): Promise<void> {
    // Resolved again right before the write: the file written is the checked one under /sys.
    const argv = name.startsWith('/') ? ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', value, await this.knobFile(name)] : ['sysctl', '-q', '-w', `${name}=${value}`];
    const r = await this.target.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl -w ${name}=${value} failed: ${r.stderr.trim()}`);
  }

  async primePageCache(files: string[]): Promise<string | null> {
    if (files.length === 0) return null;
    const script = `${EVICT_ONCE}; for f; do cat "$f" > /dev/null || exit 1; done`;
    const r = await this.target.exec(['sh', '-c', script, 'sh', ...files], { allowFail: true, timeoutMs: 600_000 });
    return r.code === 0 ? null : `page cache not primed (dd iflag=nocache failed: ${r.stderr.trim().split('\n')[0]})`;
  }

  /** Whether the target has python3 for the one-process evictor (asked once per adapter). */
  private python3?: Promise<boolean>;

  async coldCache(files: string[], logFile: string, maxSec: number): Promise<ColdCache> {
    const once = await this.target.exec(['sh', '-c', EVICT_ONCE, 'sh', ...files], { allowFail: true, timeoutMs: 120_000 });
    if (once.code !== 0) throw infraError(`cold cache: dd iflag=nocache failed: ${once.stderr.trim().split('\n')[0]}`);
    // Clients re-read objects within a repetition: keep evicting so most reads go to the disk.
    // Bounded in time too, so a harness killed with SIGKILL cannot leave it running for ever.
    const end = `$(( $(date +%s) + ${Math.ceil(maxSec)} ))`;
    // python3 where the target has it (ci/install-deps.sh installs it), else the shell loop.
    this.python3 ??= this.target.exec(['sh', '-c', 'command -v python3'], { allowFail: true }).then((r) => r.code === 0);
    const py = await this.python3;
    const loop = py
      ? await this.target.spawn(['sh', '-c', `exec python3 -c "$0" "${end}" "$@"`, EVICT_LOOP_PY, ...files], { logFile })
      : await this.target.spawn(['sh', '-c', `end=${end}; while [ "$(date +%s)" -lt "$end" ]; do ${EVICT_ONCE}; sleep 0.05; done`, 'sh', ...files], { logFile });
    return {
      stop: async () => {
        loop.kill('SIGKILL');
        await loop.exited;
      },
    };
  }

  readonly fioEngine = 'libaio';

  private traceInstance?: string;
  /** Every tcp tracepoint into a tracefs instance of headgate's own, for one repetition (tracefs.ts). */
  async enableTcpLog(repetition: CleanupStack, suite: CleanupStack): Promise<string> {
    const inst = await enableTcpTrace(this.target, repetition, suite);
    this.traceInstance = inst;
    repetition.push('forget the tcp trace instance', () => {
      this.traceInstance = undefined;
    });
    return `tcp log: every tcp tracepoint enabled in tracefs instance ${inst}`;
  }

  async scratchBlockDevice(file: string, sizeMiB: number, stack: CleanupStack): Promise<string> {
    const t = this.target;
    const rm = async () => void (await t.exec(['rm', '-f', file], { allowFail: true }));
    // Every block written before the first measurement (preconditioned, as storage benchmarks do):
    // a fallocated or sparse file reads its unwritten extents as zeros without touching the disk,
    // so read IOPS fell repetition by repetition as fio's writer filled the file, and a longer run
    // (adaptive repetitions) looked 20% slower than its baseline on one kernel.
    const fill = ['dd', 'if=/dev/zero', `of=${file}`, 'bs=1M', `count=${sizeMiB}`, 'conv=fsync', 'status=none'];
    await journaled(t.journal, stack, `remove ${file}`, { kind: 'rm', path: file }, () => t.exec(['mkdir', '-p', file.slice(0, file.lastIndexOf('/'))]).then(() => t.exec(fill, { timeoutMs: 600_000 })), rm);
    // Detached by its backing file: the journal entry is written before the device exists.
    const detach = async () => {
      const r = await t.exec(['losetup', '-j', file], { allowFail: true });
      for (const dev of r.stdout.split('\n').map((l) => l.split(':')[0]).filter(Boolean)) await t.exec(['losetup', '-d', dev], { allowFail: true });
    };
    // direct-io=on: the loop device passes O_DIRECT through, so its queue (and scheduler) sees every I/O.
    const r = await journaled(t.journal, stack, `detach the loop device of ${file}`, { kind: 'losetup-detach', backing: file }, () => t.exec(['losetup', '--find', '--show', '--direct-io=on', file], { allowFail: true }), detach);
    if (r.code !== 0) throw infraError(`losetup on ${file} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /**
   * Resolves the device to major:minor and refuses it if it, a partition or anything stacked on it
   * is in use (blockdev.ts), if it carries any signature (blkid -p: a ZFS or btrfs member, an
   * external journal, md/LVM/LUKS, a partition table), or if the kernel holds an exclusive claim
   * on it (an O_EXCL open fails with EBUSY: the last guard); returns its real path.
   */
  async checkDeviceUnused(device: string): Promise<string> {
    const { device: real, majMin } = await checkBlockDeviceUnused(device, targetBlockFs(this.target));
    const what = `--block-device ${device} (${real === device ? majMin : `${real}, ${majMin}`})`;
    const b = await this.target.exec(['sh', '-c', BLKID_SCRIPT, 'sh', real], { allowFail: true });
    if (b.code === 127) throw inputError(`${what}: blkid (util-linux) is not installed on ${this.target.name}, so its signatures cannot be checked; refusing it`);
    if (b.code === 8) throw inputError(`${what}: blkid finds more than one signature on it; the io-sched writer would overwrite it`);
    if (b.code !== 0 && b.code !== 2) throw inputError(`${what}: blkid -p failed (${b.stderr.trim().split('\n').pop() ?? `exit ${b.code}`}); refusing it`);
    const why = b.code === 0 ? signatureRefusal(parseBlkidExport(b.stdout)) : null;
    if (why) throw inputError(`${what}: ${why}; the io-sched writer would overwrite it (headgate uses only a device without any signature)`);
    const x = await this.target.exec(['sh', '-c', EXCL_OPEN_SCRIPT, 'sh', real], { allowFail: true });
    if (x.code === 16) throw inputError(`${what}: the kernel holds it (an exclusive open failed: ${x.stdout.trim() || 'EBUSY'}; a filesystem, RAID, ZFS or journal uses it); the io-sched writer would overwrite it`);
    if (x.code === 127) throw inputError(`${what}: neither perl nor python3 is on ${this.target.name} to test-open it exclusively; refusing it`);
    if (x.code !== 0) throw inputError(`${what}: cannot open it exclusively (${x.stdout.trim() || x.stderr.trim() || `exit ${x.code}`}); refusing it`);
    return real;
  }

  async capability(name: string): Promise<Capability> {
    const [kind, arg] = name.split(':', 2);
    switch (kind) {
      case 'sendfile':
        return { ok: true };
      case 'aio-threads':
        // nginx's thread-pool offload of blocking sendfile; whether nginx was built with threads is checked by nginx -t.
        return { ok: true };
      case 'cache-cold':
        return (await this.target.which('dd')) ? { ok: true } : { ok: false, reason: 'dd (GNU coreutils) not found: cannot evict pages with posix_fadvise' };
      case 'ktls':
        if ((await this.target.readFileIfExists(TLS_STAT)) === null) {
          return { ok: false, reason: `kernel built without kTLS (CONFIG_TLS) or the tls module is not loaded: ${TLS_STAT} absent` };
        }
        return { ok: true };
      case 'unmapped-mbufs':
        return { ok: false, reason: 'not applicable on Linux: no unmapped-mbuf knob (socket buffers already reference page-cache pages)' };
      case 'tool':
        return (await this.target.which(arg)) ? { ok: true } : { ok: false, reason: `${arg} not installed on the target (Debian: apt-get install ${arg})` };
      case 'cc': {
        const avail = (await this.target.readFileIfExists('/proc/sys/net/ipv4/tcp_available_congestion_control')) ?? '';
        return avail.split(/\s+/).includes(arg)
          ? { ok: true }
          : { ok: false, reason: `congestion control ${arg} not available (tcp_available_congestion_control: ${avail.trim()})` };
      }
      case 'iosched': {
        // Probed on a loop device: the scratch device the io-sched suite creates is one.
        const list = (await this.target.readFileIfExists('/sys/block/loop0/queue/scheduler')) ?? '';
        return list.replace(/[[\]]/g, '').split(/\s+/).includes(arg)
          ? { ok: true }
          : { ok: false, reason: `I/O scheduler ${arg} not built into this kernel (loop0 offers: ${list.trim() || 'no loop devices'})` };
      }
      case 'netem':
        return this.qdiscAvailable('netem');
      case 'tcp-log': {
        const fs = (await this.target.readFileIfExists('/proc/filesystems')) ?? '';
        return /\btracefs\b/.test(fs) ? { ok: true } : { ok: false, reason: 'kernel without tracefs (CONFIG_TRACING): no tcp tracepoints to turn on' };
      }
      case 'netns':
        return (await this.target.which('ip')) && process.getuid?.() === 0
          ? { ok: true }
          : { ok: false, reason: 'network namespaces need root and iproute2 (ip) on the target' };
      default:
        return { ok: false, reason: `capability "${name}" is not known to the Linux adapter` };
    }
  }

  /** Whether a qdisc can be created: tries it on a dummy device in a throwaway namespace. */
  private async qdiscAvailable(qdisc: string): Promise<Capability> {
    const ns = `hg-probe-${process.pid}`;
    const script = `ip netns add ${ns} && ip -n ${ns} link set lo up && tc -n ${ns} qdisc add dev lo root ${qdisc}; rc=$?; ip netns del ${ns}; exit $rc`;
    const r = await this.target.exec(['sh', '-c', script], { allowFail: true });
    return r.code === 0 ? { ok: true } : { ok: false, reason: `kernel has no ${qdisc} qdisc (sch_${qdisc}): tc said "${r.stderr.trim().split('\n').pop()}"` };
  }
}
