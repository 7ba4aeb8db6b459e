import type { Command } from 'commander';
import path from 'node:path';
import { baselinesAsReference, loadBaselines } from '../baselines/store.js';
import { loadConfigFile, resolveOptions, type FlagValues, type Settings } from '../config/config.js';
import { abortOnSignals } from '../core/cleanup.js';
import { compareRun, infrastructureErrors, integrityFailures, runVerdict, type InconclusivePolicy } from '../core/compare.js';
import { discoverSuites, selectSuites } from '../core/discovery.js';
import { inputError } from '../core/errors.js';
import { deriveProfile } from '../core/profile.js';
import { createProgress } from '../core/progress.js';
import { checkOptions, executeRun, saveRun } from '../core/runner.js';
import type { RunRecord } from '../core/types.js';
import { verdictTable } from '../reporters/console.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { junitReporter } from '../reporters/junit.js';
import { markdownReporter } from '../reporters/markdown.js';
import { openTarget } from '../targets/index.js';
import { action, addRunFlags, numArg, onInconclusiveOption } from './common.js';

type Flags = FlagValues & { config?: string; json?: boolean; quiet?: boolean; baselineVariant?: string; report?: boolean; onInconclusive?: InconclusivePolicy };

/** Resolves flags + config file into run options and settings. */
async function resolve(flags: Flags) {
  const { config } = await loadConfigFile(flags.config);
  const r = resolveOptions(config, flags);
  checkOptions(r.options);
  return r;
}

/** Prints where the evidence is, on stderr (stdout is for --json). */
function printPaths(runDir: string, files: string[]) {
  const rel = (f: string) => path.relative(process.cwd(), f) || '.';
  process.stderr.write(`run directory: ${rel(runDir)}\n`);
  for (const f of files.filter((x) => /summary\.md$|junit\.xml$|index\.html$/.test(x))) process.stderr.write(`  ${rel(f)}\n`);
}

async function runCommon(flags: Flags, gate: boolean): Promise<number> {
  const { options, settings } = await resolve(flags);
  const target = await openTarget(settings.target);
  const { signal, dispose } = abortOnSignals();
  const progress = createProgress({ quiet: flags.quiet });
  try {
    const suites = selectSuites(await discoverSuites(), options.suites);
    // Read baselines before any load so a broken baseline fails in seconds, not after the run.
    let reference = null;
    let fp;
    if (gate) {
      fp = await (await target.os()).fingerprint();
      const profile = settings.profile ?? deriveProfile(fp);
      const files = await loadBaselines(settings.baselinesDir, profile, suites.map((s) => s.manifest.id));
      reference = baselinesAsReference(files, settings.baselinesDir, profile);
      if (!reference && settings.requireBaseline) {
        throw inputError(`no baseline for profile ${profile} in ${settings.baselinesDir}/ (required by --require-baseline)`, 'run `headgate gate` once, then `headgate baseline promote RUN --reason ...`');
      }
    }
    const { record, runDir } = await executeRun({ target, options, settings, suites, signal, progress, fingerprint: fp });
    if (gate) {
      record.comparison = compareRun(record, reference, { alpha: settings.alpha, referenceVariant: flags.baselineVariant, onInconclusive: flags.onInconclusive });
      await saveRun(runDir, record);
    }
    const reporters = gate || flags.report ? defaultReporters : [markdownReporter, junitReporter];
    const { files } = await renderAll(reporters, { run: record, runDir, reportsDir: path.resolve(settings.reportsDir), log: (l) => process.stderr.write(l + '\n') });
    return finish(record, runDir, files, flags, settings, gate);
  } finally {
    dispose();
    await target.close();
  }
}

function finish(record: RunRecord, runDir: string, files: string[], flags: Flags, settings: Settings, gate: boolean): number {
  const c = record.comparison;
  // Without a comparison (`run`), payload failures and infrastructure errors still decide the code.
  const integrity = integrityFailures(record);
  const code = c ? c.exitCode : runVerdict({ comparisons: [], integrityFailures: integrity, infraErrors: infrastructureErrors(record), hasReference: false }).exitCode;
  if (flags.json) {
    process.stdout.write(JSON.stringify({ runId: record.runId, runDir, status: record.status, profile: record.profile, verdict: c?.verdict ?? null, exitCode: code, summary: c?.summary ?? null, files }, null, 2) + '\n');
  } else {
    process.stdout.write(verdictTable(record, c) + '\n');
    if (!c && integrity.length) process.stdout.write(`FAIL: ${integrity.length} payload verification failure(s) (exit ${code})\n`);
    if (c) process.stdout.write(`verdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${code})\n`);
    if (gate && c?.verdict === 'no-baseline') {
      process.stdout.write(`no baseline for profile ${record.profile} in ${settings.baselinesDir}/; to make this run the reference:\n  npx headgate baseline promote ${record.runId} --reason "..."\n`);
    }
  }
  printPaths(runDir, files);
  return code;
}

/** Registers `run` and `gate`. */
export function registerRunCommands(program: Command): void {
  addRunFlags(program.command('run').description('run suites on a target and write the run directory (no verdict)'))
    .option('--report', 'also build the Allure report')
    .action(action((flags: Flags) => runCommon(flags, false)));

  addRunFlags(program.command('gate').description('run, compare with the stored baseline, write reports, exit with the verdict'))
    .option('--baseline-variant <id>', 'compare every variant with this baseline variant (e.g. a sendfile-off run against the sendfile-on baseline)')
    .option('--alpha <p>', 'family-wise significance level (default 0.05)', numArg)
    .option('--require-baseline', 'fail (exit 2) when the profile has no baseline instead of passing')
    .addOption(onInconclusiveOption())
    .action(action((flags: Flags) => runCommon(flags, true)));
}
