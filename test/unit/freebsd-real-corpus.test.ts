/**
 * The corpus of real, published FreeBSD command outputs (test/fixtures/freebsd/real, see its
 * README.md and PROVENANCE.json). Every expectation is derived from the sample text itself by a
 * simple independent reading (a line count, a first column), never a typed-in number.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  parseCcAvailable,
  parseCpTime,
  parseCpTimes,
  parseIfconfigOptions,
  parseNetstatM,
  parsePciconfNics,
  parseSysctlLines,
  parseTcpFunctions,
  parseRouteGetInterface,
  parseVmstatZ,
} from '../../harness/drivers/os/parsers/freebsd.js';
import { parseBoottime } from '../../harness/lib/machine.js';

const ROOT = fileURLToPath(new URL('../fixtures/freebsd/real/', import.meta.url));

interface Provenance {
  file: string;
  command: string;
  freebsdVersion: string;
  branch: '12' | '13' | '14' | '15/head' | 'unknown';
  url: string;
  retrieved: string;
  trimmed: string | null;
  notes: string;
}

const PROVENANCE = JSON.parse(readFileSync(path.join(ROOT, 'PROVENANCE.json'), 'utf8')) as Provenance[];

/**
 * Real samples a current parser reads wrongly, by sample file and parser: reported as `todo`
 * (not asserted) until the parser is fixed. Each reason says what the parser gets wrong.
 */
const KNOWN_PARSER_GAPS: Record<string, Record<string, string>> = {
  'pciconf-lv/14.0-current-bsdhw-valve-jupiter-rtw88.txt': {
    'parsePciconfNics driver':
      'selector "rtw880@pci0:..." is driver rtw88 unit 0, but the lazy NAME(\\d+)@ split gives driver "rtw" (unit 880): a driver name ending in a digit (rtw88, rtw89) is cut',
  },
};
const gapFor = (f: string, parser: string) => KNOWN_PARSER_GAPS[f]?.[parser];

function txtFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...txtFiles(dir, r));
    else if (name.endsWith('.txt')) out.push(r);
  }
  return out.sort();
}

const FILES = txtFiles(ROOT);
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');
const under = (dir: string) => FILES.filter((f) => f.startsWith(`${dir}/`));
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('the real FreeBSD corpus: provenance', () => {
  it('has a PROVENANCE entry for every sample and a sample for every entry', () => {
    expect(PROVENANCE.map((p) => p.file).sort()).toEqual(FILES);
  });

  it('cites an https URL, a branch, a retrieval date and a command for every sample', () => {
    for (const p of PROVENANCE) {
      expect(new URL(p.url).protocol, p.file).toBe('https:');
      expect(['12', '13', '14', '15/head', 'unknown'], p.file).toContain(p.branch);
      expect(p.retrieved, p.file).toBe('2026-12-07');
      expect(p.command.length, p.file).toBeGreaterThan(0);
      expect(p.freebsdVersion.length, p.file).toBeGreaterThan(0);
      if (p.branch === 'unknown') expect(p.freebsdVersion.startsWith('unknown'), p.file).toBe(true);
    }
  });
});

describe('the real FreeBSD corpus: parsers', () => {
  for (const f of under('sysctl-cc-available')) {
    it(`parseCcAvailable: ${f}`, () => {
      const text = read(f);
      // 14 and head: a "CCmod D PCB count" table, names in the first column of the rows after it;
      // 13 and older: `sysctl name` prints "name: a, b", the list after the name.
      const rows = lines(text);
      const header = rows.findIndex((l) => l.startsWith('CCmod'));
      const value = header >= 0 ? text : (/^net\.inet\.tcp\.cc\.available: (.*)$/m.exec(text)?.[1] ?? text);
      const expected =
        header >= 0
          ? rows.slice(header + 1).map((r) => r.trim().split(/\s+/)[0])
          : value.split(',').map((x) => x.trim());
      expect(expected.length).toBeGreaterThan(0);
      expect(parseCcAvailable(value)).toEqual(expected);
    });
  }

  for (const f of under('sysctl-functions-available')) {
    it(`parseTcpFunctions: ${f}`, () => {
      const rows = lines(read(f)).slice(1); // first line is the "Stack D Alias PCB count" header
      const got = parseTcpFunctions(read(f));
      expect(got.map((s) => s.stack)).toEqual(rows.map((r) => r.trim().split(/\s+/)[0]));
      expect(got.map((s) => s.isDefault)).toEqual(rows.map((r) => r.trim().split(/\s+/).includes('*')));
      expect(got.map((s) => s.pcbs)).toEqual(rows.map((r) => Number(r.trim().split(/\s+/).pop())));
    });
  }

  for (const f of FILES.filter(
    (x) =>
      /^sysctl-[^/]+\/[^/]+\.txt$/.test(x) &&
      !x.startsWith('sysctl-cc-available/') &&
      !x.startsWith('sysctl-functions-available/'),
  )) {
    it(`parseSysctlLines: ${f}`, () => {
      const node = f.split('/')[0].slice('sysctl-'.length);
      const text = read(f);
      expect(parseSysctlLines(text)).toEqual({ [node]: text.slice(text.indexOf(': ') + 2).trim() });
    });
  }

  for (const f of under('sysctl-kern.cp_time')) {
    it(`parseCpTime: ${f}`, () => {
      const nums = parseSysctlLines(read(f))['kern.cp_time'].split(' ').map(Number);
      const r = parseCpTime(parseSysctlLines(read(f))['kern.cp_time']);
      expect(r.total).toBe(nums.reduce((a, b) => a + b, 0));
      expect(r.total - r.busy).toBe(nums[4]); // CP_IDLE is the fifth field
    });
  }

  for (const f of under('sysctl-kern.cp_times')) {
    it(`parseCpTimes: ${f}`, () => {
      const value = parseSysctlLines(read(f))['kern.cp_times'];
      const nums = value.split(' ').map(Number);
      const r = parseCpTimes(value);
      expect(r.total).toBe(nums.reduce((a, b) => a + b, 0));
      expect(r.cpus).toBeLessThanOrEqual(nums.length / 5);
      expect(r.cpus).toBeGreaterThan(0);
    });
  }

  it('parseBoottime: sysctl-kern.boottime-12.1.txt', () => {
    const text = read('sysctl-kern.boottime-12.1.txt');
    const [sec, usec] = text
      .split('{')[1]
      .split('}')[0]
      .split(',')
      .map((kv) => kv.split('=')[1].trim());
    expect(parseBoottime(text)).toBe(`${sec}.${usec.padStart(6, '0')}`);
  });

  for (const f of under('netstat-m')) {
    it(`parseNetstatM: ${f}`, () => {
      // The sendfile/sfbuf block is the tail of netstat -m, from "N sendfile syscalls" on; an
      // "a/b/c sfbufs in use" line (some kernels) yields three keys.
      const all = lines(read(f));
      const block = all.slice(all.findIndex((l) => / sendfile syscalls$/.test(l)));
      const got = parseNetstatM(read(f));
      expect(Object.keys(got).length).toBe(block.length + 2 * block.filter((l) => l.includes('sfbufs in use')).length);
      expect(got['sendfile-syscalls']).toBe(Number(block[0].split(' ')[0]));
    });
  }

  for (const f of under('vmstat-z')) {
    it(`parseVmstatZ: ${f}`, () => {
      const dataLines = lines(read(f)).filter((l) => l.includes(':'));
      const got = parseVmstatZ(read(f));
      expect(got.length).toBe(dataLines.length);
      expect(got.map((z) => z.name)).toEqual(dataLines.map((l) => l.split(':')[0].trim()));
      expect(got.map((z) => z.size)).toEqual(dataLines.map((l) => Number(l.split(':')[1].split(',')[0])));
    });
  }

  for (const f of under('pciconf-lv')) {
    it(`parsePciconfNics: ${f}`, () => {
      // Selector lines start in column 0 with NAME@pci; a device's class line follows it.
      const blocks = read(f).split(/\n(?=\S)/);
      const nics = blocks.filter((b) => /\n\s+class\s+= network\n/.test(`${b}\n`) && !b.startsWith('none'));
      const got = parsePciconfNics(read(f));
      expect(got.map((n) => n.name)).toEqual(nics.map((b) => b.split('@')[0]));
    });
    const gap = gapFor(f, 'parsePciconfNics driver');
    if (gap) it.todo(`parsePciconfNics driver: ${f}: ${gap}`);
  }

  for (const f of under('route-get')) {
    it(`parseRouteGetInterface: ${f}`, () => {
      // route get prints the interface on a line of its own, "  interface: NAME".
      const line = lines(read(f)).find((l) => l.trim().startsWith('interface: ')) ?? '';
      expect(line).not.toBe('');
      expect(parseRouteGetInterface(read(f))).toBe(line.trim().split(' ')[1]);
    });
  }

  for (const f of under('ifconfig')) {
    it(`parseIfconfigOptions: ${f}`, () => {
      const line = lines(read(f)).find((l) => /^\s*options[= ]/.test(l)) ?? '';
      const names = line.includes('<')
        ? line.split('<')[1].split('>')[0].split(',')
        : line.trim().split(' ')[1].split(',');
      expect(parseIfconfigOptions(read(f))).toEqual(names);
    });
  }
});

/**
 * Every FreeBSD output parser: the corpus directories it is run on above, or why it is "source
 * only" (no real published sample found; its fixtures are printed from upstream format strings).
 */
const PARSER_EVIDENCE: Record<string, { real: string[] } | { sourceOnly: string }> = {
  parseSysctlLines: { real: ['sysctl-hw.model', 'sysctl-kern.osrelease', 'sysctl-kern.hostuuid'] },
  parseCpTime: { real: ['sysctl-kern.cp_time'] },
  parseCpTimes: { real: ['sysctl-kern.cp_times'] },
  parseNetstatM: { real: ['netstat-m'] },
  parseNetstatMJson: { sourceOnly: 'no published netstat -m --libxo json output found (mbuf.c format strings)' },
  parseVmstatZ: { real: ['vmstat-z'] },
  parsePsTime: { sourceOnly: 'no published ps -o time output of a FreeBSD host found (ps/print.c printtime)' },
  parseTlsStats: { sourceOnly: 'no published sysctl kern.ipc.tls.stats output found (uipc_ktls.c, ktls_ocf.c)' },
  parseNetstatTcp: { sourceOnly: 'no published netstat -s -p tcp output found (inet.c tcp_stats)' },
  parseTcpFunctions: { real: ['sysctl-functions-available'] },
  parsePciconfNics: { real: ['pciconf-lv'] },
  parseCcAvailable: { real: ['sysctl-cc-available'] },
  parseRouteGetInterface: { real: ['route-get'] },
  parseIfconfigOptions: { real: ['ifconfig'] },
  parseIostatXI: { sourceOnly: 'no published iostat -x -I output found (iostat.c devstats)' },
  parseMountP: { sourceOnly: 'no published mount -p output found (mount.c putfsent; fixture mount-p.txt printed from it)' },
  parseZpoolVdevs: { sourceOnly: 'no published zpool status -P output found (the corpus zpool-status sample is without -P)' },
};

describe('the real FreeBSD corpus: known parser gaps', () => {
  it('names existing samples only, each with a reason', () => {
    for (const [f, gaps] of Object.entries(KNOWN_PARSER_GAPS)) {
      expect(FILES, f).toContain(f);
      for (const reason of Object.values(gaps)) expect(reason.length, f).toBeGreaterThan(20);
    }
  });
});

describe('the real FreeBSD corpus: every parser has a real sample or says it has none', () => {
  it('each parse* export of parsers/freebsd.ts is listed, with existing samples or a source-only reason', async () => {
    const mod = await import('../../harness/drivers/os/parsers/freebsd.js');
    const parsers = Object.keys(mod).filter((k) => k.startsWith('parse')).sort();
    expect(Object.keys(PARSER_EVIDENCE).sort()).toEqual(parsers);
    for (const [name, ev] of Object.entries(PARSER_EVIDENCE)) {
      if ('sourceOnly' in ev) expect(ev.sourceOnly.length, name).toBeGreaterThan(20);
      else for (const dir of ev.real) expect(under(dir).length, `${name}: ${dir}`).toBeGreaterThan(0);
    }
  });
});
