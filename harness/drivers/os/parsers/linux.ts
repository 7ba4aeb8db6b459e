/** Aggregate CPU time from /proc/stat's first line, in clock ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
  /** user + nice + system + irq + softirq: the machine's own work (steal is the hypervisor's, not ours). */
  machineBusy: number;
  /** The per-CPU "cpuN" lines the aggregate sums. */
  cpus: number;
}

/**
 * Parses /proc/stat's aggregate "cpu" line: busy = everything but idle and iowait; machineBusy
 * also leaves out steal. cpus counts the "cpuN" lines (online CPUs).
 */
export function parseProcStat(text: string, only?: readonly number[]): CpuTimes {
  const lines = text.split('\n');
  // The aggregate line, or the sum of the given CPUs' own lines (a CPU split counts the server's).
  const rows = only
    ? lines.filter((l) => {
        const m = /^cpu(\d+)\s/.exec(l);
        return m !== null && only.includes(Number(m[1]));
      })
    : lines.filter((l) => /^cpu\s/.test(l));
  if (!rows.length) throw new Error(only ? `/proc/stat: no line for CPU ${only.join(',')}` : '/proc/stat: no aggregate cpu line');
  const sum = new Array<number>(8).fill(0);
  for (const line of rows) {
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 4 || f.some((x) => !Number.isFinite(x))) throw new Error(`/proc/stat: unexpected cpu line "${line.trim()}"`);
    for (let i = 0; i < 8; i++) sum[i] += f[i] ?? 0;
  }
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = sum;
  const machineBusy = user + nice + system + irq + softirq;
  const busy = machineBusy + steal;
  return { busy, total: busy + idle + iowait, machineBusy, cpus: only ? rows.length : lines.filter((l) => /^cpu\d+\s/.test(l)).length };
}

/** Parses "name value" lines such as /proc/vmstat. */
export function parseKeyValueLines(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(-?\d+)\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Parses /proc/net/snmp (header line then value line per protocol) into "Tcp.RetransSegs" keys. */
export function parseProcNetSnmp(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split('\n').filter(Boolean);
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [proto, ...names] = lines[i].trim().split(/\s+/);
    const [proto2, ...values] = lines[i + 1].trim().split(/\s+/);
    if (proto !== proto2) continue;
    names.forEach((n, j) => {
      const v = Number(values[j]);
      if (Number.isFinite(v)) out[`${proto.replace(/:$/, '')}.${n}`] = v;
    });
  }
  return out;
}

/** utime + stime (clock ticks) from /proc/PID/stat; the command name may contain spaces and parens. */
export function parseProcPidStat(text: string): number {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** Model name and logical CPU count from /proc/cpuinfo. */
export function parseCpuinfo(text: string): { model: string; count: number } {
  const models = [...text.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => m[1].trim());
  const count = [...text.matchAll(/^processor\s*:/gm)].length;
  return { model: models[0] ?? 'unknown', count: count || models.length };
}

/** MemTotal in bytes from /proc/meminfo. */
export function parseMeminfoTotal(text: string): number {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** /proc/net/tls_stat: "Name<TAB>value" lines (kTLS session and record counters). */
export function parseTlsStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Tls\w+)\s+(\d+)\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** One block device's cumulative I/O counters from /proc/diskstats. */
export interface DiskStats {
  reads: number;
  sectorsRead: number;
  readMs: number;
  writes: number;
  sectorsWritten: number;
  writeMs: number;
  inFlight: number;
  ioMs: number;
}

/** /proc/diskstats (major minor name then at least 11 counters; newer kernels append discard/flush fields). */
export function parseDiskstats(text: string): Record<string, DiskStats> {
  const out: Record<string, DiskStats> = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const n = f.slice(3).map(Number);
    if (n.some((x) => !Number.isFinite(x))) continue;
    out[f[2]] = { reads: n[0], sectorsRead: n[2], readMs: n[3], writes: n[4], sectorsWritten: n[6], writeMs: n[7], inFlight: n[8], ioMs: n[9] };
  }
  return out;
}

/** The active value of a sysfs choice file such as queue/scheduler ("none [mq-deadline] kyber"). */
export function sysfsChoice(text: string): string {
  const m = /\[([^\]]+)\]/.exec(text);
  return (m ? m[1] : text).trim();
}

/** `ethtool -i IF`: "driver: ...", "version: ...", "firmware-version: ...", "bus-info: ..." lines. */
export function parseEthtoolInfo(text: string): { driver?: string; firmware?: string; busInfo?: string } {
  const kv = Object.fromEntries(
    text
      .split('\n')
      .map((l) => /^([a-z-]+):\s*(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[1], m[2].trim()]),
  );
  const some = (v?: string) => (v && v !== 'N/A' ? v : undefined);
  return { driver: some(kv.driver), firmware: some(kv['firmware-version']), busInfo: some(kv['bus-info']) };
}

/** NUMA nodes from a listing of /sys/devices/system/node (entries named nodeN). */
export function countNumaNodes(entries: string[]): number {
  return entries.filter((e) => /^node\d+$/.test(e)).length;
}

/**
 * The NIC listing of LINUX_NIC_SCRIPT: per interface with a device behind it, a line
 * "== NAME DRIVER VENDOR DEVICE" (sysfs driver link and PCI ids) followed by its `ethtool -i`
 * output when ethtool is installed. Firmware and, when sysfs had none, the driver come from ethtool.
 */
export function parseNicListing(text: string): { name: string; driver: string; model: string; firmware?: string }[] {
  const out: { name: string; driver: string; model: string; firmware?: string }[] = [];
  let block: string[] = [];
  let head: RegExpExecArray | null = null;
  const flush = () => {
    if (!head) return;
    const e = parseEthtoolInfo(block.join('\n'));
    const ids = [head[3], head[4]].filter(Boolean).join(':');
    out.push({ name: head[1], driver: head[2] || e.driver || 'unknown', model: ids || 'unknown', ...(e.firmware ? { firmware: e.firmware } : {}) });
  };
  for (const line of text.split('\n')) {
    const h = /^== (\S+) ?(\S*) ?(\S*) ?(\S*)\s*$/.exec(line);
    if (h) {
      flush();
      head = h;
      block = [];
    } else block.push(line);
  }
  flush();
  return out;
}

/** Lists the interfaces that have a device behind them (parseNicListing reads the output). */
export const LINUX_NIC_SCRIPT =
  'for d in /sys/class/net/*; do [ -e "$d/device" ] || continue; n=${d##*/}; ' +
  'drv=$(basename "$(readlink -f "$d/device/driver")" 2>/dev/null); ' +
  'echo "== $n $drv $(cat "$d/device/vendor" 2>/dev/null) $(cat "$d/device/device" 2>/dev/null)"; ' +
  'command -v ethtool >/dev/null 2>&1 && ethtool -i "$n" 2>/dev/null; done; exit 0';
