import { undoEntry } from '../../harness/drivers/journal.js';
import { undoPolicy } from '../../harness/engine/policy.js';
import type { OsAdapter } from '../../harness/drivers/os/adapter.js';
import type { ExecOptions, ExecResult, ProcessHandle, Target } from '../../harness/drivers/targets/target.js';
import type { Journal, JournalState, UndoAction } from '../../harness/lib/journal.js';

/** A scripted target: records every command (the transcript a real target would receive) and answers from fixtures. */
export class FakeTarget implements Target {
  readonly kind = 'fake';
  readonly name = 'fake';
  readonly address = '127.0.0.1';
  readonly home = '/var/lib/headgate';
  readonly workDir = '/var/lib/headgate/work';
  readonly runRoot = '/var/lib/headgate/work/runs';
  readonly machine = { id: 'fake-machine', boot: 'fake-boot' };
  readonly onController = false;
  readonly runsAsRoot = true;
  readonly transcript: string[] = [];
  /** A journal that keeps nothing (tests that look at entries use journalIntoTranscript or a real one). */
  journal: Journal = { where: 'fake', record: async () => 'x', done: async () => {}, read: async () => ({ entries: [], done: new Set(), torn: false }) };
  constructor(private readonly respond: (argv: string[]) => Partial<ExecResult> | undefined) {}
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.transcript.push(argv.join(' '));
    const r = { stdout: '', stderr: '', code: 0, ...(this.respond(argv) ?? { code: 127, stderr: `${argv[0]}: not scripted` }) };
    if (r.code !== 0 && !opts.allowFail) throw new Error(`${argv.join(' ')} exited ${r.code}`);
    return r;
  }
  async spawn(_argv?: string[]): Promise<ProcessHandle> {
    throw new Error('not supported');
  }
  async readFile(): Promise<string> {
    throw new Error('not supported');
  }
  async readFileIfExists(_file: string): Promise<string | null> {
    return null;
  }
  async writeFile(_file?: string, _data?: string | Buffer): Promise<void> {}
  async upload(_localDir?: string, _targetDir?: string): Promise<void> {}
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

/** Gives a fake target a journal that writes each entry into its transcript (so "journaled before made" shows in order); returns the entries. */
export function journalIntoTranscript(t: FakeTarget, where = 'fake'): UndoAction[] {
  const entries: UndoAction[] = [];
  const journal: Journal = {
    where,
    record: async (label, undo) => (t.transcript.push(`journal ${label}`), entries.push(undo), String(entries.length)),
    done: async () => {},
    read: async (): Promise<JournalState> => ({ entries: [], done: new Set(), torn: false }),
  };
  Object.assign(t, { journal });
  return entries;
}

/**
 * A scripted FreeBSD `sysctl -n NAME` and `sysctl NAME=VALUE` over a table of knobs, answering as
 * sbin/sysctl does (an unknown name: exit 1, "unknown oid"); undefined for any other command.
 */
export function freebsdSysctl(argv: string[], knobs: Record<string, string>): Partial<ExecResult> | undefined {
  if (argv[0] === 'sysctl' && argv[1] === '-n') return argv[2] in knobs ? { stdout: `${knobs[argv[2]]}\n` } : { code: 1, stderr: `sysctl: unknown oid '${argv[2]}'` };
  if (argv[0] === 'sysctl' && argv.length === 2 && argv[1].includes('=')) {
    const [k, v] = argv[1].split('=');
    if (!(k in knobs)) return { code: 1, stderr: `sysctl: unknown oid '${k}'` };
    knobs[k] = v;
    return { stdout: `${k}: ${v}\n` };
  }
  return undefined;
}

/** Replays one undo action on a scripted target as a journal replay would (the installed suites' knob policy, the target's home and workDir). */
export async function undoOn(t: FakeTarget, u: UndoAction, family: 'linux' | 'freebsd' = 'freebsd'): Promise<void> {
  await undoEntry({ target: t, family, home: t.home, roots: [t.workDir], machine: t.machine, policy: await undoPolicy() }, { undo: u });
}
