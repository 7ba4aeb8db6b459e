import { Command, CommanderError } from 'commander';
import { keepFileSizeLimitAnError } from '../lib/atomic.js';
import { ExitCode } from '../model/errors.js';
import { TOOL_VERSION } from '../model/version.js';
import { registerBaseline } from './baseline.js';
import { registerCalibrate } from './calibrate.js';
import { registerCompare } from './compare.js';
import { registerAb } from './ab.js';
import { registerBisect } from './bisect.js';
import { registerHistory } from './history.js';
import { registerDoctor } from './doctor.js';
import { registerMigrate } from './migrate.js';
import { registerObjects } from './objects.js';
import { registerReport } from './report.js';
import { registerRunCommands } from './run.js';
import { registerSuites } from './suites.js';
import { registerTargets } from './targets.js';
import { registerLoadWorker } from './load-worker.js';
import { registerMerge } from './merge.js';
import { registerRollout } from './rollout.js';
import { registerOptions } from './options-command.js';
import { registerRestore } from './restore.js';
import { registerLocked } from './locked.js';

// A reader that goes away (a killed CI runner, `| head`) must not crash a run mid-way: that
// would leave nginx running and knobs changed. Lost output is lost; the restores still happen.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}
// A file-size limit or full disk while writing run.json, a baseline or a report is exit 3 naming the file.
keepFileSizeLimitAnError();

const program = new Command('headgate')
  .description('Gate OS merges and rollouts on kernel performance and correctness.\nExit codes: 0 pass, 1 regression or payload failure, 2 invalid input, 3 infrastructure, 4 inconclusive, 130 interrupted.')
  .version(TOOL_VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerRunCommands(program);
registerCompare(program);
registerCalibrate(program);
registerAb(program);
registerBisect(program);
registerHistory(program);
registerBaseline(program);
registerReport(program);
registerSuites(program);
registerTargets(program);
registerLoadWorker(program);
registerMerge(program);
registerRollout(program);
registerDoctor(program);
registerObjects(program);
registerMigrate(program);
registerOptions(program);
registerRestore(program);
registerLocked(program);

// Every command takes the output conventions: --json (machine-readable stdout), --quiet (no
// progress) and --no-color (as NO_COLOR; bin/headgate.js applies it before any colour is chosen).
// Every subcommand exits through commander's override too, so bad flags map to exit 2.
const INTERNAL = new Set(['load-worker', 'bisect-step']);
const conventions = (c: Command) => {
  c.exitOverride();
  if (INTERNAL.has(c.name()) || c.commands.length) return;
  if (!c.options.some((o) => o.long === '--json')) c.option('--json', 'print a machine-readable result on stdout');
  if (!c.options.some((o) => o.long === '--quiet')) c.option('--quiet', 'no progress output');
  c.option('--no-color', 'no colours (also: NO_COLOR=1)');
};
for (const c of program.commands) {
  conventions(c);
  for (const sub of c.commands) conventions(sub);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(e.code);
    process.exitCode = ok ? ExitCode.Pass : ExitCode.InvalidInput;
  } else {
    process.stderr.write(`headgate: internal error (please report): ${(e as Error).message}\n`);
    process.exitCode = ExitCode.Infrastructure;
  }
}
// Allure writers and autocannon may leave handles; the verdict is decided, so leave promptly.
process.exit(process.exitCode ?? 0);
