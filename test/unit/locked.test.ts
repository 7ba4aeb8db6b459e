import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// H9: a CI deploy runs under the target's machine lock (`headgate locked -- CMD`), so a gate of
// another pipeline cannot measure the target while it is being replaced.

describe('headgate locked', () => {
  it("runs the command while the machine's lock names it, releases it after, and exits with the command's code", async () => {
    const home = path.join(tempDir('hg-locked-'), 'home');
    mkdirSync(home, { mode: 0o700 });
    const r = await cli(['locked', '--target', 'local', '--', 'sh', '-c', 'cat "$0/lock/owner.json"; echo "targets=$HEADGATE_TARGETS"; exit 7', home], { HEADGATE_STATE_DIR: home });
    expect(r.code, r.stderr).toBe(7);
    expect(JSON.parse(r.stdout.split('\n')[0]).runId).toMatch(/^locked-\d+$/);
    expect(r.stdout).toContain('targets=local');
    expect(existsSync(path.join(home, 'lock'))).toBe(false);
  });

  it('a machine another run holds is exit 3 naming the holder, and the command never runs', async () => {
    const home = path.join(tempDir('hg-locked-'), 'home');
    mkdirSync(home, { mode: 0o700 });
    const canary = path.join(path.dirname(home), 'ran');
    // The holder: this test process (alive), written as headgate writes its lock.
    const { localMachine, pidNamespace, processStart } = await import('../../harness/lib/machine.js');
    const { writeFileSync } = await import('node:fs');
    mkdirSync(path.join(home, 'lock'), { mode: 0o700 });
    writeFileSync(path.join(home, 'lock', 'owner.json'), JSON.stringify({ host: (await import('node:os')).hostname(), pid: process.pid, runId: 'gate-run', since: new Date().toISOString(), machine: localMachine().id, boot: localMachine().boot, pidns: pidNamespace(), start: processStart(process.pid), token: 't' }));
    const r = await cli(['locked', '--target', 'local', '--', 'touch', canary], { HEADGATE_STATE_DIR: home });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('target local: locked by run gate-run');
    expect(existsSync(canary)).toBe(false);
  });
});
