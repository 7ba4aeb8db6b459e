import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, resolveOptions } from '../../harness/model/options.js';
import { loadDoc, validateDoc } from '../../harness/model/validate.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { makeRun } from '../helpers/records.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'hg-config-'));

async function inputErrorOf(p: Promise<unknown>): Promise<HeadgateError> {
  const e = await p.then(() => null, (x) => x);
  expect(e).toBeInstanceOf(HeadgateError);
  expect((e as HeadgateError).exitCode).toBe(2);
  return e as HeadgateError;
}

describe('configuration files', () => {
  it('reports every error at once, naming the file and each key', async () => {
    const f = path.join(tmp(), 'headgate.config.yaml');
    writeFileSync(f, 'schemaVersion: 1\nruns: one\nconections: 8\nobjects:\n  totalMiB: 0\n');
    const e = await inputErrorOf(loadDoc('config', f));
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.message).toContain(f);
    expect(e.message).toContain('/runs: must be integer');
    expect(e.message).toContain('conections: unknown key');
    expect(e.message).toContain('/objects/totalMiB: must be >= 1');
  });

  it('says which version wrote a file from another release instead of crashing', async () => {
    const f = path.join(tmp(), 'c.json');
    writeFileSync(f, JSON.stringify({ schemaVersion: 0, runs: 3 }));
    expect((await inputErrorOf(loadDoc('config', f))).message).toMatch(/schema version 0.*headgate migrate/);
    writeFileSync(f, JSON.stringify({ schemaVersion: 7 }));
    expect((await inputErrorOf(loadDoc('config', f))).message).toMatch(/version 7.*upgrade headgate/);
  });

  it('syntax errors name the file', async () => {
    const f = path.join(tmp(), 'c.json');
    writeFileSync(f, '{"schemaVersion": 1,');
    expect((await inputErrorOf(loadDoc('config', f))).message).toMatch(new RegExp(`${f}: not valid JSON`));
    expect((await inputErrorOf(loadDoc('config', path.join(tmp(), 'missing.json')))).message).toMatch(/no such file/);
  });

  it('flags override the config file, which overrides the defaults', async () => {
    const d = tmp();
    writeFileSync(path.join(d, 'headgate.config.json'), JSON.stringify({ schemaVersion: 1, runs: 10, connections: 4, serverDirectives: ['limit_rate 1m'] }));
    const { config } = await loadConfigFile(undefined, d);
    const r = resolveOptions(config, { runs: 3, quick: true, serverDirective: ['aio on'] });
    expect(r.options.runs).toBe(3);
    expect(r.options.connections).toBe(4);
    expect(r.options.durationSec).toBe(2);
    expect(r.options.serverDirectives).toEqual(['limit_rate 1m', 'aio on']);
    expect(r.settings.target).toBe('local');
  });

  it('a run record built by the harness validates against the run schema', () => {
    expect(() => validateDoc('run', makeRun({ a: { throughput_gbps: [1, 2] } }), 'run.json')).not.toThrow();
    const bad = { ...makeRun({ a: { throughput_gbps: [1, 2] } }), status: 'weird' };
    expect(() => validateDoc('run', bad, 'run.json')).toThrow(/run.json: invalid run: \/status: must be one of/);
  });
});

describe('run flags reach the run options', () => {
  it('every value flag of run/gate, parsed by commander, lands in options or settings', async () => {
    const { Command } = await import('commander');
    const { addRunFlags } = await import('../../harness/cli/common.js');
    const cmd = addRunFlags(new Command('gate')).exitOverride();
    const argv = ['--target', 'local', '--suite', 'a', '--variant', 'v', '--runs', '5', '--duration', '3', '--warmup', '2', '--connections', '4', '--rate', '100', '--quick',
      '--block-device', '/dev/loop9', '--step-timeout', '7', '--server-url', 'http://127.0.0.1:1', '--server-workers', '2', '--server-cpus', '1',
      '--server-directive', 'sendfile off', '--objects-mib', '2048', '--cold-objects-mib', '512', '--seed', '9', '--out', 'o', '--baselines', 'b', '--profile', 'p'];
    cmd.parse(argv, { from: 'user' });
    const { options, settings } = resolveOptions({ schemaVersion: 1 }, cmd.opts());
    expect(options).toMatchObject({
      suites: ['a'], variants: ['v'], runs: 5, durationSec: 3, warmupSec: 2, connections: 4, rate: 100, quick: true, blockDevice: '/dev/loop9', stepTimeoutSec: 7,
      serverUrl: 'http://127.0.0.1:1', serverWorkers: 2, serverCpus: [1], serverDirectives: ['sendfile off'], objects: { seed: 9, totalMiB: 2048, coldMiB: 512 },
    });
    expect(settings).toMatchObject({ target: 'local', reportsDir: 'o', baselinesDir: 'b', profile: 'p' });
  });
});
