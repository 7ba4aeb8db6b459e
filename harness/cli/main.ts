import { Command, CommanderError } from 'commander';
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

// A reader that goes away (a killed CI runner, `| head`) must not crash a run mid-way: that
// would leave nginx running and knobs changed. Lost output is lost; the restores still happen.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

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

// Every subcommand exits through commander's override too, so bad flags map to exit 2.
for (const c of program.commands) {
  c.exitOverride();
  for (const sub of c.commands) sub.exitOverride();
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
