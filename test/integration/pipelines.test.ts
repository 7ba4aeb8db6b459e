import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../helpers/cli.js';

// The pipelines in ci/ are checked the way CI can: the workflow against GitHub's workflow schema
// (action-validator), the Jenkinsfile by compiling it with Groovy (no Jenkins, so no pipeline
// linter), and the gate step's exit-code handling by running it with a scripted headgate.
const WORKFLOW = path.join(ROOT, 'ci', 'github', 'headgate-gate.yml');
const JENKINSFILE = path.join(ROOT, 'ci', 'jenkins', 'Jenkinsfile');
const JAVA_HOME = path.dirname(path.dirname(execFileSync('readlink', ['-f', execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }).trim()));
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hg-pipelines-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const validate = (file: string) => spawnSync(path.join(ROOT, 'node_modules', '.bin', 'action-validator'), [file], { encoding: 'utf8' });
const groovyCheck = (file: string) => spawnSync('groovy', [path.join(ROOT, 'ci', 'jenkins', 'check-jenkinsfile.groovy'), file], { encoding: 'utf8', env: { ...process.env, JAVA_HOME } });

describe('GitHub Actions workflow', () => {
  it('validates against the workflow schema, and a broken copy does not', async () => {
    const ok = validate(WORKFLOW);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    const bad = path.join(work, 'bad.yml');
    await writeFile(bad, (await readFile(WORKFLOW, 'utf8')).replace('runs-on: [self-hosted, headgate-lab]', 'runs_on: [self-hosted, headgate-lab]'));
    expect(validate(bad).status).not.toBe(0);
  });

  it('shards the gate as many ways as it merges, and posts the summary', async () => {
    const wf = parseYaml(await readFile(WORKFLOW, 'utf8'));
    const shards = Number(wf.env.SHARDS);
    expect(wf.jobs.gate.strategy.matrix.shard).toEqual(Array.from({ length: shards }, (_, i) => i + 1));
    const runs = (job: string) => wf.jobs[job].steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    expect(runs('gate')).toMatch(/npx headgate gate .*--shard "\$\{\{ matrix\.shard \}\}\/\$SHARDS"/s);
    expect(runs('verdict')).toMatch(/npx headgate merge /);
    expect(runs('verdict')).toMatch(/GITHUB_STEP_SUMMARY/);
    expect(wf.jobs.verdict.needs).toBe('gate');
    // The deploy hook runs once, before any shard: a shard's deploy would reboot hosts another shard gates.
    expect(wf.jobs.gate.needs).toBe('deploy');
    expect(runs('deploy')).toMatch(/deploy\.sh os-build "\$TARGET"/);
    expect(runs('gate')).not.toMatch(/deploy/);
  });

  it('retries only infrastructure errors (3), never a regression (1)', async () => {
    const wf = parseYaml(await readFile(WORKFLOW, 'utf8'));
    const step = wf.jobs.gate.steps.find((s: { id?: string }) => s.id === 'gate');
    const script = (step.run as string).replace(/\$\{\{ matrix\.shard \}\}/g, '2');
    // A scripted `npx`: exits with the next code from a list, logging each call.
    const bin = path.join(work, 'bin');
    await execFileSync('mkdir', ['-p', bin]);
    await writeFile(path.join(bin, 'npx'), '#!/bin/sh\necho "$*" >> "$HG_CALLS"\ncode=$(head -n1 "$HG_CODES"); sed -i 1d "$HG_CODES"; exit "$code"\n');
    await chmod(path.join(bin, 'npx'), 0o755);
    const run = async (codes: number[]) => {
      const calls = path.join(work, `calls-${codes.join('')}`);
      const list = path.join(work, `codes-${codes.join('')}`);
      const out = path.join(work, `out-${codes.join('')}`);
      await writeFile(list, codes.join('\n') + '\n');
      await writeFile(out, '');
      const r = spawnSync('bash', ['-e', '-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, HG_CALLS: calls, HG_CODES: list, GITHUB_OUTPUT: out, GITHUB_WORKSPACE: work, SHARDS: '3', TARGET: 'group:merge-gate' } });
      const n = (await readFile(calls, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      return { status: r.status, calls: n, output: (await readFile(out, 'utf8')).trim(), stdout: r.stdout };
    };
    const flaky = await run([3, 0]);
    expect(flaky).toMatchObject({ status: 0, output: 'code=0' });
    expect(flaky.calls).toHaveLength(2);
    expect(flaky.calls[0]).toContain('headgate gate --target group:merge-gate --shard 2/3');
    expect(flaky.stdout).toContain('::warning title=headgate::shard 2: infrastructure error (exit 3), retrying once');
    const regression = await run([1]);
    expect(regression).toMatchObject({ status: 0, output: 'code=1' });
    expect(regression.calls).toHaveLength(1);
    const down = await run([3, 3]);
    expect(down).toMatchObject({ status: 0, output: 'code=3' });
    expect(down.calls).toHaveLength(2);
  });
});

describe('Jenkinsfile', () => {
  it('parses as Groovy, and a broken copy does not', async () => {
    const ok = groovyCheck(JENKINSFILE);
    expect(ok.status, ok.stderr).toBe(0);
    const bad = path.join(work, 'Jenkinsfile');
    const text = await readFile(JENKINSFILE, 'utf8');
    await writeFile(bad, text.slice(0, text.lastIndexOf('}')));
    const r = groovyCheck(bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Jenkinsfile: does not parse: .*line \d+/);
  }, 60_000);

  it('has as many shard axis values as it merges, and publishes JUnit and Allure', async () => {
    const text = await readFile(JENKINSFILE, 'utf8');
    const shards = Number(/def SHARDS = (\d+)/.exec(text)![1]);
    const values = /name 'SHARD'\s+values ([^\n]+)/.exec(text)![1].split(',').map((v) => Number(v.trim().replace(/'/g, '')));
    expect(values).toEqual(Array.from({ length: shards }, (_, i) => i + 1));
    expect(text).toMatch(/npx headgate gate .*--shard \$\{shard\}\/\$\{shards\}/s);
    // One deploy stage before the shards' matrix, none inside it.
    const deployAt = text.indexOf("stage('Deploy (user hook)')");
    expect(deployAt).toBeGreaterThan(0);
    expect(deployAt).toBeLessThan(text.indexOf("stage('Gate')"));
    expect(text.slice(text.indexOf("stage('Gate')"), text.indexOf("stage('Verdict')"))).not.toMatch(/deploy\.sh/);
    expect(text).toMatch(/npx headgate merge /);
    expect(text).toMatch(/junit .*merged\/\*\/junit\.xml/);
    expect(text).toMatch(/allure .*merged\/\*\/allure-results/);
  });
});
