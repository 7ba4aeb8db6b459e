import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS, configSchema, envOf, flagOf, optionsMarkdown, planGateSchema, resolveGateOptions, runOptionsOf, settingsOf, verdictOverrides } from '../../harness/model/options.js';
import { loadConfigFile } from '../../harness/cli/options.js';
import { loadDoc, validateDoc } from '../../harness/model/validate.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

const tmp = () => tempDir('hg-config-');

async function inputErrorOf(p: Promise<unknown>): Promise<HeadgateError> {
  const e = await p.then(() => null, (x) => x);
  expect(e).toBeInstanceOf(HeadgateError);
  expect((e as HeadgateError).exitCode).toBe(2);
  return e as HeadgateError;
}

describe('configuration files', () => {
  it('reports every error at once, naming the file and each key', async () => {
    const f = path.join(tmp(), 'headgate.config.yaml');
    writeFileSync(f, 'schemaVersion: 2\nruns: one\nconections: 8\nobjectsMib: 0\n');
    const e = await inputErrorOf(loadDoc('config', f));
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.message).toContain(f);
    expect(e.message).toContain('/runs: must be integer');
    expect(e.message).toContain('conections: unknown key');
    expect(e.message).toContain('/objectsMib: must be >= 1');
    // A version-1 file is checked under the names it was written with.
    writeFileSync(f, 'schemaVersion: 1\nobjects:\n  totalMiB: 0\n');
    expect((await inputErrorOf(loadDoc('config', f))).message).toContain('/objects/totalMiB: must be >= 1');
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
    // A version-1 file (old key names) is read through its migration.
    writeFileSync(path.join(d, 'headgate.config.json'), JSON.stringify({ schemaVersion: 1, runs: 10, connections: 4, serverDirectives: ['limit_rate 1m'], objects: { totalMiB: 64 } }));
    const cfg = (await loadConfigFile(undefined, d))!;
    expect(cfg.upgradedFrom).toBe(1);
    const g = resolveGateOptions({ config: cfg, env: { HEADGATE_CONNECTIONS: '6', HEADGATE_RUNS: '5' }, flags: { runs: 3, quick: true, serverDirective: ['aio on'] } });
    const options = runOptionsOf(g);
    expect(options.runs).toBe(3);
    expect(options.connections).toBe(6);
    expect(options.durationSec).toBe(2);
    expect(options.objects.totalMiB).toBe(64);
    expect(options.serverDirectives).toEqual(['limit_rate 1m', 'aio on']);
    expect(settingsOf(g).target).toBe('local');
  });

  it('a run record built by the harness validates against the run schema', () => {
    expect(() => validateDoc('run', makeRun({ a: { throughput_gbps: [1, 2] } }), 'run.json')).not.toThrow();
    const bad = { ...makeRun({ a: { throughput_gbps: [1, 2] } }), status: 'weird' };
    expect(() => validateDoc('run', bad, 'run.json')).toThrow(/run.json: invalid run: \/status: must be one of/);
  });
});

describe('one options model', () => {
  it('every value flag of gate, parsed by commander, lands in the run options or settings', async () => {
    const { Command } = await import('commander');
    const { addOptions, givenFlags, GROUPS } = await import('../../harness/cli/options.js');
    const cmd = addOptions(new Command('gate'), GROUPS.gate).exitOverride();
    const argv = ['--target', 'local', '--suite', 'a', '--variant', 'v', '--runs', '5', '--duration', '3', '--warmup', '2', '--connections', '4', '--rate', '100', '--quick',
      '--block-device', '/dev/loop9', '--step-timeout', '7', '--server-url', 'http://127.0.0.1:1', '--server-workers', '2', '--server-cpus', '1',
      '--server-directive', 'sendfile off', '--objects-mib', '2048', '--cold-objects-mib', '512', '--seed', '9', '--out', 'o', '--baselines', 'b', '--profile', 'p',
      '--alpha', '0.02', '--max-runs', '9', '--no-adaptive', '--min-effect', '2%'];
    cmd.parse(argv, { from: 'user' });
    const g = resolveGateOptions({ flags: givenFlags(cmd) });
    expect(runOptionsOf(g)).toMatchObject({
      suites: ['a'], variants: ['v'], runs: 5, durationSec: 3, warmupSec: 2, connections: 4, rate: 100, quick: true, blockDevice: '/dev/loop9', stepTimeoutSec: 7,
      serverUrl: 'http://127.0.0.1:1', serverWorkers: 2, serverCpus: [1], serverDirectives: ['sendfile off'], objects: { seed: 9, totalMiB: 2048, coldMiB: 512 },
    });
    expect(settingsOf(g)).toMatchObject({ target: 'local', reportsDir: 'o', baselinesDir: 'b', profile: 'p', alpha: 0.02 });
    expect(g).toMatchObject({ maxRuns: 9, adaptive: false, minEffect: 0.02 });
  });

  it('each option is a flag, a config key, an environment variable and (where it makes sense) a plan key, with the same limits', async () => {
    const { Command } = await import('commander');
    const { addOptions, GROUPS } = await import('../../harness/cli/options.js');
    const gate = addOptions(new Command('gate'), GROUPS.gate);
    const longs = new Set(gate.options.map((o) => o.long));
    const config = (configSchema().properties as Record<string, unknown>);
    const plan = (planGateSchema().properties as Record<string, unknown>);
    for (const o of OPTIONS) {
      const flag = o.kind === 'boolean' && o.default === true ? `--no-${flagOf(o.key).slice(2)}` : flagOf(o.key);
      expect(longs.has(flag), flag).toBe(true);
      expect(config[o.key], o.key).toBeDefined();
      expect(!!plan[o.key], `plan ${o.key}`).toBe(!!o.plan);
      expect(optionsMarkdown()).toContain(envOf(o.key));
    }
    // The same bad value is refused from every source, naming where it came from.
    const bad = (p: () => unknown) => {
      try {
        p();
      } catch (e) {
        expect((e as HeadgateError).exitCode).toBe(2);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad(() => resolveGateOptions({ flags: { alpha: 0 } }))).toBe('--alpha 0: must be > 0');
    expect(bad(() => resolveGateOptions({ env: { HEADGATE_ALPHA: '7' } }))).toBe('HEADGATE_ALPHA=7: must be <= 0.2');
    expect(bad(() => resolveGateOptions({ config: { file: 'h.yaml', values: { alpha: 0 } } }))).toBe('h.yaml: alpha: must be > 0');
    expect(bad(() => resolveGateOptions({ plan: { file: 'plan.yaml', values: { runs: 1 } } }))).toBe('plan.yaml: gate/runs: must be >= 2');
    for (const [k, v] of [['runs', 1000000], ['stepTimeout', 0], ['serverWorkers', 0], ['objectsMib', 0], ['runs', 'abc']] as const) {
      expect(bad(() => resolveGateOptions({ flags: { [k]: v } }))).toMatch(new RegExp(`^${flagOf(k)} ${v}: must`));
    }
    expect(bad(() => resolveGateOptions({ flags: { runs: 8, maxRuns: 4 } }))).toMatch(/--max-runs 4: must be at least --runs \(8\)/);
  });
});

describe('docs/options.md', () => {
  it('is what `headgate options --markdown` generates', async () => {
    const { readFileSync } = await import('node:fs');
    const { optionsDoc } = await import('../../harness/cli/options-command.js');
    const { ROOT } = await import('../helpers/cli.js');
    expect(readFileSync(path.join(ROOT, 'docs', 'options.md'), 'utf8')).toBe(optionsDoc());
  });
});

describe('rollout plans through the options schema', () => {
  it('a version-2 plan gate block is checked with the options limits; a version-1 plan is upgraded', async () => {
    const { loadPlan } = await import('../../harness/app/rollout/plan.js');
    const d = tmp();
    const plan = (v: number, gate: string) => `schemaVersion: ${v}\nname: p\nbuild: b\ndeploy: {command: "true"}\ngate: ${gate}\nphases:\n  - {name: lab, targets: local}\n`;
    writeFileSync(path.join(d, 'ok.yaml'), plan(2, '{runs: 4, waitLock: 30, requireBaseline: false}'));
    expect((await loadPlan(path.join(d, 'ok.yaml'))).plan.gate).toEqual({ runs: 4, waitLock: 30, requireBaseline: false });
    writeFileSync(path.join(d, 'bad.yaml'), plan(2, '{waitLock: -1, target: x}'));
    const e = await inputErrorOf(loadPlan(path.join(d, 'bad.yaml')));
    expect(e.message).toContain('/gate/waitLock: must be >= 0');
    expect(e.message).toContain('gate/target: unknown key');
    writeFileSync(path.join(d, 'v1.yaml'), plan(1, '{durationSec: 2, objectsMiB: 8}'));
    const v1 = await loadPlan(path.join(d, 'v1.yaml'));
    expect(v1.upgradedFrom).toBe(1);
    expect(v1.plan.gate).toEqual({ duration: 2, objectsMib: 8 });
  });
});

describe('verdict settings away from their defaults are named with their source (audit L7)', () => {
  it('a variable, a flag and a config key each show; a value equal to the default or a run option does not', () => {
    const lines = verdictOverrides({
      config: { file: 'headgate.yaml', values: { minEffect: 0.2, runs: 3 } },
      env: { HEADGATE_ON_INCONCLUSIVE: 'pass', HEADGATE_ALPHA: '0.01' },
      flags: { maxRuns: 30 },
    });
    expect(lines).toEqual(['headgate.yaml: minEffect', 'HEADGATE_ON_INCONCLUSIVE=pass', '--max-runs 30']);
    // A later source that puts it back to the default clears it.
    expect(verdictOverrides({ env: { HEADGATE_ON_INCONCLUSIVE: 'pass' }, flags: { onInconclusive: 'exit4' } })).toEqual([]);
  });
});
