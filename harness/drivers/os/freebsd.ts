import type { CleanupStack } from '../../lib/cleanup.js';
import { journaled } from '../../lib/journal.js';
import { checkFreebsdSysctlName } from '../../lib/confine.js';
import { infraError, inputError } from '../../model/errors.js';
import type { CounterGroup, Fingerprint } from '../../model/types.js';
import type { Target } from '../targets/target.js';
import type { Capability, ColdCache, CpuTimes, OsAdapter } from './adapter.js';
import { parseCpTime, parseNetstatM, parseNetstatMJson, parseNetstatTcp, parsePsTime, parseSysctlLines, parseTcpFunctions, parseTlsStats, parseVmstatZ } from './parsers/freebsd.js';

/** UMA zones kept as counters: the pbuf pools and the mbuf zones (unmapped mbufs, sendfile). */
const UMA_ZONES = /pbuf$|^mbuf|extpgs/;
/** vm.stats counters: vnode pager reads show a cold page cache. */
const VM_SYSCTLS = ['vm.stats.vm.v_vnodein', 'vm.stats.vm.v_vnodepgsin'];

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

  async counters(groups: CounterGroup[] = ['sendfile']): Promise<Record<string, number>> {
    const t = this.target;
    const out: Record<string, number> = {};
    if (groups.includes('sendfile')) {
      // Prefer libxo JSON; older netstat builds without --libxo fall back to the text format.
      const j = await t.exec(['netstat', '-m', '--libxo', 'json'], { allowFail: true });
      const sf = j.code === 0 && j.stdout.trim().startsWith('{') ? parseNetstatMJson(j.stdout) : parseNetstatM((await t.exec(['netstat', '-m'])).stdout);
      for (const [k, v] of Object.entries(sf)) out[`netstat-m.${k}`] = v;
    }
    if (groups.includes('vm')) {
      for (const [k, v] of Object.entries(await this.sysctls(VM_SYSCTLS))) if (/^\d+$/.test(v)) out[k] = Number(v);
    }
    if (groups.includes('ktls')) {
      const r = await t.exec(['sysctl', 'kern.ipc.tls.stats'], { allowFail: true });
      for (const [k, v] of Object.entries(parseTlsStats(r.stdout))) out[`ktls.${k}`] = v;
    }
    if (groups.includes('uma')) {
      for (const z of parseVmstatZ((await t.exec(['vmstat', '-z'])).stdout)) {
        if (!UMA_ZONES.test(z.name)) continue;
        out[`uma.${z.name}.req`] = z.requests;
        out[`uma.${z.name}.fail`] = z.fail;
        out[`uma.${z.name}.sleep`] = z.sleep;
      }
    }
    if (groups.includes('tcp')) {
      for (const [k, v] of Object.entries(parseNetstatTcp((await t.exec(['netstat', '-s', '-p', 'tcp'])).stdout))) out[`tcp.${k}`] = v;
    }
    return out;
  }

  async getKnob(name: string): Promise<string> {
    // Names are checked before they reach a command line (never an option, never two words).
    if (!name.startsWith('kld:')) checkFreebsdSysctlName('knob', name);
    else if (!/^[a-z0-9_][a-z0-9_.-]*$/.test(name.slice(4))) throw inputError(`knob ${JSON.stringify(name)}: not a kernel module name`);
    if (name.startsWith('kld:')) {
      const r = await this.target.exec(['kldstat', '-q', '-m', name.slice(4)], { allowFail: true });
      return r.code === 0 ? 'loaded' : 'unloaded';
    }
    const r = await this.target.exec(['sysctl', '-n', name], { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl ${name}: ${r.stderr.trim() || 'unknown oid'}`);
    return r.stdout.trim();
  }

  /** Knobs are sysctls, or `kld:MODULE` = loaded|unloaded (kldload / kldunload). */
  async setKnob(name: string, value: string, stack: CleanupStack): Promise<void> {
    const old = await this.getKnob(name);
    if (old === value) return;
    if (name.startsWith('kld:')) {
      if (value !== 'loaded' && value !== 'unloaded') throw inputError(`knob ${name}: value must be loaded or unloaded, not "${value}"`);
      await this.kld(value === 'loaded' ? 'kldload' : 'kldunload', name.slice(4));
      stack.push(`${old === 'loaded' ? 'kldload' : 'kldunload'} ${name.slice(4)}`, () => this.kld(old === 'loaded' ? 'kldload' : 'kldunload', name.slice(4)));
      return;
    }
    await journaled(this.target.journal, stack, `sysctl ${name}=${old}`, { kind: 'sysctl', name, value: old }, () => this.write(name, value), () => this.write(name, old));
  }

  private async kld(cmd: 'kldload' | 'kldunload', mod: string): Promise<void> {
    const r = await this.target.exec([cmd, mod], { allowFail: true });
    if (r.code !== 0) throw infraError(`${cmd} ${mod} failed: ${r.stderr.trim()}`);
  }

  private async write(name: string, value: string): Promise<void> {
    const r = await this.target.exec(['sysctl', `${name}=${value}`], { allowFail: true });
    if (r.code !== 0) throw infraError(`sysctl ${name}=${value} failed: ${r.stderr.trim()}`);
  }

  async primePageCache(files: string[]): Promise<string | null> {
    // FreeBSD has no per-file eviction from the shell; cold-cache runs remount the test filesystem (suites issue).
    return files.length ? 'page cache not primed: per-file eviction is not available on FreeBSD; pages are in whatever state the cache holds' : null;
  }

  async coldCache(files: string[], _logFile?: string, _maxSec?: number): Promise<ColdCache> {
    // No per-file eviction on FreeBSD: unmounting the filesystem that holds the objects drops its
    // cached pages; it must be a separate filesystem listed in /etc/fstab so `mount MP` brings it back.
    const df = await this.target.exec(['df', '-P', files[0]], { allowFail: true });
    const mp = df.stdout.trim().split('\n').pop()?.trim().split(/\s+/).pop() ?? '';
    if (df.code !== 0 || !mp.startsWith('/')) throw infraError(`cold cache: df -P ${files[0]} failed: ${df.stderr.trim()}`);
    if (mp === '/') {
      throw inputError(`cold cache on FreeBSD remounts the filesystem holding the objects, but ${files[0]} is on /: put reports/.objects on its own UFS filesystem listed in /etc/fstab`);
    }
    for (const argv of [['umount', mp], ['mount', mp]]) {
      const r = await this.target.exec(argv, { allowFail: true });
      if (r.code !== 0) throw infraError(`cold cache: ${argv.join(' ')} failed: ${r.stderr.trim()}`);
    }
    return { stop: async () => {} };
  }

  readonly fioEngine = 'posixaio';

  async scratchBlockDevice(): Promise<string> {
    throw inputError('io-sched on FreeBSD needs a CAM disk named with --block-device (ada/da): md(4) scratch devices bypass CAM and its I/O scheduler');
  }

  async checkDeviceUnused(device: string): Promise<string> {
    // /dev//ada0, /dev/./ada0 and symlinks name one disk: compared by its real path.
    const rp = await this.target.exec(['realpath', '--', device], { allowFail: true });
    const real = rp.stdout.trim();
    if (rp.code !== 0 || !real.startsWith('/dev/')) throw inputError(`--block-device ${device}: no such device under /dev on ${this.target.name}`);
    const r = await this.target.exec(['mount', '-p'], { allowFail: true });
    const hit = r.stdout.split('\n').find((l) => l.split(/\s+/)[0]?.startsWith(real));
    if (hit) throw inputError(`--block-device ${device}: holds a mounted filesystem (${hit.split(/\s+/).slice(0, 2).join(' on ')}); the io-sched writer would overwrite it`);
    const sw = await this.target.exec(['swapctl', '-l'], { allowFail: true });
    const swap = sw.stdout.split('\n').slice(1).find((l) => l.split(/\s+/)[0]?.startsWith(real));
    if (swap) throw inputError(`--block-device ${device}: ${swap.split(/\s+/)[0]} is in use as swap; the io-sched writer would overwrite it`);
    return real;
  }

  private async hasSysctl(name: string): Promise<boolean> {
    return (await this.target.exec(['sysctl', '-n', name], { allowFail: true })).code === 0;
  }

  private async hasModule(mod: string): Promise<boolean> {
    if ((await this.target.exec(['kldstat', '-q', '-m', mod], { allowFail: true })).code === 0) return true;
    return (await this.target.readFileIfExists(`/boot/kernel/${mod}.ko`)) !== null;
  }

  async capability(name: string): Promise<Capability> {
    const [kind, arg] = name.split(':', 2);
    switch (kind) {
      case 'sendfile':
        return { ok: true };
      case 'aio-threads':
        return { ok: false, reason: 'not applicable on FreeBSD: sendfile is asynchronous in the kernel (SF_NODISKIO, since 11.0)' };
      case 'cache-cold':
        return { ok: true };
      case 'ktls':
        return (await this.hasSysctl('kern.ipc.tls.enable'))
          ? { ok: true }
          : { ok: false, reason: 'kernel built without options KERN_TLS: sysctl kern.ipc.tls.enable unknown' };
      case 'unmapped-mbufs':
        return (await this.hasSysctl('kern.ipc.mb_use_ext_pgs'))
          ? { ok: true }
          : { ok: false, reason: 'kernel has no kern.ipc.mb_use_ext_pgs (unmapped mbufs need FreeBSD 13 or later)' };
      case 'tool':
        return (await this.target.which(arg)) ? { ok: true } : { ok: false, reason: `${arg} not installed on the target (pkg install ${arg})` };
      case 'cc': {
        const avail = (await this.target.exec(['sysctl', '-n', 'net.inet.tcp.cc.available'], { allowFail: true })).stdout;
        if (new RegExp(`^\\s*${arg}\\b`, 'm').test(avail) || (await this.hasModule(`cc_${arg}`))) return { ok: true };
        return { ok: false, reason: `congestion control ${arg} neither available nor loadable (no cc_${arg}.ko)` };
      }
      case 'stack': {
        const fns = parseTcpFunctions((await this.target.exec(['sysctl', '-n', 'net.inet.tcp.functions_available'], { allowFail: true })).stdout);
        if (fns.some((f) => f.stack === arg) || (await this.hasModule(`tcp_${arg}`))) return { ok: true };
        return { ok: false, reason: `TCP stack ${arg} neither available nor loadable (no tcp_${arg}.ko)` };
      }
      case 'iosched':
        return (await this.target.exec(['sysctl', '-n', 'kern.cam.do_dynamic_iosched'], { allowFail: true })).stdout.trim() === '1'
          ? { ok: true }
          : { ok: false, reason: 'kernel built without options CAM_IOSCHED_DYNAMIC (not in GENERIC): kern.cam.do_dynamic_iosched is not 1' };
      case 'netem':
        return { ok: false, reason: 'impairment on FreeBSD needs dummynet on a middle hop; the netns lab that provides one is Linux-only (lab-targets issue)' };
      case 'netns':
        return { ok: false, reason: 'the bottleneck lab is built from Linux network namespaces on the harness host; a FreeBSD target needs a separate client and middle hop (lab-targets issue)' };
      default:
        return { ok: false, reason: `capability "${name}" is not known to the FreeBSD adapter` };
    }
  }
}
