/** FreeBSD output parsers. Fixture-tested against the formats in shared/reference; no FreeBSD host verified them. */
import type { NicInfo } from '../../../model/types.js';

/** `sysctl name...` output lines of the form "name: value" (values may contain spaces). */
export function parseSysctlLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_.%-]+):\s?(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

/** `kern.cp_time` (user nice sys intr idle ticks) into busy/total ticks. */
export function parseCpTime(text: string): { busy: number; total: number; machineBusy: number } {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 5 || f.some((x) => !Number.isFinite(x))) throw new Error(`kern.cp_time: unexpected value "${text.trim()}"`);
  const [user, nice, sys, intr, idle] = f;
  const busy = user + nice + sys + intr;
  return { busy, total: busy + idle, machineBusy: busy };
}

/** CPUSTATES in sys/sys/resource.h: CP_USER CP_NICE CP_SYS CP_INTR CP_IDLE. */
const CPUSTATES = 5;

/**
 * `sysctl -n kern.cp_times`: CPUSTATES longs per CPU id up to mp_maxid, space separated
 * (sysctl_kern_cp_times in kern_clock.c; absent CPU ids print as zeros, so they are not
 * counted). Summed, it is kern.cp_time; cpus is the CPUs that ever ticked.
 */
export function parseCpTimes(text: string, only?: readonly number[]): { busy: number; total: number; machineBusy: number; cpus: number } {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < CPUSTATES || f.length % CPUSTATES !== 0 || f.some((x) => !Number.isFinite(x))) {
    throw new Error(`kern.cp_times: expected a multiple of ${CPUSTATES} numbers, got "${text.trim().slice(0, 80)}"`);
  }
  const sum = new Array<number>(CPUSTATES).fill(0);
  let cpus = 0;
  for (let c = 0; c < f.length; c += CPUSTATES) {
    // Row k is CPU id k (sys/kern/kern_clock.c sysctl_kern_cp_times: CPU_FOREACH over 0..mp_maxid).
    if (only && !only.includes(c / CPUSTATES)) continue;
    const row = f.slice(c, c + CPUSTATES);
    if (row.some((x) => x > 0)) cpus++;
    row.forEach((x, i) => (sum[i] += x));
  }
  return { ...parseCpTime(sum.join(' ')), cpus };
}

/** The sendfile block of `netstat -m` (text), keyed by the libxo field names netstat's mbuf.c emits. */
const SENDFILE_LINES: [RegExp, string][] = [
  [/^(\d+) sendfile syscalls$/, 'sendfile-syscalls'],
  [/^(\d+) sendfile syscalls completed without I\/O request$/, 'sendfile-no-io'],
  [/^(\d+) requests for I\/O initiated by sendfile$/, 'sendfile-io-count'],
  [/^(\d+) pages read by sendfile as part of a request$/, 'sendfile-pages-sent'],
  [/^(\d+) pages were valid at time of a sendfile request$/, 'sendfile-pages-valid'],
  [/^(\d+) pages were valid and substituted to bogus page$/, 'sendfile-pages-bogus'],
  [/^(\d+) pages were requested for read ahead by applications$/, 'sendfile-requested-readahead'],
  [/^(\d+) pages were read ahead by sendfile$/, 'sendfile-readahead'],
  [/^(\d+) times sendfile encountered an already busy page$/, 'sendfile-busy-encounters'],
  [/^(\d+) requests for sfbufs denied$/, 'sfbufs-alloc-failed'],
  [/^(\d+) requests for sfbufs delayed$/, 'sfbufs-alloc-wait'],
];

/** Parses `netstat -m` text output's sendfile counters (the sfbufs-in-use line is optional). */
export function parseNetstatM(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    for (const [re, key] of SENDFILE_LINES) {
      const m = re.exec(line);
      if (m) out[key] = Number(m[1]);
    }
    const sf = /^(\d+)\/(\d+)\/(\d+) sfbufs in use \(current\/peak\/max\)$/.exec(line);
    if (sf) {
      out['nsfbufs-current'] = Number(sf[1]);
      out['nsfbufs-peak'] = Number(sf[2]);
      out['nsfbufs'] = Number(sf[3]);
    }
  }
  return out;
}

/** Parses `netstat -m --libxo json`: numeric sendfile and sfbuf keys under mbuf-statistics. */
export function parseNetstatMJson(text: string): Record<string, number> {
  const doc = JSON.parse(text) as { 'mbuf-statistics'?: Record<string, unknown> };
  const stats = doc['mbuf-statistics'] ?? {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (/^(sendfile|sfbufs|nsfbufs)/.test(k) && typeof v === 'number') out[k] = v;
  }
  return out;
}

/** One UMA zone row of `vmstat -z`. */
export interface UmaZone {
  name: string;
  size: number;
  limit: number;
  used: number;
  free: number;
  requests: number;
  fail: number;
  sleep: number;
  xdomain?: number;
}

/**
 * Parses `vmstat -z`: a header (ITEM SIZE LIMIT USED FREE REQ FAILSLEEP [XDOMAIN], note the
 * real header glues FAIL and SLEEP), a blank line, then "name: n, n, ..." rows. Names may contain spaces.
 */
export function parseVmstatZ(text: string): UmaZone[] {
  const zones: UmaZone[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(.+?):\s+(\d+(?:,\s*\d+)+)\s*$/.exec(line);
    if (!m) continue;
    const n = m[2].split(',').map((s) => Number(s.trim()));
    if (n.length < 7) continue;
    const z: UmaZone = { name: m[1].trim(), size: n[0], limit: n[1], used: n[2], free: n[3], requests: n[4], fail: n[5], sleep: n[6] };
    if (n.length >= 8) z.xdomain = n[7];
    zones.push(z);
  }
  return zones;
}

/** CPU time "[[dd-]hh:]mm:ss.ss" as printed by `ps -o time` into seconds. */
export function parsePsTime(text: string): number {
  let days = 0;
  let t = text.trim();
  const d = /^(\d+)-(.*)$/.exec(t);
  if (d) {
    days = Number(d[1]);
    t = d[2];
  }
  const parts = t.split(':').map(Number);
  let s = 0;
  for (const p of parts) s = s * 60 + p;
  return days * 86400 + s;
}

/**
 * `sysctl kern.ipc.tls.stats kern.ipc.tls.ifnet kern.ipc.tls.toe` lines into counters keyed
 * without the prefix: "ocf.tls13_gcm_encrypts" (stats), "ifnet.gcm", "toe.gcm" (session gauges).
 */
export function parseTlsStats(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(parseSysctlLines(text))) {
    const m = /^kern\.ipc\.tls\.(?:stats\.(.+)|((?:ifnet|toe)\.(?:cbc|gcm|chacha20)))$/.exec(k);
    if (m && /^\d+$/.test(v)) out[m[1] ?? m[2]] = Number(v);
  }
  return out;
}

/**
 * `netstat -s -p tcp` text: packets sent, data packets retransmitted, packets received, SACK
 * recovery episodes (lines per netstat's inet.c; fixture-tested, not verified on a host).
 */
export function parseNetstatTcp(text: string): Record<string, number> {
  const rules: [RegExp, string][] = [
    [/^(\d+) packets? sent$/, 'sent-packets'],
    [/^(\d+) data packets? \((\d+) bytes?\) retransmitted$/, 'retransmitted-packets'],
    [/^(\d+) packets? received$/, 'received-packets'],
    [/^(\d+) SACK recovery episodes?$/, 'sack-recovery-episodes'],
  ];
  const out: Record<string, number> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    for (const [re, key] of rules) {
      const m = re.exec(line);
      if (m && !(key in out)) out[key] = Number(m[1]);
    }
  }
  return out;
}

/** `sysctl -n net.inet.tcp.functions_available`: the stack table (Stack, D, Alias, PCB count). */
export function parseTcpFunctions(text: string): { stack: string; isDefault: boolean; pcbs: number }[] {
  const out: { stack: string; isDefault: boolean; pcbs: number }[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || f[0] === 'Stack' || !/^\d+$/.test(f[f.length - 1])) continue;
    out.push({ stack: f[0], isDefault: f[1] === '*', pcbs: Number(f[f.length - 1]) });
  }
  return out;
}


/**
 * Network devices from `pciconf -lv` (usr.sbin/pciconf/pciconf.c list_devs and list_verbose): a
 * selector line "NAMEUNIT@pci<d>:<b>:<s>:<f>:<TAB>..." (what follows the tab changed between
 * releases: card=/chip= or vendor=/device=; not read), then indented `vendor     = '...'`,
 * `device     = '...'`, `class      = ...` lines. Devices whose class is network; unattached
 * ones (name "none") are left out.
 */
export function parsePciconfNics(text: string): NicInfo[] {
  const out: NicInfo[] = [];
  let cur: { name: string; driver: string; vendor?: string; device?: string; cls?: string } | null = null;
  const flush = () => {
    if (cur && cur.cls === 'network' && cur.driver !== 'none') {
      out.push({ name: cur.name, driver: cur.driver, model: [cur.vendor, cur.device].filter(Boolean).join(' ') || 'unknown' });
    }
  };
  for (const line of text.split('\n')) {
    const sel = /^([A-Za-z_][A-Za-z0-9_]*?)(\d+)@pci\d+:\d+:\d+:\d+:/.exec(line);
    if (sel) {
      flush();
      cur = { name: sel[1] + sel[2], driver: sel[1] };
      continue;
    }
    const kv = /^\s+(vendor|device|class)\s+= (?:'(.*)'|(.*))$/.exec(line);
    if (cur && kv) {
      const v = (kv[2] ?? kv[3] ?? '').trim();
      if (kv[1] === 'vendor') cur.vendor = v;
      else if (kv[1] === 'device') cur.device = v;
      else cur.cls = v;
    }
  }
  flush();
  return out;
}

/**
 * `sysctl -n net.inet.tcp.cc.available`, in either form upstream has printed (sys/netinet/cc/cc.c
 * cc_list_available):
 * - 14 and head: a table, `"\n%-16s%c %s\n", "CCmod", 'D', "PCB count"` then one row per algorithm,
 *   `"%-16s%c %u\n", name, default ? '*' : ' ', refcount` (real 15.0-CURRENT output in
 *   test/fixtures/freebsd/real/sysctl-cc-available);
 * - 13: one line, `sbuf_printf(s, first ? "%s" : ", %s", algo->name)`.
 * Returns the names in the kernel's order.
 */
export function parseCcAvailable(text: string): string[] {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /^CCmod\s+D\s+PCB count\s*$/.test(l));
  if (header >= 0) {
    return lines
      .slice(header + 1)
      .map((l) => /^(\S+)\s+[* ]\s*\d+\s*$/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
  }
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * OCF counters were named `*_crypts` before the decrypt counters came and they became
 * `*_encrypts` (sys/opencrypto/ktls_ocf.c); old names are reported under the new ones too, so
 * proofs and baselines use one name on every kernel age. Not tls12_*_crypts: in that era
 * ktls_ocf_tls12_aead_decrypt bumped them as well (TLS 1.2 receive), so they are no transmit
 * proof under an *_encrypts name; CBC and TLS 1.3 had no receive path there.
 */
export function ocfEncryptAliases(stats: Record<string, number>): Record<string, number> {
  const out = { ...stats };
  for (const [k, v] of Object.entries(stats)) {
    const m = /^(ocf\.(?:tls1[01]_cbc|tls13_\w+))_crypts$/.exec(k);
    if (m && out[`${m[1]}_encrypts`] === undefined) out[`${m[1]}_encrypts`] = v;
  }
  return out;
}

/**
 * The interface `route -n get ADDR` names: a line "  interface: NAME" (sbin/route/route.c
 * print_getmsg `"  interface: %.*s\n"`; route_netlink.c print_getmsg `"  interface: %s\n"`).
 */
export function parseRouteGetInterface(text: string): string | null {
  return /^\s*interface: (\S+)\s*$/m.exec(text)?.[1] ?? null;
}

/**
 * The enabled capabilities of `ifconfig [-m] IF`, from its options line in each form sbin/ifconfig
 * prints (ifconfig.c, ifconfig_netlink.c):
 * - "<TAB>options=HEX<NAME,...>": ifconfig_print_ifcap / printb, and the netlink ifconfig of 14
 *   and head (ifconfig_netlink_print_ifcaps: `"\toptions=%x"` then ifconfig_print_bits `<...>`);
 * - "<TAB>options NAME,NAME,...": ifconfig_print_ifcap_nv, the ioctl ifconfig on a driver with
 *   IFCAP_NV (mlx5 on 13.x: `printf("\toptions")` then `"%c%s", first ? ' ' : ','`).
 * Older ifconfig prints no options line when none is on. Leading whitespace of any kind is
 * accepted (copies of real output often lose the tab). The "capabilities" line (-m) lists what
 * the driver supports, not what is on; "nd6 options" is IPv6's.
 */
export function parseIfconfigOptions(text: string): string[] {
  const m = /^[ \t]+options(?:=[0-9a-fA-F]+<([^>]*)>| ([A-Za-z0-9_,]+))[ \t]*$/m.exec(text);
  return m ? (m[1] ?? m[2]).split(',').filter(Boolean) : [];
}

/** One device row of `iostat -x -I`: totals since boot (devstat). */
export interface DevstatTotals {
  device: string;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
}

/**
 * `iostat -x -I DEVICE...` (usr.sbin/iostat/iostat.c devstats(), head): with -x the per-loop
 * header is `"                        extended device statistics  "` then, with -I,
 * `"device           r/i         w/i         kr/i         kw/i qlen   tsvc_t/i      sb/i  "`; each
 * device row is `printf("%-8.8s %11.1Lf %11.1Lf %12.1Lf %12.1Lf %4" PRIu64 " %10.1Lf %9.1Lf ",
 * devname, total_transfers_read, total_transfers_write, total_bytes_read / 1024,
 * total_bytes_write / 1024, queue_len, total_duration, busy_time)` then "\n". Without -w or -c
 * iostat prints one report, and its first report has no previous snapshot (havelast = 0), so
 * devstat_compute_statistics() gives totals since boot: monotonic counters for before/after
 * deltas. devname is `"%s%d"` of the devstat name and unit (ada1), cut to 8 characters.
 * kr/i carries one decimal of KiB, so bytes are exact to 0.1 KiB.
 */
export function parseIostatXI(text: string): DevstatTotals[] {
  const out: DevstatTotals[] = [];
  let header = false;
  for (const line of text.split('\n')) {
    if (/^device\s+r\/i\s+w\/i\s+kr\/i\s+kw\/i\b/.test(line)) {
      header = true;
      continue;
    }
    if (!header) continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !f.slice(1, 5).every((x) => /^\d+(\.\d+)?$/.test(x))) continue;
    const [reads, writes, krRead, krWritten] = f.slice(1, 5).map(Number);
    out.push({ device: f[0], reads, writes, bytesRead: Math.round(krRead * 1024), bytesWritten: Math.round(krWritten * 1024) });
  }
  return out;
}

/** One mounted filesystem as `mount -p` prints it. */
export interface MountEntry {
  special: string;
  node: string;
  fstype: string;
}

/**
 * `mount -p`: one fstab-style line per mounted filesystem (sbin/mount/mount.c putfsent(): the
 * device, then the mount point, each padded with tabs, then `"{:fstype}{P:\t}"`, the options, dump
 * and pass). Lines with fewer than three fields are skipped.
 */
export function parseMountP(text: string): MountEntry[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3)
    .map(([special, node, fstype]) => ({ special, node, fstype }));
}

/**
 * The vdev paths of `zpool status -P` (VDEV_NAME_PATH: each vdev line starts with its full
 * /dev path; pool, mirror and raidz lines do not start with /dev/).
 */
export function parseZpoolVdevs(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((d) => d.startsWith('/dev/'));
}
