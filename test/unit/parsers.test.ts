import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCpTime, parseNetstatM, parseNetstatMJson, parsePsTime, parseSysctlLines, parseVmstatZ } from '../../harness/drivers/os/parsers/freebsd.js';
import { parseCpuinfo, parseKeyValueLines, parseMeminfoTotal, parseProcNetSnmp, parseProcPidStat, parseProcStat } from '../../harness/drivers/os/parsers/linux.js';

const fx = (...p: string[]) => readFileSync(path.join(__dirname, '..', 'fixtures', ...p), 'utf8');

describe('Linux parsers (fixtures captured from this machine, plus live /proc)', () => {
  it('/proc/stat: busy excludes idle and iowait', () => {
    const line = fx('linux', 'proc-stat.txt').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const t = parseProcStat(fx('linux', 'proc-stat.txt'));
    expect(t.total - t.busy).toBe(line[3] + line[4]);
    expect(t.total).toBe(line.slice(0, 8).reduce((a, b) => a + b, 0));
  });
  it('/proc/net/snmp: protocol-prefixed keys', () => {
    const s = parseProcNetSnmp(fx('linux', 'proc-net-snmp.txt'));
    expect(Object.keys(s)).toContain('Tcp.RetransSegs');
    expect(Object.keys(s)).toContain('Ip.InReceives');
    expect(Number.isFinite(s['Tcp.OutSegs'])).toBe(true);
  });
  it('/proc/vmstat and live /proc agree on the format', () => {
    const v = parseKeyValueLines(fx('linux', 'proc-vmstat.txt'));
    expect(Object.keys(v).length).toBeGreaterThan(20);
    const live = parseKeyValueLines(readFileSync('/proc/vmstat', 'utf8'));
    expect(live.pgpgin).toBeGreaterThanOrEqual(0);
  });
  it('/proc/PID/stat: command names with spaces and parens do not shift the fields', () => {
    expect(parseProcPidStat(fx('linux', 'pid-stat.txt'))).toBe(250 + 75);
    expect(parseProcPidStat(readFileSync('/proc/self/stat', 'utf8'))).toBeGreaterThanOrEqual(0);
  });
  it('cpuinfo and meminfo', () => {
    const c = parseCpuinfo(fx('linux', 'cpuinfo.txt'));
    expect(c.count).toBe((fx('linux', 'cpuinfo.txt').match(/^processor/gm) ?? []).length);
    expect(c.model).not.toBe('unknown');
    expect(parseMeminfoTotal(fx('linux', 'meminfo.txt'))).toBeGreaterThan(0);
  });
});

describe('FreeBSD parsers (fixture-tested against the documented formats)', () => {
  it('netstat -m text and libxo JSON give the same sendfile counters', () => {
    const text = parseNetstatM(fx('freebsd', 'netstat-m.txt'));
    const json = parseNetstatMJson(fx('freebsd', 'netstat-m.json'));
    expect(text).toEqual(json);
    expect(text['sendfile-syscalls']).toBe(18452);
    expect(text['sendfile-pages-sent']).toBe(131072);
    expect(text['sfbufs-alloc-wait']).toBe(0);
    expect(Object.keys(text)).toHaveLength(11);
  });
  it('netstat -m: the sfbufs-in-use line is optional and parsed where present', () => {
    expect(parseNetstatM(fx('freebsd', 'netstat-m.txt'))['nsfbufs']).toBeUndefined();
    const after = parseNetstatM(fx('freebsd', 'netstat-m-after-i386.txt'));
    expect(after).toMatchObject({ 'nsfbufs-current': 12, 'nsfbufs-peak': 340, nsfbufs: 6656, 'sfbufs-alloc-wait': 2 });
  });
  it('vmstat -z: glued FAILSLEEP header, blank line, zone names with spaces, optional XDOMAIN', () => {
    const z = parseVmstatZ(fx('freebsd', 'vmstat-z.txt'));
    expect(z.map((x) => x.name)).toEqual(['UMA Kegs', 'UMA Zones', 'pbuf', 'vnpbuf', 'mbuf_packet']);
    expect(z.find((x) => x.name === 'vnpbuf')).toEqual({ name: 'vnpbuf', size: 2744, limit: 512, used: 37, free: 91, requests: 48213, fail: 0, sleep: 12, xdomain: 0 });
    const old = parseVmstatZ(fx('freebsd', 'vmstat-z-old.txt'));
    expect(old[1]).toMatchObject({ name: 'vnpbuf', sleep: 12 });
    expect(old[1].xdomain).toBeUndefined();
  });
  it('sysctl name: value lines, multi-line kern.version keeps its first line', () => {
    const s = parseSysctlLines(fx('freebsd', 'sysctl-fingerprint.txt'));
    expect(s['hw.ncpu']).toBe('16');
    expect(s['hw.model']).toBe('Intel(R) Xeon(R) Gold 6122 CPU @ 1.80GHz');
    expect(s['kern.version']).toMatch(/^FreeBSD 15.0-CURRENT/);
    expect(Object.keys(s)).not.toContain('root@builder');
  });
  it('kern.cp_time: user nice sys intr idle', () => {
    expect(parseCpTime(fx('freebsd', 'kern-cp_time.txt'))).toEqual({ busy: 1826 + 0 + 40128 + 2210, total: 1826 + 40128 + 2210 + 6611213, machineBusy: 1826 + 0 + 40128 + 2210 });
    expect(() => parseCpTime('garbage')).toThrow(/kern.cp_time/);
  });
  it('ps time formats', () => {
    expect(parsePsTime('0:01.50')).toBeCloseTo(1.5);
    expect(parsePsTime('1:02:03.00')).toBeCloseTo(3723);
    expect(parsePsTime('2-00:00:01.00')).toBeCloseTo(172801);
  });
});
