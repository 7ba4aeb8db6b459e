import path from 'node:path';
import { saveRun } from '../engine/runner.js';
import { inputError } from '../model/errors.js';
import type { GateOptions } from '../model/options.js';
import type { Comparison, RunRecord } from '../model/types.js';
import { baselinesAsReference, readBaseline } from '../store/baselines.js';
import { loadNoise } from '../store/noise.js';
import { loadRunRecord } from '../store/runs.js';
import { compareRun, runAsReference, type Reference } from '../verdict/compare.js';
import { comparePairedRun } from '../verdict/paired.js';
import { compareOptionsOf } from './common.js';

/** What an existing run is compared with: baseline files, or another run (the run itself for an in-run A/B). */
export type CompareAgainst = { baselineFiles: string[] } | { againstRun: string };

/**
 * `compare`: loads a run and its reference (baseline files, or another run), compares them at
 * the looks the run took and, with `save`, stores the comparison in the run's run.json.
 */
export async function compareStoredRun(
  spec: string,
  against: CompareAgainst,
  g: GateOptions,
  save: boolean,
): Promise<{ run: RunRecord; comparison: Comparison }> {
  const { run, runDir } = await loadRunRecord(spec, g.out);
  let ref: Reference | null;
  let againstRun: RunRecord | undefined;
  if ('againstRun' in against) {
    againstRun = (await loadRunRecord(against.againstRun, g.out)).run;
    ref = runAsReference(againstRun);
  } else {
    const files = await Promise.all(against.baselineFiles.map((f) => readBaseline(f)));
    ref = baselinesAsReference(files, path.dirname(path.dirname(against.baselineFiles[0])), files[0].profile);
  }
  if (!ref) throw inputError('compare: the baseline files hold no samples');
  const c = await compareExisting(run, ref, g, againstRun);
  if (c.comparisons.length === 0)
    throw inputError(
      `compare: nothing in common between run ${run.runId} and ${ref.kind} ${ref.id} (${c.missing.join('; ') || 'no matching suite'})`,
    );
  if (save) {
    run.comparison = c;
    await saveRun(runDir, run);
  }
  return { run, comparison: c };
}

/**
 * Compares an existing run with a reference (baseline files or another run), deciding at the
 * looks it took. A run compared with itself under --baseline-variant V is an in-run A/B: its
 * variants ran interleaved in the same rounds, so each is decided paired against V (repetition k
 * against V's repetition k), V itself left out.
 */
export async function compareExisting(run: RunRecord, ref: Reference, g: GateOptions, againstRun?: RunRecord) {
  const noise = await loadNoise(g.baselines, run.profile);
  // Decided at the looks the run took: its own plan, not the one these options would make.
  const opts = { ...compareOptionsOf(g, noise), plan: run.comparison?.plan };
  // Pairs are repetition k of a variant and of V, the same round only while both ran every round
  // (a gate's adaptive looks may have added repetitions to one of them): otherwise unpaired.
  const sameRounds = (r: RunRecord) =>
    r.suites.every((s) => {
      const ref = s.variants.find((v) => v.id === g.baselineVariant);
      return !ref || s.variants.every((v) => v.repetitions.length === ref.repetitions.length);
    });
  if (g.baselineVariant && againstRun?.runId === run.runId && sameRounds(run)) {
    const others = {
      ...run,
      suites: run.suites.map((s) => ({ ...s, variants: s.variants.filter((v) => v.id !== g.baselineVariant) })),
    };
    return comparePairedRun(others, run, { ...opts, sameSession: true });
  }
  // A run against itself is one session whichever design: drift cancels there too.
  return compareRun(run, ref, { ...opts, ...(againstRun?.runId === run.runId ? { sameSession: true } : {}) });
}
