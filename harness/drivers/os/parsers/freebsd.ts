/** FreeBSD output parsers. Fixture-tested against the formats in shared/reference; no FreeBSD host verified them. */

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
export function parseCpTime(text: string): { busy: number; total: number } {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 5 || f.some((x) => !Number.isFinite(x))) throw new Error(`kern.cp_time: unexpected value "${text.trim()}"`);
  const [user, nice, sys, intr, idle] = f;
  const busy = user + nice + sys + intr;
  return { busy, total: busy + idle };
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

/** `sysctl kern.ipc.tls.stats` lines into counters keyed without the prefix (e.g. "ocf.tls13_gcm_encrypts"). */
export function parseTlsStats(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(parseSysctlLines(text))) {
    const m = /^kern\.ipc\.tls\.stats\.(.+)$/.exec(k);
    if (m && /^\d+$/.test(v)) out[m[1]] = Number(v);
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
