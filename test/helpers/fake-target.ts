import type { OsAdapter } from '../../harness/drivers/os/adapter.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target } from '../../harness/drivers/targets/target.js';

/** A scripted target: records every command (the transcript a real target would receive) and answers from fixtures. */
export class FakeTarget implements Target {
  readonly kind = 'fake';
  readonly name = 'fake';
  readonly address = '127.0.0.1';
  readonly workDir = '/var/tmp/headgate';
  readonly runsAsRoot = true;
  readonly transcript: string[] = [];
  constructor(private readonly respond: (argv: string[]) => Partial<ExecResult> | undefined) {}
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.transcript.push(argv.join(' '));
    const r = { stdout: '', stderr: '', code: 0, ...(this.respond(argv) ?? { code: 127, stderr: `${argv[0]}: not scripted` }) };
    if (r.code !== 0 && !opts.allowFail) throw new Error(`${argv.join(' ')} exited ${r.code}`);
    return r;
  }
  async spawn(): Promise<ProcessHandle> {
    throw new Error('not supported');
  }
  async readFile(): Promise<string> {
    throw new Error('not supported');
  }
  async readFileIfExists(_file: string): Promise<string | null> {
    return null;
  }
  async writeFile(): Promise<void> {}
  async upload(): Promise<void> {}
  async download(): Promise<void> {}
  async pickPort(): Promise<number> {
    return 8080;
  }
  async which(_program: string): Promise<string | null> {
    return null;
  }
  async os(): Promise<OsAdapter> {
    throw new Error('not supported');
  }
  async close(): Promise<void> {}
}
