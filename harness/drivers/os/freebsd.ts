import { checkKnobTook } from './knobs.js';
import { isIP } from 'node:net';
import path from 'node:path';
import type { CleanupStack } from '../../lib/cleanup.js';
import { journaled } from '../../lib/journal.js';
import { kldunloadWaiting } from './kld.js';
import { pollClock, timeWaitBound } from './poll.js';
import { checkFreebsdSysctlName } from '../../lib/confine.js';
import { infraError, inputError } from '../../model/errors.js';
import { geomRefusal, parseGeomConfxml } from './device-claims.js';
import type { CounterGroup, Fingerprint, NicInfo } from '../../model/types.js';
import type { Target } from '../targets/target.js';
import type { Capability, ColdCache, CpuTimes, OsAdapter, TcpLogDrain } from './adapter.js';
import { opensslVersions } from './fingerprint.js';
import { parseCpTimes, parseIfconfigOptions, parseMountP, parsePciconfNics, parseRouteGetInterface, parseZpoolVdevs } from './parsers/freebsd.js';
import { ocfEncryptAliases, parseCcAvailable, parseIostatXI, parseCpTime, parseNetstatM, parseNetstatMJson, parseNetstatTcp, parsePsTime, parseSysctlLines, parseTcpFunctions, parseTlsStats, parseVmstatZ } from './parsers/freebsd.js';

/**
 * UMA zones kept as counters: the pbuf pools and the mbuf zones. M_EXTPG (unmapped) mbufs come
 * from the plain `mbuf` zone (kern_mbuf.c mb_alloc_ext_pgs -> m_get); no `mbuf_extpgs` zone exists.
 */
const UMA_ZONES = /pbuf$|^mbuf/;
/** vm.stats counters: vnode pager reads show a cold page cache. */
const VM_SYSCTLS = ['vm.stats.vm.v_vnodein', 'vm.stats.vm.v_vnodepgsin'];

/**
 * The module a kld file declares, for `kldstat -m` (which takes a module name): CC modules are
 * declared by DECLARE_CC_MODULE(cubic, ...) in cc_cubic.ko (cc_module.h sets `.name = #ccname`);
 * tcp_rack, tcp_bbr and tcphpts are built with -DMODNAME=${KMOD}, so file and module agree.
 */
export function kldModuleName(file: string): string {
  return file.startsWith('cc_') ? file.slice(3) : file;
}

/**
 * Whether a /dev path is the disk itself or a partition, slice or GELI layer of it (ada0: ada0,
 * ada0p2, ada0s1a, ada0p3.eli; not ada01 or ada10). GEOM label names (/dev/gpt/...) are not resolved.
 */
export function onDisk(dev: string, disk: string): boolean {
  if (!dev.startsWith(disk)) return false;
  return /^((p\d+|s\d+[a-h]?|[a-h]))?(\.eli)?$/.test(dev.slice(disk.length));
}

/**
 * The directory a cold object set lives in: the files' common directory, cut after the runner's
 * `cold-<N>MiB` component when there is one, so every variant of a run shares one filesystem.
 */
export function coldDir(files: string[]): string {
  let parts = path.posix.dirname(files[0]).split('/');
  for (const f of files.slice(1)) {
    const q = path.posix.dirname(f).split('/');
    let i = 0;
    while (i < parts.length && i < q.length && parts[i] === q[i]) i++;
    parts = parts.slice(0, i);
  }
  const cold = parts.findIndex((x) => /^cold-\d+MiB$/.test(x));
  return (cold >= 0 ? parts.slice(0, cold + 1) : parts).join('/') || '/';
}

/** A filesystem whose remount makes the cold set cold, and the disks (devstat names) under it. */
interface ColdFs {
  special: string;
  node: string;
  fstype: 'ufs' | 'zfs';
  disks: string[];
}

/**
 * The devstat name (driver and unit, as iostat selects it: devstat.c devstat_selectdevs matches
 * `"%s%d"` of name and unit) of the disk under a /dev path: the disk itself, a GPT or MBR
 * partition, a BSD label, or GELI/gnop layers of one (/dev/ada1p1 -> ada1, /dev/nda0p2.eli ->
 * nda0). GEOM providers do not appear in iostat: g_new_provider calls devstat_new_entry(pp, -1,
 * ...), and devstat_new_entry does not add unit -1 entries to the device list (subr_devstat.c).
 * Null for anything else (GEOM labels such as /dev/gpt/x, mirrors, zvols): not resolved here.
 */
export function devstatDisk(dev: string): string | null {
  const m = /^\/dev\/([a-z]+\d+)(p\d+|s\d+[a-h]?|[a-h])?((\.eli|\.nop)*)$/.exec(dev);
  return m ? m[1] : null;
}

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
    const hw = await this.sysctls(['kern.osrelease', 'kern.version', 'hw.machine_arch', 'hw.model', 'hw.ncpu', 'hw.physmem', 'kern.hostname', 'vm.ndomains']);
    const sysctls = await this.sysctls(FREEBSD_FINGERPRINT_SYSCTLS);
    const tools: Record<string, string> = {};
    const nginx = await t.exec(['nginx', '-v'], { allowFail: true }).catch(() => null);
    const m = nginx && /nginx\/(\S+)/.exec(nginx.stderr + nginx.stdout);
    if (m) tools.nginx = m[1];
    Object.assign(tools, await opensslVersions(t));
    const ndomains = Number(hw['vm.ndomains']);
    return {
      ...(Number.isInteger(ndomains) && ndomains > 0 ? { numaDomains: ndomains } : {}),
      nics: await this.nics(),
      cpuFreqGovernor: await this.cpuFreqGovernor(),
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

  /** PCI network devices with their driver and model (pciconf -lv); FreeBSD has no generic firmware-version sysctl. */
  private async nics(): Promise<NicInfo[]> {
    const r = await this.target.exec(['pciconf', '-lv'], { allowFail: true });
    return r.code === 0 ? parsePciconfNics(r.stdout) : [];
  }

  /** "powerd" when powerd(8) runs, plus hwpstate_intel's energy/performance preference where that driver attached. */
  private async cpuFreqGovernor(): Promise<string> {
    const powerd = (await this.target.exec(['pgrep', '-x', 'powerd'], { allowFail: true })).code === 0;
    const epp = await this.target.exec(['sysctl', '-n', 'dev.hwpstate_intel.0.epp'], { allowFail: true });
    const parts = [powerd ? 'powerd' : 'no powerd'];
    if (epp.code === 0 && /^\d+$/.test(epp.stdout.trim())) parts.push(`hwpstate_intel epp ${epp.stdout.trim()}`);
    return parts.join('; ');
  }

  async cpuTimes(serverCpus?: readonly number[]): Promise<CpuTimes & { server?: CpuTimes }> {
    // Per CPU (kern.cp_times) so the CPUs counted are known; the aggregate where it is missing.
    const per = await this.target.exec(['sysctl', '-n', 'kern.cp_times'], { allowFail: true });
    if (per.code === 0 && per.stdout.trim()) return { ...parseCpTimes(per.stdout), ...(serverCpus ? { server: parseCpTimes(per.stdout, serverCpus) } : {}) };
    if (serverCpus) throw infraError('kern.cp_times is unreadable: the CPU split needs per-CPU times');
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
      // The ifnet and toe nodes hold the NIC/TOE session gauges (uipc_ktls.c); toe exists only with TCP_OFFLOAD, and sysctl prints the rest.
      const r = await t.exec(['sysctl', 'kern.ipc.tls.stats', 'kern.ipc.tls.ifnet', 'kern.ipc.tls.toe'], { allowFail: true });
      for (const [k, v] of Object.entries(ocfEncryptAliases(parseTlsStats(r.stdout)))) out[`ktls.${k}`] = v;
    }
    if (groups.includes('uma')) {
      for (const z of parseVmstatZ((await t.exec(['vmstat', '-z'])).stdout)) {
        if (!UMA_ZONES.test(z.name)) continue;
        out[`uma.${z.name}.req`] = z.requests;
        out[`uma.${z.name}.fail`] = z.fail;
        out[`uma.${z.name}.sleep`] = z.sleep;
      }
    }
    if (groups.includes('tcplog')) {
      // TCP black-box records are allocated from UMA zone "tcp_log" (tcp_log_buf.c tcp_log_init / tcp_log_event): REQ counts records written.
      const z = parseVmstatZ((await t.exec(['vmstat', '-z'])).stdout).find((x) => x.name === 'tcp_log');
      if (z) Object.assign(out, { 'tcplog.records': z.requests, 'tcplog.lost': z.fail });
    }
    if (groups.includes('block') && this.coldDisks.size) {
      // devstat totals of the disks under the cold objects filesystem (iostat -x -I: since boot,
      // see parseIostatXI); devstat.cold.bytes_read is their sum, the cold variants' disk proof.
      const disks = [...this.coldDisks];
      const rows = parseIostatXI((await t.exec(['iostat', '-x', '-I', ...disks], { allowFail: true })).stdout);
      let sum = 0;
      let seen = 0;
      for (const d of disks) {
        const r = rows.find((x) => x.device === d.slice(0, 8));
        if (!r) continue;
        seen++;
        sum += r.bytesRead;
        Object.assign(out, { [`disk.${d}.reads`]: r.reads, [`disk.${d}.bytes_read`]: r.bytesRead, [`disk.${d}.writes`]: r.writes });
      }
      if (seen === disks.length) out['devstat.cold.bytes_read'] = sum;
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
    if (name.startsWith('kld:')) return (await this.moduleLoaded(name.slice(4))) ? 'loaded' : 'unloaded';
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
      const file = name.slice(4);
      if (value === 'loaded') {
        // Journaled before the load: a run killed after it leaves an entry whose replay unloads the module.
        await journaled(this.target.journal, stack, `kldunload ${file}`, { kind: 'kldunload', name: file }, () => this.kld('kldload', file), () => this.kld('kldunload', file));
      } else {
        // Unloading a module the host had is not journaled (no reload undo kind); the live stack reloads it.
        await this.kld('kldunload', file);
        stack.push(`kldload ${file}`, () => this.kld('kldload', file));
      }
    } else {
      await journaled(this.target.journal, stack, `sysctl ${name}=${old}`, { kind: 'sysctl', name, value: old, set: value }, () => this.write(name, value), () => this.write(name, old));
    }
    // Read back as on Linux: a handler may accept a value and keep another (sysctl_handle_int
    // with a range check that clamps, a CC or stack name a jail's VNET does not switch to).
    checkKnobTook(name, value, await this.getKnob(name));
  }

  private async kld(cmd: 'kldload' | 'kldunload', mod: string): Promise<void> {
    if (cmd === 'kldunload') {
      // EBUSY (a TCP stack held by TIME_WAIT connections, W7): waited for, bounded by 2 x MSL;
      // still busy is a restore failure naming the module, and the journal entry stays for the next restore.
      const u = await kldunloadWaiting(this.target, mod);
      if (!u.ok) throw infraError(`kldunload ${mod} failed: ${u.message}`);
      return;
    }
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

  /** The run's objects directory (runner: before the plan), where the cold set lives. */
  private objectsDir: string | null = null;
  /** What the objects filesystem is, per directory asked about: a device to evict from, or why not. */
  private readonly coldFs = new Map<string, Promise<ColdFs | { reason: string }>>();
  /** devstat names (ada1) of the disks under the cold filesystems found: the `block` counters read them. */
  private readonly coldDisks = new Set<string>();

  setObjectsDir(dir: string): void {
    this.objectsDir = dir;
  }

  async coldCache(files: string[], _logFile?: string, _maxSec?: number, _stack?: CleanupStack): Promise<ColdCache> {
    // No per-file eviction on FreeBSD: unmounting the objects filesystem reclaims its vnodes and
    // with them their pages (ufs_reclaim -> ufs_prepare_reclaim -> vnode_destroy_vobject). Once
    // before every repetition, not during it (Linux: posix_fadvise DONTNEED every 50 ms).
    if (!files.length) throw infraError('cold cache: no files to evict');
    const dir = coldDir(files);
    // The set under the run's objects directory is on its filesystem (only .../objects mounts are accepted): decided once.
    const fs = await this.coldFilesystem(this.objectsDir && dir.startsWith(`${this.objectsDir}/`) ? this.objectsDir : dir);
    if ('reason' in fs) throw infraError(fs.reason); // the cache-cold capability skipped such variants already
    // Journaled before the umount: a run killed between the two leaves an entry whose replay
    // mounts the objects filesystem again (and does nothing if it is mounted).
    const undo = { kind: 'remount' as const, node: fs.node, special: fs.special, fstype: fs.fstype };
    const id = await this.target.journal.record(`mount ${fs.node} again`, undo);
    await this.run('cold cache', ['umount', fs.node]);
    // UFS from /etc/fstab (mount.c: a lone node is looked up in fstab); ZFS by name: mount.c's
    // use_mountprog() has no "zfs" entry, so mount(8) mounts it with nmount() itself.
    await this.run('cold cache', fs.fstype === 'zfs' ? ['mount', '-t', 'zfs', fs.special, fs.node] : ['mount', fs.node]);
    await this.target.journal.done(id);
    return { stop: async () => {} };
  }

  /** What the cold set's filesystem is (once per directory): see findColdFs. */
  private coldFilesystem(dir: string): Promise<ColdFs | { reason: string }> {
    let p = this.coldFs.get(dir);
    if (!p) {
      p = this.findColdFs(dir).then((fs) => {
        if (!('reason' in fs)) for (const d of fs.disks) this.coldDisks.add(d);
        return fs;
      });
      this.coldFs.set(dir, p);
    }
    return p;
  }

  /**
   * The filesystem the user dedicated to the objects, when a remount makes its data cold and its
   * reads reach a disk; otherwise the reason. Accepted: UFS on a disk, partition or GELI/gnop
   * layer of one that is not md(4); a ZFS dataset with primarycache=metadata on a pool whose
   * vdevs are such disks. Refused: anything else (tmpfs, md(4)-backed, a GEOM label headgate
   * does not resolve, a ZFS dataset that caches data in the ARC).
   */
  private async findColdFs(dir: string): Promise<ColdFs | { reason: string }> {
    const FIX = 'cold cache on FreeBSD needs the objects directory on a UFS filesystem of its own (mounted on .../objects or .../.objects) on a real device, or on a ZFS dataset of its own with primarycache=metadata';
    const df = await this.target.exec(['df', '-P', dir], { allowFail: true });
    const mp = df.stdout.trim().split('\n').pop()?.trim().split(/\s+/).pop() ?? '';
    if (df.code !== 0 || !mp.startsWith('/')) return { reason: `${FIX}; df -P ${dir} failed` };
    // mount.c putfsent: special, node, fstype, options (then dump and pass), separated by whitespace.
    const ent = parseMountP((await this.target.exec(['mount', '-p'], { allowFail: true })).stdout).filter((e) => e.node === mp).pop();
    if (!ent) return { reason: `${FIX}; ${mp} is not in mount -p` };
    const { special, node, fstype } = ent;
    const where = `${dir} is on ${special} (${fstype}) mounted on ${node}`;
    if (!/\/\.?objects$/.test(node) || (dir !== node && !dir.startsWith(`${node}/`))) return { reason: `${FIX}; ${where}, not a filesystem of its own` };
    if (fstype === 'ufs') {
      const disk = devstatDisk(special);
      if (!disk) return { reason: `${FIX}; ${special} (ufs on ${node}): headgate cannot tell which disk is under it (a GEOM label or class it does not resolve); name its partition in /etc/fstab (e.g. /dev/ada1p1)` };
      if (/^md\d+$/.test(disk)) return { reason: `${FIX}; ${special} (ufs on ${node}) is an md(4) device: its reads come from memory or from a backing file whose pages stay cached, not from a disk` };
      return { special, node, fstype, disks: [disk] };
    }
    if (fstype === 'zfs') {
      // zfs get -H: no header (zprop_print_headers returns when cb_scripted); one column: the value then "\n" (zprop_print_one_property).
      const pc = await this.target.exec(['zfs', 'get', '-H', '-o', 'value', 'primarycache', special], { allowFail: true });
      const value = pc.stdout.trim();
      if (pc.code !== 0 || value !== 'metadata') {
        return { reason: `${FIX}; ${node} is ${special} (zfs, primarycache=${value || 'unreadable'}): a remount does not empty the ARC; run zfs set primarycache=metadata ${special} (or give the objects a UFS filesystem on a disk)` };
      }
      const pool = special.split('/')[0];
      const zp = await this.target.exec(['zpool', 'status', '-P', pool], { allowFail: true });
      const vdevs = parseZpoolVdevs(zp.stdout);
      const disks = vdevs.map(devstatDisk);
      if (!vdevs.length || disks.some((d) => !d)) return { reason: `${FIX}; the vdevs of pool ${pool} (zpool status -P) are not disks headgate can name (${vdevs.join(', ') || 'none listed'})` };
      const md = vdevs.find((_, i) => /^md\d+$/.test(disks[i]!));
      if (md) return { reason: `${FIX}; pool ${pool} of ${special} is on ${md}, an md(4) device (memory or a cached backing file), not a disk` };
      return { special, node, fstype, disks: [...new Set(disks as string[])] };
    }
    return { reason: `${FIX}; ${where}, not ufs or zfs on a disk` };
  }

  /** Runs a command that must succeed; a failure is an infrastructure error naming it. */
  private async run(what: string, argv: string[]) {
    const r = await this.target.exec(argv, { allowFail: true });
    if (r.code !== 0) throw infraError(`${what}: ${argv.join(' ')} failed: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}`);
    return r;
  }

  readonly fioEngine = 'posixaio';

  /**
   * TCP black-box logging of every new connection (sys/netinet/tcp_log_buf.c): log_auto_ratio=1
   * selects every session in tcp_log_selectauto(), log_auto_mode=1 (TCP_LOG_STATE_TAIL) keeps
   * the trailing events in memory, log_auto_all=1 (head: required by tcp_log_tcpcbinit; older
   * kernels select without it and may lack it) auto-selects sessions without a log ID too, and
   * disable_all=0 lifts the global switch. Each sysctl is journaled and restored after the repetition.
   */
  async enableTcpLog(repetition: CleanupStack): Promise<string> {
    const set: string[] = [];
    for (const [k, v] of [['net.inet.tcp.bb.disable_all', '0'], ['net.inet.tcp.bb.log_auto_mode', '1'], ['net.inet.tcp.bb.log_auto_all', '1'], ['net.inet.tcp.bb.log_auto_ratio', '1']]) {
      if (k !== 'net.inet.tcp.bb.log_auto_ratio' && !(await this.hasSysctl(k))) continue;
      await this.setKnob(k, v, repetition);
      set.push(`${k}=${v}`);
    }
    return `tcp log: black-box logging of every new connection (${set.join(', ')})`;
  }

  /**
   * Before a logging-off repetition: waits until no tcp_log record is allocated. A session
   * selected while logging was on logs TCP_LOG_CONNEND when it is discarded (tcp_log_buf.c
   * tcp_log_tcpcbfini(): `if (tp->_t_logstate) { ... (void)tcp_log_event(tp, NULL, NULL, NULL,
   * TCP_LOG_CONNEND, ...` and tcp_log_event() allocates `if (tp->t_lognum < tp->t_loglimit) { if
   * ((log_entry = uma_zalloc(tcp_log_zone, M_NOWAIT)) != NULL) ...`), possibly 2 x MSL later out
   * of TIME_WAIT, inside the next repetition. Its records stay allocated until then: they are
   * freed only in tcp_log_tcpcbfini() (no log ID: `while ((log_entry = STAILQ_FIRST(&tp->t_logs))
   * != NULL) tcp_log_remove_log_head(tp, log_entry);` -> uma_zfree(tcp_log_zone, ...)) or by the
   * expiry queue TCP_LOG_EXPIRE_TIME after it (with a log ID). net.inet.tcp.bb.log_global_entries
   * reads that zone's allocated count: `SYSCTL_UMA_CUR(_net_inet_tcp_bb, OID_AUTO,
   * log_global_entries, CTLFLAG_RD, &tcp_log_zone, "Current number of events maintained for all
   * TCP sessions")` (uma_zone_get_cur: allocations minus frees, kept per CPU, no counter of its
   * own). So 0 means no earlier session holds a record, and every one that logged anything is
   * gone. Polls once a second for up to 2 x net.inet.tcp.msl + 10 s.
   */
  async awaitTcpLogDrained(log: (line: string) => void = () => {}): Promise<TcpLogDrain> {
    const read = async () => {
      const r = await this.target.exec(['sysctl', '-n', 'net.inet.tcp.bb.log_global_entries'], { allowFail: true });
      return r.code === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : null;
    };
    let alive = await read();
    if (alive === null || alive === 0) return { alive, waitedSec: 0, boundSec: 0, how: 'nothing to wait for' };
    const bound = await timeWaitBound(this.target);
    log(`tcp log: ${alive} records of earlier sessions still allocated (net.inet.tcp.bb.log_global_entries); waiting up to ${bound.sec} s (${bound.how}) for them to end`);
    let waited = 0;
    while (alive !== null && alive > 0 && waited < bound.sec) {
      await pollClock.sleep(1000);
      waited++;
      alive = await read();
    }
    return { alive, waitedSec: waited, boundSec: bound.sec, how: bound.how };
  }

  async scratchBlockDevice(): Promise<string> {
    // A capability gap, not bad input: the io-sched suite skips its CAM variants before this.
    throw infraError('io-sched on FreeBSD needs a CAM disk named with --block-device (ada/da/nda): md(4) scratch devices bypass CAM and its I/O scheduler');
  }

  async checkDeviceUnused(device: string): Promise<string> {
    // /dev//ada0, /dev/./ada0 and symlinks name one disk: compared by its real path.
    const rp = await this.target.exec(['realpath', '--', device], { allowFail: true });
    const real = rp.stdout.trim();
    if (rp.code !== 0 || !real.startsWith('/dev/')) throw inputError(`--block-device ${device}: no such device under /dev on ${this.target.name}`);
    // mount.c putfsent: "device<TAB...>mountpoint<TAB...>fstype..." per mounted filesystem.
    const r = await this.target.exec(['mount', '-p'], { allowFail: true });
    const hit = parseMountP(r.stdout).find((e) => onDisk(e.special, real));
    if (hit) throw inputError(`--block-device ${device}: holds a mounted filesystem (${hit.special} on ${hit.node}); the io-sched writer would overwrite it`);
    // swapon.c swaplist: a "Device:" header, then "/dev/%-8s <blocks> <used>" per swap device.
    const sw = await this.target.exec(['swapctl', '-l'], { allowFail: true });
    const swap = sw.stdout.split('\n').slice(1).find((l) => onDisk(l.split(/\s+/)[0] ?? '', real));
    if (swap) throw inputError(`--block-device ${device}: ${swap.split(/\s+/)[0]} is in use as swap; the io-sched writer would overwrite it`);
    // zpool status -P (VDEV_NAME_PATH): each vdev line starts with its full /dev path.
    const zp = await this.target.exec(['zpool', 'status', '-P'], { allowFail: true });
    const vdev = parseZpoolVdevs(zp.stdout).find((d) => onDisk(d, real));
    if (vdev) throw inputError(`--block-device ${device}: ${vdev} is a vdev of a ZFS pool (zpool status -P); the io-sched writer would overwrite it`);
    // GEOM's own access counts and tasters (geom_dump.c): anything open on it or a partition of it
    // (access passes down to the disk), or a partition table, mirror or label on it.
    const x = await this.target.exec(['sysctl', '-n', 'kern.geom.confxml'], { allowFail: true });
    if (x.code !== 0) throw inputError(`--block-device ${device}: cannot read kern.geom.confxml on ${this.target.name} (${x.stderr.trim()}), so whether it is in use cannot be checked; refusing it`);
    const geom = geomRefusal(parseGeomConfxml(x.stdout), real.slice('/dev/'.length));
    if (geom) throw inputError(`--block-device ${device}: ${geom}; the io-sched writer would overwrite it`);
    // A filesystem or pool signature on a device nothing has open (an exported pool, an unmounted UFS): fstyp(8) exits 0 naming it.
    const f = await this.target.exec(['fstyp', '-u', '--', real], { allowFail: true });
    if (f.code === 0 && f.stdout.trim()) throw inputError(`--block-device ${device}: it holds a ${f.stdout.trim().split(/\s+/)[0]} filesystem or pool (fstyp); the io-sched writer would overwrite it (headgate uses only a device without any signature)`);
    return real;
  }

  private async hasSysctl(name: string): Promise<boolean> {
    return (await this.target.exec(['sysctl', '-n', name], { allowFail: true })).code === 0;
  }

  /**
   * The peer address of the ssh session this adapter's commands run in (`$SSH_CLIENT`, "ADDR PORT
   * PORT"): the controller as the target sees it, when the controller reaches the target over
   * ssh. Asked for only when the engine knows the load takes the same path (SuiteContext.loadPeers):
   * on a local target it would be an admin's login, not the load client.
   */
  private async sshPeer(): Promise<string | null> {
    const r = await this.target.exec(['sh', '-c', 'printf %s "${SSH_CLIENT%% *}"'], { allowFail: true });
    const peer = r.stdout.trim();
    return peer || null;
  }

  /** Whether the module a kld file provides is in the kernel (loaded, or compiled in): `kldstat -m` takes a module name. */
  private async moduleLoaded(file: string): Promise<boolean> {
    return (await this.target.exec(['kldstat', '-q', '-m', kldModuleName(file)], { allowFail: true })).code === 0;
  }

  /** In the kernel already, or loadable from /boot/kernel/FILE.ko. */
  private async hasModule(file: string): Promise<boolean> {
    if (await this.moduleLoaded(file)) return true;
    return (await this.target.readFileIfExists(`/boot/kernel/${file}.ko`)) !== null;
  }

  async capability(name: string): Promise<Capability> {
    // Split at the first colon only: an argument may be an IPv6 address.
    const at = name.indexOf(':');
    const [kind, arg] = at < 0 ? [name, undefined as unknown as string] : [name.slice(0, at), name.slice(at + 1)];
    switch (kind) {
      case 'sendfile':
        return { ok: true };
      case 'aio-threads':
        return { ok: false, reason: 'not applicable on FreeBSD: sendfile is asynchronous in the kernel (SF_NODISKIO, since 11.0)' };
      case 'cache-cold': {
        // Evicts by remounting the objects filesystem (coldCache): root, and a filesystem on a disk.
        if (!this.target.runsAsRoot) return { ok: false, reason: 'cold cache on FreeBSD remounts the objects filesystem: needs root on the target' };
        if (!this.objectsDir) return { ok: false, reason: 'cold cache on FreeBSD: the objects directory is not known yet' };
        const fs = await this.coldFilesystem(this.objectsDir);
        return 'reason' in fs ? { ok: false, reason: fs.reason } : { ok: true };
      }
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
        if (parseCcAvailable(avail).includes(arg) || (await this.hasModule(`cc_${arg}`))) return { ok: true };
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
      case 'tcp-log':
        return (await this.hasSysctl('net.inet.tcp.bb.log_auto_ratio'))
          ? { ok: true }
          : { ok: false, reason: 'kernel built without options TCP_BLACKBOX: sysctl net.inet.tcp.bb.log_auto_ratio unknown' };
      case 'vnet-lab': {
        // The bottleneck path of VNET jails and epairs (drivers/net/freebsd-vnet-lab.ts) needs VIMAGE and the three modules.
        if ((await this.target.exec(['sysctl', '-n', 'kern.features.vimage'], { allowFail: true })).stdout.trim() !== '1') {
          return { ok: false, reason: 'kernel built without options VIMAGE (kern.features.vimage is not 1): no VNET jails for the bottleneck path' };
        }
        for (const m of ['if_epair', 'ipfw', 'dummynet']) if (!(await this.hasModule(m))) return { ok: false, reason: `kernel module ${m} neither loaded nor in /boot/kernel (${m}.ko)` };
        return { ok: true };
      }
      case 'egress-mextpg': {
        // arg: the load's source as the target routes to it (an IP address), or "ssh-peer".
        // ip6_output() (and ip_output()) map M_EXTPG data again, one sf_buf mbuf per page
        // (mb_unmapped_to_ext), when the egress interface has MEXTPG off: sys/netinet6/ip6_output.c
        // passout: "if ((ifp->if_capenable & IFCAP_MEXTPG) == 0) { m = mb_unmapped_to_ext(m);".
        const addr = arg === 'ssh-peer' ? await this.sshPeer() : (arg ?? '');
        if (!addr) return { ok: false, reason: arg === 'ssh-peer' ? 'egress interface unknown: no ssh peer on the target ($SSH_CLIENT empty)' : 'egress interface unknown: no load client address' };
        // Addresses only: route(8) is never handed a name to resolve or a word that could read as an option.
        if (isIP(addr) === 0) return { ok: false, reason: `egress interface toward ${addr} unknown: not an IP address (give the load client's inventory entry its address as the target reaches it)` };
        // route -n get ADDR prints "  interface: NAME" (route_netlink.c and route.c print_getmsg).
        const route = await this.target.exec(['route', '-n', 'get', addr], { allowFail: true });
        const ifname = route.code === 0 ? parseRouteGetInterface(route.stdout) : null;
        if (!ifname || !/^[A-Za-z0-9_.-]+$/.test(ifname)) return { ok: false, reason: `egress interface toward ${addr} unknown: route -n get ${addr} named none` };
        const ic = await this.target.exec(['ifconfig', '-m', ifname], { allowFail: true });
        if (ic.code !== 0) return { ok: false, reason: `egress interface ${ifname} toward ${addr}: ifconfig -m ${ifname} failed` };
        return parseIfconfigOptions(ic.stdout).includes('MEXTPG')
          ? { ok: true, reason: `egress interface ${ifname} toward ${addr} has MEXTPG enabled (route -n get ${addr}; ifconfig -m ${ifname} options)` }
          : { ok: false, reason: `egress interface ${ifname} toward ${addr} has MEXTPG off (route -n get ${addr}; ifconfig -m ${ifname} options): ip_output/ip6_output map unmapped mbufs again before the driver (mb_unmapped_to_ext)` };
      }
      case 'netns':
        return { ok: false, reason: 'the bottleneck lab is built from Linux network namespaces on the harness host; a FreeBSD target needs a separate client and middle hop (lab-targets issue)' };
      default:
        return { ok: false, reason: `capability "${name}" is not known to the FreeBSD adapter` };
    }
  }
}
