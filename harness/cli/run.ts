import type { Command } from 'commander';
import path from 'node:path';
import { baselinesAsReference, loadBaselines } from '../store/baselines.js';
import { loadConfigFile, resolveOptions, type FlagValues, type Settings } from '../model/options.js';
import { abortOnSignals } from '../lib/cleanup.js';
import { compareRun, infrastructureErrors, integrityFailures, runVerdict, undecidedVariants, type CompareOptions, type InconclusivePolicy, type Reference } from '../verdict/compare.js';
import type { NoiseProfile } from '../verdict/noise.js';
import { loadNoise } from '../store/noise.js';
import { DEFAULT_RHO } from '../stats/sequential.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { ExitCode, inputError } from '../model/errors.js';
import { parseShard, shardWork, type Shard } from '../engine/shard.js';
import { deriveProfile } from '../model/profile.js';
import { createProgress } from '../lib/progress.js';
import { checkOptions, executeRun, saveRun, type AdaptiveParams } from '../engine/runner.js';
import type { RunRecord } from '../model/types.js';
import { verdictTable } from '../reporters/console.js';
import { defaultReporters, renderAll } from '../reporters/index.js';
import { junitReporter } from '../reporters/junit.js';
import { HistoryStore, historyPath } from '../store/history.js';
import { markdownReporter } from '../reporters/markdown.js';
import { openHost, resolveClients, resolveTargets } from '../drivers/targets/index.js';
import type { LoadClient } from '../engine/context.js';
import { fileURLToPath } from 'node:url';
import type { InventoryHost } from '../drivers/targets/inventory.js';
import Table from 'cli-table3';
import type { RunOptions } from '../model/types.js';
import { action, addRunFlags, addVerdictFlags, reportError } from './common.js';

export type Flags = FlagValues & { config?: string; json?: boolean; quiet?: boolean; inventory?: string; parallel?: number; client?: string[]; shard?: string; baselineVariant?: string; report?: boolean } & VerdictFlags;

/** Flags of addVerdictFlags. */
export interface VerdictFlags {
  onInconclusive?: InconclusivePolicy;
  maxRuns?: number;
  adaptiveBatch?: number;
  maxExtraSec?: number;
  adaptive?: boolean;
  minEffect?: number;
}

/** Comparison options (budget, rho, calibration) from the verdict flags; plan is absent with --no-adaptive. */
export function verdictOptions(flags: VerdictFlags & { baselineVariant?: string }, options: RunOptions, alpha: number, noise: NoiseProfile | null): CompareOptions {
  const maxRuns = flags.maxRuns ?? options.runs * 3;
  if (maxRuns < options.runs) throw inputError(`--max-runs ${maxRuns}: must be at least --runs (${options.runs})`);
  const batch = flags.adaptiveBatch ?? Math.max(2, Math.floor(options.runs / 2));
  if (!(batch >= 1)) throw inputError(`--adaptive-batch ${batch}: must be at least 1`);
  const maxExtraSec = flags.maxExtraSec ?? (options.quick ? 180 : 900);
  if (flags.minEffect !== undefined && !(flags.minEffect >= 0 && flags.minEffect < 1)) throw inputError(`--min-effect ${flags.minEffect}: must be a fraction in [0, 1), e.g. 0.01 for 1%`);
  const on = flags.adaptive !== false && maxRuns > options.runs;
  return {
    alpha,
    referenceVariant: flags.baselineVariant,
    onInconclusive: flags.onInconclusive,
    noise,
    minEffect: flags.minEffect,
    ...(on ? { plan: { batch, nMax: maxRuns, rho: DEFAULT_RHO, maxExtraSec } } : {}),
  };
}

/** The runner's adaptive-repetition parameters for a comparison plan (none without a plan). */
export function adaptiveParams(cmp: CompareOptions, undecided: AdaptiveParams['undecided']): AdaptiveParams | undefined {
  if (!cmp.plan) return undefined;
  return { batch: cmp.plan.batch, maxRuns: cmp.plan.nMax, maxExtraSec: cmp.plan.maxExtraSec ?? Infinity, undecided };
}

/** This checkout: the default headgate directory on load-client hosts. */
const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Resolves flags + config file into run options and settings. */
export async function resolveRun(flags: Flags) {
  const { config } = await loadConfigFile(flags.config);
  const r = resolveOptions(config, flags);
  checkOptions(r.options);
  return r;
}

/** Prints where the evidence is, on stderr (stdout is for --json). */
function printPaths(runDir: string, files: string[], prefix = '') {
  const rel = (f: string) => path.relative(process.cwd(), f) || '.';
  process.stderr.write(`${prefix}run directory: ${rel(runDir)}\n`);
  for (const f of files.filter((x) => /summary\.md$|junit\.xml$|index\.html$/.test(x))) process.stderr.write(`${prefix}  ${rel(f)}\n`);
}

/** One target's run: open, gate or run, report, close. Returns its exit code (also used by rollout). */
export async function runOnTarget(
  host: InventoryHost,
  flags: Flags,
  gate: boolean,
  r: { options: RunOptions; settings: Settings },
  signal: AbortSignal,
  prefix: string,
  work: { suites?: string[]; shard?: Shard; reference?: Reference; recordHistory?: boolean } = {},
): Promise<{ code: number; runDir?: string; record?: RunRecord }> {
  const { options } = r;
  const settings = { ...r.settings, profile: r.settings.profile ?? host.profile };
  const progress = createProgress({ quiet: flags.quiet, prefix });
  const target = await openHost(host);
  const clients: LoadClient[] = [];
  let code: number = ExitCode.Infrastructure;
  try {
    for (const c of flags.client?.length ? await resolveClients(flags.client.join(','), flags.inventory ?? r.settings.inventory) : []) {
      clients.push({ name: c.name, target: await openHost(c), headgateDir: c.headgateDir ?? ROOT_DIR });
    }
    const all = await discoverSuites();
    const suites = selectSuites(all, work.suites ?? options.suites);
    // Read baselines before any load so a broken baseline fails in seconds, not after the run.
    let reference: Reference | null = null;
    let fp;
    if (gate && work.reference) {
      // A given reference (bisect: the good commit's run) instead of the stored baselines.
      fp = await (await target.os()).fingerprint();
      reference = work.reference;
    } else if (gate) {
      fp = await (await target.os()).fingerprint();
      const profile = settings.profile ?? deriveProfile(fp);
      const files = await loadBaselines(settings.baselinesDir, profile, suites.map((s) => s.manifest.id));
      reference = baselinesAsReference(files, settings.baselinesDir, profile);
      if (!reference && settings.requireBaseline) {
        throw inputError(`no baseline for profile ${profile} in ${settings.baselinesDir}/ (required by --require-baseline)`, 'run `headgate gate` once, then `headgate baseline promote RUN --reason ...`');
      }
    }
    // The profile's A/A calibration sets the thresholds; adaptive repetitions need a reference.
    const cmp = gate ? verdictOptions(flags, options, settings.alpha, await loadNoise(settings.baselinesDir, settings.profile ?? deriveProfile(fp!))) : null;
    const adaptive = cmp && reference ? adaptiveParams(cmp, (rec, suiteId) => undecidedVariants(rec, suiteId, reference, cmp)) : undefined;
    const { record, runDir } = await executeRun({ target, options, settings, suites, signal, progress, fingerprint: fp, clients, shard: work.shard, selectedSuites: selectSuites(all, options.suites), adaptive });
    if (gate) {
      record.comparison = compareRun(record, reference, { ...cmp!, plan: adaptive ? cmp!.plan : undefined });
      await saveRun(runDir, record);
    }
    // Every gate run goes into the history (a failure to record is a warning, not a verdict).
    let history: HistoryStore | null = null;
    if (gate && work.recordHistory !== false) {
      try {
        history = new HistoryStore(historyPath(settings.reportsDir));
        history.record(record);
      } catch (e) {
        process.stderr.write(`${prefix}warning: not recorded in ${historyPath(settings.reportsDir)}: ${(e as Error).message}\n`);
      }
    }
    const reporters = gate || flags.report ? defaultReporters : [markdownReporter, junitReporter];
    let files: string[];
    try {
      ({ files } = await renderAll(reporters, { run: record, runDir, reportsDir: path.resolve(settings.reportsDir), log: (l) => process.stderr.write(prefix + l + '\n'), history: history?.source(record.profile) }));
    } finally {
      history?.close();
    }
    // With several targets, stdout carries the combined table (or JSON); each target's own lines go to stderr.
    code = finish(record, runDir, files, flags, settings, gate, prefix ? (t) => process.stderr.write(t.split('\n').map((l) => (l ? prefix + l : l)).join('\n')) : undefined, prefix);
    return { code, runDir, record };
  } finally {
    for (const c of clients) await c.target.close();
    await target.close({ failed: code !== ExitCode.Pass });
  }
}

/**
 * Which exit code stands for several targets: a regression (1) outranks infrastructure (3), which
 * outranks inconclusive (4): a retry cannot fix a regression, and an unfinished target is no pass.
 */
export function combineExitCodes(codes: number[]): number {
  for (const c of [ExitCode.Interrupted, ExitCode.InvalidInput, ExitCode.Regression, ExitCode.Infrastructure, ExitCode.Inconclusive]) if (codes.includes(c)) return c;
  return ExitCode.Pass;
}

async function runCommon(flags: Flags, gate: boolean): Promise<number> {
  const r = await resolveRun(flags);
  let hosts = await resolveTargets(r.settings.target, flags.inventory ?? r.settings.inventory);
  // --shard i/n: this agent's part of the target x suite work; the other agents compute the same split.
  const shard = flags.shard ? parseShard(flags.shard) : undefined;
  const work = new Map<string, string[] | undefined>(hosts.map((h) => [h.name, undefined]));
  if (shard) {
    const suiteIds = selectSuites(await discoverSuites(), r.options.suites).map((x) => x.manifest.id);
    const mine = shardWork(hosts.map((h) => h.name), suiteIds, shard);
    const units = hosts.length * suiteIds.length;
    process.stderr.write(`shard ${shard.index}/${shard.count}: ${[...mine.entries()].map(([t, ss]) => `${t}: ${ss.join(', ')}`).join('; ') || 'nothing'} (${units} target x suite units in all)\n`);
    if (mine.size === 0) {
      process.stdout.write(`shard ${shard.index}/${shard.count} has no work: ${units} units over ${shard.count} shards\n`);
      return ExitCode.Pass;
    }
    hosts = hosts.filter((h) => mine.has(h.name));
    for (const h of hosts) work.set(h.name, mine.get(h.name));
  }
  const { signal, dispose } = abortOnSignals();
  try {
    if (hosts.length === 1) return (await runOnTarget(hosts[0], flags, gate, r, signal, '', { suites: work.get(hosts[0].name), shard })).code;
    // Many targets: each its own run, verdict and exit code, at most --parallel at a time.
    const limit = Math.max(1, flags.parallel ?? 4);
    process.stderr.write(`${hosts.length} targets, at most ${limit} at a time: ${hosts.map((h) => h.name).join(', ')}\n`);
    const t0 = Date.now();
    const results: { name: string; code: number; runDir?: string; verdict?: string; error?: string; sec: number }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < hosts.length && !signal.aborted) {
        const h = hosts[next++];
        const s0 = Date.now();
        try {
          const out = await runOnTarget(h, { ...flags, json: false }, gate, r, signal, `[${h.name}] `, { suites: work.get(h.name), shard });
          results.push({ name: h.name, code: out.code, runDir: out.runDir, verdict: out.record?.comparison?.verdict ?? out.record?.status, sec: (Date.now() - s0) / 1000 });
        } catch (e) {
          const code = reportError(e, `[${h.name}] `);
          results.push({ name: h.name, code, error: (e as Error).message.split('\n')[0], sec: (Date.now() - s0) / 1000 });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, hosts.length) }, worker));
    const code = combineExitCodes(results.map((x) => x.code));
    const wall = (Date.now() - t0) / 1000;
    results.sort((a, b) => hosts.findIndex((h) => h.name === a.name) - hosts.findIndex((h) => h.name === b.name));
    if (flags.json) {
      process.stdout.write(JSON.stringify({ exitCode: code, wallSec: wall, targets: results }, null, 2) + '\n');
    } else {
      const t = new Table({ head: ['target', 'verdict', 'exit', 'seconds', 'run directory / error'], style: { head: [], border: [] } });
      for (const x of results) t.push([x.name, x.verdict ?? 'error', x.code, x.sec.toFixed(0), x.error ?? path.relative(process.cwd(), x.runDir ?? '')]);
      process.stdout.write(`${t.toString()}\n${results.length}/${hosts.length} targets finished in ${wall.toFixed(0)} s; combined exit ${code}\n`);
    }
    return code;
  } finally {
    dispose();
  }
}

function finish(record: RunRecord, runDir: string, files: string[], flags: Flags, settings: Settings, gate: boolean, write: (text: string) => void = (t) => process.stdout.write(t), prefix = ''): number {
  const c = record.comparison;
  // Without a comparison (`run`), payload failures and infrastructure errors still decide the code.
  const integrity = integrityFailures(record);
  const code = c ? c.exitCode : runVerdict({ comparisons: [], integrityFailures: integrity, infraErrors: infrastructureErrors(record), hasReference: false }).exitCode;
  if (flags.json) {
    write(JSON.stringify({ runId: record.runId, runDir, status: record.status, profile: record.profile, verdict: c?.verdict ?? null, exitCode: code, summary: c?.summary ?? null, files }, null, 2) + '\n');
  } else {
    write(verdictTable(record, c) + '\n');
    if (!c && integrity.length) write(`FAIL: ${integrity.length} payload verification failure(s) (exit ${code})\n`);
    if (c) write(`verdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${code})\n`);
    if (gate && c?.verdict === 'no-baseline') {
      write(`no baseline for profile ${record.profile} in ${settings.baselinesDir}/; to make this run the reference:\n  npx headgate baseline promote ${record.runId} --reason "..."\n`);
    }
  }
  printPaths(runDir, files, prefix);
  return code;
}

/** Registers `run` and `gate`. */
export function registerRunCommands(program: Command): void {
  addRunFlags(program.command('run').description('run suites on a target and write the run directory (no verdict)'))
    .option('--report', 'also build the Allure report')
    .action(action((flags: Flags) => runCommon(flags, false)));

  addVerdictFlags(addRunFlags(program.command('gate').description('run, compare with the stored baseline, write reports, exit with the verdict'))
  )
    .option('--baseline-variant <id>', 'compare every variant with this baseline variant (e.g. a sendfile-off run against the sendfile-on baseline)')
    .option('--require-baseline', 'fail (exit 2) when the profile has no baseline instead of passing')
    .action(action((flags: Flags) => runCommon(flags, true)));
}
