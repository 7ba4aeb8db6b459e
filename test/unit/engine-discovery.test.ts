import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverSuites, selectSuites, suiteDirs, suitesDir } from '../../harness/engine/discovery.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hg-engine-discovery-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder of private suites: each named folder gets the sendfile manifest under its name (and optionally an index.ts). */
function privateDir(name: string, folders: Record<string, { index?: string } | 'empty'>): string {
  const dir = path.join(tmp, name);
  const base = JSON.parse(readFileSync(path.join(suitesDir(), 'sendfile', 'suite.json'), 'utf8'));
  for (const [folder, spec] of Object.entries(folders)) {
    mkdirSync(path.join(dir, folder), { recursive: true });
    if (spec === 'empty') continue;
    writeFileSync(path.join(dir, folder, 'suite.json'), JSON.stringify({ ...base, id: folder }));
    if (spec.index) writeFileSync(path.join(dir, folder, 'index.ts'), spec.index);
  }
  return dir;
}

const INDEX =
  'export default { async prepare() { return { async warmup() {}, async repetition() { throw new Error("not run"); } }; } };\n';

describe('HEADGATE_SUITES_DIR', () => {
  it('adds its folders (colon-separated) after the built-in suites/', () => {
    expect(suiteDirs({})).toEqual([suitesDir()]);
    expect(suiteDirs({ HEADGATE_SUITES_DIR: `/a${path.delimiter}b${path.delimiter}` })).toEqual([
      suitesDir(),
      '/a',
      path.resolve('b'),
    ]);
    // Naming the built-in folder again does not load it twice.
    expect(suiteDirs({ HEADGATE_SUITES_DIR: suitesDir() })).toEqual([suitesDir()]);
  });

  it('private suites load beside the built-in ones; hidden folders and node_modules are not suites', async () => {
    const dir = privateDir('private', {
      'edge-cache': { index: INDEX },
      '.git': 'empty',
      node_modules: 'empty',
      helpers: 'empty',
    });
    const ids = (await discoverSuites(suiteDirs({ HEADGATE_SUITES_DIR: dir }))).map((s) => s.manifest.id);
    expect(ids).toEqual([...(await discoverSuites()).map((s) => s.manifest.id), 'edge-cache']);
  });

  it('one suite id in two folders is an input error naming both', async () => {
    const dir = privateDir('dup', { sendfile: {} });
    const e = await discoverSuites(suiteDirs({ HEADGATE_SUITES_DIR: dir })).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(
      `suite sendfile is defined twice: ${path.join(suitesDir(), 'sendfile')} and ${path.join(dir, 'sendfile')}`,
    );
  });

  it('a folder name that is not a suite id is refused before anything in it is read', async () => {
    const dir = privateDir('badname', { Edge_Cache: 'empty' });
    const e = await discoverSuites(dir).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(
      `${path.join(dir, 'Edge_Cache')}: a suite folder name must be a suite id (^[a-z0-9][a-z0-9-]*$)`,
    );
  });

  it('a missing folder is an input error', async () => {
    const e = await discoverSuites(path.join(tmp, 'nope')).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/nope: suites folder not found$/);
  });
});

describe('selectSuites', () => {
  it('refuses a malformed --suite id before looking it up', async () => {
    const all = await discoverSuites();
    expect(() => selectSuites(all, ['../etc'])).toThrow('--suite "../etc": not a suite id (^[a-z0-9][a-z0-9-]*$)');
    expect(() => selectSuites(all, ['nosuch'])).toThrow(
      /--suite nosuch: unknown suite \(known: io-sched, ktls, pbuf, sendfile, tcp-log, tcp-stack, unmapped-mbufs\)/,
    );
    expect(selectSuites(all, ['pbuf']).map((s) => s.manifest.id)).toEqual(['pbuf']);
  });
});
