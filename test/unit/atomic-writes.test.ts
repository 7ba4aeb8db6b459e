import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSteps } from '../../harness/app/bisect.js';
import { saveRun } from '../../harness/engine/runner.js';
import { writeFailure } from '../../harness/lib/atomic.js';
import { appendJsonLine, readJsonLines } from '../../harness/lib/jsonl.js';
import { HeadgateError } from '../../harness/model/errors.js';
import { loadRunRecord } from '../../harness/store/runs.js';
import { withFileSizeLimit } from '../helpers/fsize.js';
import { makeRun } from '../helpers/records.js';
import { tempDir } from '../helpers/temp.js';

const errno = (code: string) => Object.assign(new Error(`${code}: failed, write`), { code });

describe('a write with no room', () => {
  it('ENOSPC, EDQUOT and EFBIG are infrastructure errors (exit 3) naming the file; other errors are left alone', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EFBIG']) {
      const e = writeFailure('/r/run.json', errno(code)) as HeadgateError;
      expect(e).toBeInstanceOf(HeadgateError);
      expect(e.exitCode).toBe(3);
      expect(e.message).toMatch(
        new RegExp(`^/r/run\\.json: not written: .*\\(${code}\\); the previous version, if any, is unchanged$`),
      );
    }
    const other = errno('EACCES');
    expect(writeFailure('/r/run.json', other)).toBe(other);
  });

  it('saving run.json and LocalTarget.writeFile past a file-size limit: exit 3 naming the file, not an internal error; the old file is whole', async () => {
    const dir = tempDir('hg-atomic-');
    const runDir = path.join(dir, 'run');
    const small = makeRun({
      'sendfile-on': { throughput_gbps: [10, 11, 10.5], latency_p99_ms: [5, 6, 5.5], errors: [0, 0, 0] },
    });
    await saveRun(runDir, small);
    const knob = path.join(dir, 'local', 'nginx.conf');
    const { LocalTarget } = await import('../../harness/drivers/targets/local.js');
    await new LocalTarget().writeFile(knob, 'worker_processes 1;\n');
    const limit = readFileSync(path.join(runDir, 'run.json')).length + 2048;
    const r = await withFileSizeLimit(
      dir,
      [
        `import { saveRun } from '~/harness/engine/runner.ts';`,
        `import { LocalTarget } from '~/harness/drivers/targets/local.ts';`,
        `import { reportError } from '~/harness/cli/common.ts';`,
        `import { makeRun } from '~/test/helpers/records.ts';`,
        `import { keepFileSizeLimitAnError } from '~/harness/lib/atomic.ts';`,
      ],
      // As the CLI does at start (harness/cli/main.ts): a signal-exit user would re-raise SIGXFSZ.
      `keepFileSizeLimitAnError();
const big = Array.from({ length: 600 }, (_, i) => 10 + i / 1000);
const run = makeRun({ 'sendfile-on': { throughput_gbps: big, latency_p99_ms: big, errors: big.map(() => 0) } }, { runId: 'r2' });
await limit();
const out = {};
try { await saveRun(${JSON.stringify(runDir)}, run); out.run = 'saved'; } catch (e) { out.run = reportError(e); }
try { await new LocalTarget().writeFile(${JSON.stringify(knob)}, 'x'.repeat(${limit} * 2)); out.local = 'written'; } catch (e) { out.local = reportError(e); }
console.log(JSON.stringify(out));`,
      limit,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ run: 3, local: 3 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).toContain(
      `headgate: ${path.join(runDir, 'run.json')}: not written: file too large (file-size limit) (EFBIG)`,
    );
    expect(r.stderr).toContain(`headgate: ${knob}: not written:`);
    // The previous run.json is still there, whole and valid; no temp file is left beside either file.
    const { run } = await loadRunRecord(runDir);
    expect(run.runId).toBe('r1');
    expect(readdirSync(runDir)).toEqual(['run.json']);
    expect(readFileSync(knob, 'utf8')).toBe('worker_processes 1;\n');
    expect(readdirSync(path.dirname(knob))).toEqual(['nginx.conf']);
  });
});

describe('JSON-lines logs with a torn last line', () => {
  it('readers skip it, the next append cuts it off first, a bad line in the middle is exit 2 naming file:line', async () => {
    const f = path.join(tempDir('hg-atomic-'), 'log.jsonl');
    await appendJsonLine(f, { n: 1 });
    appendFileSync(f, '{"n": 2, "ha');
    expect(await readJsonLines(f)).toEqual({ entries: [{ n: 1 }], torn: '{"n": 2, "ha' });
    expect(await appendJsonLine(f, { n: 3 })).toEqual({ repaired: '{"n": 2, "ha' });
    expect(readFileSync(f, 'utf8')).toBe('{"n":1}\n{"n":3}\n');
    expect(await appendJsonLine(f, { n: 4 })).toEqual({ repaired: null });
    writeFileSync(f, '{"n":1}\n{"n"\n{"n":3}\n');
    const e = (await readJsonLines(f).catch((x) => x)) as HeadgateError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`${f}:2: unreadable line`);
  });

  it('bisect readSteps skips a torn last step and says so', async () => {
    const f = path.join(tempDir('hg-atomic-'), 'bisect.jsonl');
    const step = {
      commit: 'a'.repeat(40),
      subject: 's',
      outcome: 'good',
      reason: 'pass',
      runIds: ['r1'],
      at: '2026-11-26T00:00:00.000Z',
    };
    await appendJsonLine(f, step);
    appendFileSync(f, '{"commit":"bbbb');
    const said: string[] = [];
    expect(await readSteps(f, (l) => said.push(l))).toEqual([step]);
    expect(said).toEqual([`bisect: ${f}: skipped a torn last line (15 bytes) left by a crash`]);
    expect(await readSteps(path.join(path.dirname(f), 'none.jsonl'), (l) => said.push(l))).toEqual([]);
  });
});
