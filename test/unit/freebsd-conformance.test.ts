import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kldModuleName } from '../../harness/drivers/os/freebsd.js';
import type { SuiteManifest } from '../../harness/model/types.js';

// Every FreeBSD name headgate relies on must be a row of docs/freebsd-conformance.md's table,
// where it is checked against FreeBSD's source. Names are collected from the code as written:
// string literals of FreeBSD-only files, and suite.json knobs and proofs for freebsd.

const ROOT = path.join(__dirname, '..', '..');
const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');

/** Every file under a directory of the repository, as repository-relative paths. */
function walk(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((f) => {
    const p = path.posix.join(dir, f);
    return statSync(path.join(ROOT, p)).isDirectory() ? walk(p) : [p];
  });
}

/**
 * The names the table lists: the backticked items of each row's first cell. The table's own
 * shorthand is expanded: after a full name, a bare item is a sibling (`kern.ipc.tls.stats.active`
 * from "`kern.ipc.tls.stats.offload_total`, `active`"; a leading "…" is dropped).
 */
function listed(): Set<string> {
  const doc = read('docs/freebsd-conformance.md');
  const start = doc.indexOf('## Table');
  const rows = doc.slice(start, doc.indexOf('\n## ', start + 1)).split('\n').filter((l) => l.startsWith('| '));
  const out = new Set<string>();
  for (const row of rows) {
    const first = row.slice(2, row.indexOf(' | '));
    let prefix = '';
    for (const [, raw] of first.matchAll(/`([^`]+)`/g)) {
      const item = raw.replace(/^…/, '').trim();
      if (item.includes('.') && !raw.startsWith('…')) {
        out.add(item);
        prefix = item.slice(0, item.lastIndexOf('.') + 1);
      } else out.add(prefix + item);
      out.add(item);
      // `kern.ipc.tls.stats.ocf` (node): a node row lists the node itself.
    }
  }
  return out;
}

/** Sysctl-looking names (kern., net.inet., vm., hw., dev., security.) in string literals; Linux trees excluded. */
const SYSCTL = /['"`]((?:kern|net\.inet|vm|hw|dev|security)\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)/g;
/** UMA zones looked up by name in code (`z.name === 'tcp_log'`). */
const ZONE = /\.name === ['"`]([a-z0-9_]+)['"`]/g;
/** Counter keys the FreeBSD adapter produces, as suites name them: ktls.X, uma.ZONE.col, netstat-m.KEY. */
const COUNTER = /['"`](ktls\.[a-z0-9_.]+|uma\.[a-z0-9_]+\.(?:req|fail|sleep)|netstat-m\.[a-z0-9-]+)['"`]/g;

/** Files that speak FreeBSD only: the adapter, its parsers, FreeBSD lab drivers, and the suites' code. */
function freebsdSources(): string[] {
  const drivers = walk('harness/drivers').filter((f) => /freebsd/i.test(f) && f.endsWith('.ts'));
  const suites = walk('suites').filter((f) => f.endsWith('index.ts'));
  // The journal replays FreeBSD undo actions (sysctl, kldunload, kenv names) for every OS.
  return [...drivers, 'harness/drivers/journal.ts', ...suites];
}

/** A counter key as the FreeBSD name it stands for. */
function counterName(key: string): string {
  // ktls.ifnet.X / ktls.toe.X are the session gauges under kern.ipc.tls (not .stats).
  if (/^ktls\.(ifnet|toe)\./.test(key)) return `kern.ipc.tls.${key.slice(5)}`;
  if (key.startsWith('ktls.')) return `kern.ipc.tls.stats.${key.slice(5)}`;
  if (key.startsWith('uma.')) return key.split('.')[1];
  return key.slice('netstat-m.'.length);
}

/** Every FreeBSD name the code uses, with where it was found. */
function collect(): Map<string, string> {
  const out = new Map<string, string>();
  const add = (name: string, where: string) => {
    if (!out.has(name)) out.set(name, where);
  };
  for (const f of freebsdSources()) {
    const text = read(f).replace(/^\s*(\/\/|\*|\/\*).*$/gm, ''); // names in comments are prose, not uses
    for (const m of text.matchAll(SYSCTL)) {
      // `kern.cam.${unit}...`: a prefix of a name built at run time; its row names the pattern.
      if (text[m.index + m[0].length] !== '.') add(m[1], f);
    }
    for (const m of text.matchAll(COUNTER)) add(counterName(m[1]), f);
    for (const m of text.matchAll(ZONE)) add(m[1], f);
  }
  for (const dir of readdirSync(path.join(ROOT, 'suites'))) {
    const file = `suites/${dir}/suite.json`;
    let m: SuiteManifest;
    try {
      m = JSON.parse(read(file)) as SuiteManifest;
    } catch {
      continue;
    }
    for (const v of m.variants) {
      for (const k of Object.keys(v.knobs?.freebsd ?? {})) {
        if (k.startsWith('kld:')) {
          add(k.slice(4), `${file} ${v.id} knob`);
          add(kldModuleName(k.slice(4)), `${file} ${v.id} knob (module name)`);
        } else add(k, `${file} ${v.id} knob`);
      }
      // Other keys (tcplog.records, ...) are headgate's own sums; their sources are literals in the code.
      for (const p of v.expect?.freebsd ?? []) if (/^(ktls|uma|netstat-m)\./.test(p.counter)) add(counterName(p.counter), `${file} ${v.id} expect`);
    }
  }
  return out;
}

describe('FreeBSD conformance: every FreeBSD name in the code is in docs/freebsd-conformance.md', () => {
  it('collects the names the code uses (sanity: the collector sees the known ones)', () => {
    const names = collect();
    for (const n of ['kern.ipc.mb_use_ext_pgs', 'kern.ipc.tls.stats.offload_total', 'vnpbuf', 'mbuf', 'sendfile-io-count', 'cubic', 'cc_cubic', 'net.inet.tcp.cc.available', 'dev.hwpstate_intel.0.epp', 'tcp_log', 'net.inet.ip.fw.default_to_accept']) {
      expect([...names.keys()]).toContain(n);
    }
    expect([...names.keys()]).not.toContain('mbuf_extpgs');
  });

  it('fails when a name is not listed in the table', () => {
    const names = listed();
    const missing = [...collect()].filter(([n]) => !names.has(n));
    expect(missing.map(([n, where]) => `${n} (used in ${where})`)).toEqual([]);
  });
});
