import { inputError } from '../model/errors.js';
import { median } from '../stats/summary.js';
import { baselinePath, listBaselines, promoteRun, readBaseline, type BaselineFile } from '../store/baselines.js';
import { pinMachine, pinsFile } from '../store/pins.js';
import { loadRunRecord } from '../store/runs.js';

/** What `baseline promote` wrote: the baseline files, and how the machine's pin changed (if it was pinned). */
export interface Promotion {
  runId: string;
  files: string[];
  pinned?: string;
  /** The pins file (baselines/machines.json), for the operator. */
  pinsFile: string;
}

/**
 * Makes a complete, verified run the reference for its profile, then pins its machine to that
 * profile with the hardware it had (a later kernel reporting other hardware fails the gate).
 */
export async function promoteBaseline(
  spec: string,
  o: { reason: string; suites?: string[]; variants?: string[]; profile?: string; baselines: string; out: string },
): Promise<Promotion> {
  const { run } = await loadRunRecord(spec, o.out);
  const files = await promoteRun(run, {
    dir: o.baselines,
    reason: o.reason,
    suites: o.suites,
    variants: o.variants,
    profile: o.profile,
  });
  let pinned: string | undefined;
  if (files.length && run.target.machineId) {
    const key = { machineId: run.target.machineId, hardwareId: run.target.hardwareId, name: run.target.name };
    const { previous, changes } = await pinMachine(o.baselines, key, o.profile ?? run.profile, run.fingerprint, {
      reason: o.reason,
      sourceRun: run.runId,
    });
    pinned =
      previous && changes.length
        ? `re-pinned ${run.target.name} (${changes.join('; ')})`
        : `${previous ? 'pin kept for' : 'pinned'} ${run.target.name} to profile ${o.profile ?? run.profile}`;
  }
  return { runId: run.runId, files, pinned, pinsFile: pinsFile(o.baselines) };
}

/** One metric of one variant of a baseline, summarised. */
export interface BaselineMetricRow {
  variant: string;
  metric: string;
  unit: string;
  n: number;
  median: number;
  min: number;
  max: number;
}

/** A baseline file (given, or found by profile and suite) and the median, min and max of each of its metrics. */
export async function showBaseline(o: {
  file?: string;
  profile?: string;
  suite?: string;
  baselines: string;
}): Promise<{ file: string; baseline: BaselineFile; rows: BaselineMetricRow[] }> {
  if (!o.file && !(o.profile && o.suite)) throw inputError('baseline show: give a FILE, or --profile and --suite');
  const file = o.file ?? baselinePath(o.baselines, o.profile!, o.suite!, { profile: '--profile', suite: '--suite' });
  const baseline = await readBaseline(file);
  const rows: BaselineMetricRow[] = [];
  for (const [variant, { samples }] of Object.entries(baseline.variants))
    for (const [metric, xs] of Object.entries(samples)) {
      const s = [...xs].sort((a, b) => a - b);
      const unit = baseline.metrics?.find((x) => x.id === metric)?.unit ?? '';
      rows.push({ variant, metric, unit, n: s.length, median: median(s), min: s[0], max: s[s.length - 1] });
    }
  return { file, baseline, rows };
}

/** Every baseline of a baselines directory, by profile and suite, with who promoted it, when and why. */
export async function baselineList(dir: string) {
  const rows = [];
  for (const x of await listBaselines(dir)) {
    const bl = await readBaseline(x.file);
    rows.push({
      ...x,
      promotedAt: bl.promotedAt,
      promotedBy: bl.promotedBy,
      reason: bl.reason,
      variants: Object.keys(bl.variants),
    });
  }
  return rows;
}
