import { existsSync } from 'node:fs';
import { inputError } from '../model/errors.js';
import { changePoints, trend, type ChangePoint, type Trend } from '../stats/changepoint.js';
import { HistoryStore, historyPath, type HistoryPoint } from '../store/history.js';
import { loadRunRecord } from '../store/runs.js';

/** Records existing runs (directories or ids) in the history; `onRecorded` sees each run id and its metric points. */
export async function recordHistory(
  specs: string[],
  out: string,
  onRecorded: (runId: string, points: number) => void,
): Promise<void> {
  const store = new HistoryStore(historyPath(out));
  try {
    for (const spec of specs) {
      const { run } = await loadRunRecord(spec, out);
      onRecorded(run.runId, store.record(run));
    }
  } finally {
    store.close();
  }
}

/** Which series `history` reads and how it tests it. */
export interface HistoryQuery {
  suite: string;
  metric: string;
  variant?: string;
  profile?: string;
  last: number;
  pValue: number;
  minEffect: number;
  /** The reports directory holding history.sqlite. */
  out: string;
}

/** A metric's series over gate runs, with its change points and drift. */
export interface MetricHistory {
  file: string;
  /** The variant read: the one asked for, or the only one recorded. */
  variant: string;
  points: HistoryPoint[];
  /** Change points (none with fewer than 8 runs). */
  changePoints: ChangePoint[];
  trend: Trend;
  /** Runs in the whole database. */
  runCount: number;
}

/**
 * Reads a metric's series from the history database and finds its change points (E-divisive
 * means, permutation test; at least 8 runs) and drift (Theil-Sen, Mann-Kendall).
 */
export function metricHistory(q: HistoryQuery): MetricHistory {
  const file = historyPath(q.out);
  if (!existsSync(file))
    throw inputError(
      `${file}: no history yet; every \`headgate gate\` records one (or use \`headgate history --add RUN...\`)`,
    );
  const store = new HistoryStore(file);
  try {
    let variant = q.variant;
    const variants = store.variants(q.suite, q.metric);
    if (!variants.length) {
      const known = store.metrics(q.suite);
      throw inputError(
        `history: no points for --suite ${q.suite} --metric ${q.metric} in ${file}${known.length ? ` (metrics recorded for ${q.suite}: ${known.join(', ')})` : ''}`,
      );
    }
    if (!variant) {
      if (variants.length > 1)
        throw inputError(`history: --variant needed: ${q.suite}/${q.metric} is recorded for ${variants.join(', ')}`);
      variant = variants[0];
    }
    const points = store.series({ suite: q.suite, metric: q.metric, variant, profile: q.profile, last: q.last });
    if (!points.length) {
      throw inputError(
        `history: no points for ${q.suite}/${variant}/${q.metric}${q.profile ? ` with --profile ${q.profile}` : ''} (variants recorded: ${variants.join(', ')})`,
      );
    }
    const values = points.map((p) => p.value);
    const cps = values.length >= 8 ? changePoints(values, { pValue: q.pValue, minEffect: q.minEffect }) : [];
    return { file, variant, points, changePoints: cps, trend: trend(values), runCount: store.runCount() };
  } finally {
    store.close();
  }
}
