import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

/**
 * Runs a TypeScript module body in a child node (tsx) whose file-size limit (RLIMIT_FSIZE) is set
 * to `limitBytes` once its imports are loaded, so the limit hits the write under test and not tsx's
 * own cache: the body calls `await limit()` right before that write. A write past the limit fails
 * half-way with EFBIG (node ignores SIGXFSZ), as a full disk would. The body prints what the test
 * should check; `dir` is where the script is written (a test's temp directory).
 *
 * `imports` are lines like `import { x } from '~/harness/store/baselines.ts'`: `~/` is the
 * repository root.
 */
export async function withFileSizeLimit(
  dir: string,
  imports: string[],
  body: string,
  limitBytes: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = path.join(dir, 'fsize-child.mts');
  const lines = imports.map((l) => l.replace(/'~\//, `'${ROOT}/`));
  writeFileSync(
    script,
    [
      ...lines,
      `const limit = () => new Promise<void>((resolve) => { process.stdin.once('data', () => { process.stdin.pause(); resolve(); }); process.stdout.write('READY\\n'); });`,
      body,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('READY\n') && !child.stdin.writableEnded) {
      execFileSync('prlimit', ['--pid', String(child.pid), `--fsize=${limitBytes}:${limitBytes}`]);
      child.stdin.end('go\n');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout: stdout.replace('READY\n', ''), stderr };
}
