import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNoKeyArtifacts, makeCertificate } from '../../harness/drivers/servers/tls.js';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { CleanupStack } from '../../harness/lib/cleanup.js';
import { tempDir } from '../helpers/temp.js';

/** Every file below dir (relative paths). */
const walk = (dir: string, base = dir): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name), base) : [path.relative(base, path.join(dir, d.name))]));

describe('TLS private keys never land in the run directory', () => {
  // The local target journals the key directory: into a journal of this test's own, not the machine's.
  const stateBefore = process.env.HEADGATE_STATE_DIR;
  beforeAll(() => {
    process.env.HEADGATE_STATE_DIR = tempDir('hg-tls-state-');
  });
  afterAll(() => {
    if (stateBefore === undefined) delete process.env.HEADGATE_STATE_DIR;
    else process.env.HEADGATE_STATE_DIR = stateBefore;
  });

  it('the certificate goes to the run directory, the key to a 0700 directory under the work/tmp dir, removed on the stack', async () => {
    const runDir = tempDir('hg-tls-run-');
    const workTmp = tempDir('hg-tls-tmp-');
    const stack = new CleanupStack();
    const pair = await makeCertificate(new LocalTarget(), { certDir: path.join(runDir, 'tls'), keyParent: workTmp, address: '127.0.0.1' }, stack);
    expect(pair.cert).toBe(path.join(runDir, 'tls', 'server.crt'));
    expect(readFileSync(pair.cert, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(path.dirname(pair.keyDir)).toBe(workTmp);
    expect(statSync(pair.keyDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(pair.key, 'utf8')).toMatch(/PRIVATE KEY/);
    // Nothing in the run directory (what reports and CI artifacts are made of) is or holds the key.
    for (const f of walk(runDir)) expect(readFileSync(path.join(runDir, f), 'utf8')).not.toMatch(/PRIVATE KEY/);
    expect(walk(runDir)).toEqual(['tls/server.crt']);

    // The server's artifacts (nginx.conf, error.log) may name the key inside the config, but no artifact is the key.
    const artifacts = { 'nginx.conf': path.join(runDir, 'servers', 'nginx.conf'), 'error.log': path.join(runDir, 'servers', 'error.log') };
    expect(() => checkNoKeyArtifacts(artifacts, pair)).not.toThrow();
    expect(() => checkNoKeyArtifacts({ ...artifacts, key: pair.key }, pair)).toThrow(/TLS private key/);
    expect(() => checkNoKeyArtifacts({ dir: `${pair.keyDir}/` }, pair)).toThrow(/TLS private key/);
    // As run.json records them (relative to the run directory), no artifact path names the key.
    const recorded = Object.values(artifacts).map((f) => path.relative(runDir, f));
    expect(recorded.some((r) => r.includes('server.key') || path.resolve(runDir, r).startsWith(pair.keyDir))).toBe(false);

    // Journaled before it existed, marked done when removed.
    const journal = readFileSync(path.join(process.env.HEADGATE_STATE_DIR!, 'journal.jsonl'), 'utf8');
    expect(journal).toContain(`"path":"${pair.keyDir}"`);
    expect(await stack.unwind()).toEqual([]);
    expect(existsSync(pair.keyDir)).toBe(false);
    expect(existsSync(pair.cert)).toBe(true);
  });
});
