/**
 * The history store: one row per gate run and one per compared metric, in SQLite next to the
 * runs (reports/history.sqlite). WAL with synchronous=FULL and one transaction per run, so a
 * crash mid-write leaves either the whole run or none of it.
 */
import { metricSamples } from '../model/samples.js';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { median } from '../stats/summary.js';
import type { RunRecord } from '../model/types.js';
import type { HistorySource } from '../model/types.js';
import { changePoints } from '../stats/changepoint.js';

/** One point of a metric's series: a run's median and what the gate said. */
export interface HistoryPoint {
  runId: string;
  startedAt: string;
  profile: string;
  target: string;
  kernel: string;
  value: number;
  n: number;
  verdict: string | null;
  runVerdict: string | null;
}

/** What to read: one metric of one suite (and variant), optionally one profile, newest N. */
export interface SeriesQuery {
  suite: string;
  metric: string;
  variant?: string;
  profile?: string;
  last?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  profile TEXT NOT NULL,
  target TEXT NOT NULL,
  kernel TEXT NOT NULL,
  verdict TEXT,
  exit_code INTEGER,
  recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  suite TEXT NOT NULL,
  variant TEXT NOT NULL,
  metric TEXT NOT NULL,
  unit TEXT NOT NULL,
  value REAL NOT NULL,
  n INTEGER NOT NULL,
  verdict TEXT,
  PRIMARY KEY (run_id, suite, variant, metric)
);
CREATE INDEX IF NOT EXISTS points_series ON points (suite, metric, variant);
`;

/** Where a reports directory keeps its history. */
export function historyPath(reportsDir: string): string {
  return path.join(reportsDir, 'history.sqlite');
}

/** An open history database. */
export class HistoryStore {
  private db: Database.Database;

  /** Opens (creating if needed) the history database at file. */
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  /**
   * Records a run's per-metric medians (and the gate's verdicts when it was compared). Replaces
   * an earlier record of the same run, all in one transaction. Returns the points written.
   */
  record(run: RunRecord): number {
    const kernel = `${run.fingerprint.kernelRelease} ${run.fingerprint.kernelVersion ?? ''}`.trim();
    const verdicts = new Map((run.comparison?.comparisons ?? []).map((c) => [`${c.suite}\u0000${c.variant}\u0000${c.metric}`, c.verdict]));
    const insRun = this.db.prepare('INSERT OR REPLACE INTO runs (run_id, started_at, profile, target, kernel, verdict, exit_code, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const delPoints = this.db.prepare('DELETE FROM points WHERE run_id = ?');
    const insPoint = this.db.prepare('INSERT INTO points (run_id, suite, variant, metric, unit, value, n, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    let written = 0;
    this.db.transaction(() => {
      insRun.run(run.runId, run.startedAt, run.profile, run.target.name, kernel, run.comparison?.verdict ?? null, run.comparison?.exitCode ?? null, new Date().toISOString());
      delPoints.run(run.runId);
      for (const s of run.suites)
        for (const v of s.variants) {
          if (v.status !== 'ran') continue;
          for (const m of s.metrics) {
            const xs = metricSamples(v, m.id);
            if (!xs.length) continue;
            insPoint.run(run.runId, s.id, v.id, m.id, m.unit, median(xs), xs.length, verdicts.get(`${s.id}\u0000${v.id}\u0000${m.id}`) ?? null);
            written++;
          }
        }
    })();
    return written;
  }

  /** A metric's series, oldest first (the newest `last` runs when given). */
  series(q: SeriesQuery): HistoryPoint[] {
    const where = ['p.suite = ?', 'p.metric = ?'];
    const args: (string | number)[] = [q.suite, q.metric];
    if (q.variant) {
      where.push('p.variant = ?');
      args.push(q.variant);
    }
    if (q.profile) {
      where.push('r.profile = ?');
      args.push(q.profile);
    }
    const rows = this.db
      .prepare(
        `SELECT p.run_id AS runId, r.started_at AS startedAt, r.profile, r.target, r.kernel, p.value, p.n, p.verdict, r.verdict AS runVerdict
         FROM points p JOIN runs r ON r.run_id = p.run_id WHERE ${where.join(' AND ')} ORDER BY r.started_at DESC, p.run_id DESC ${q.last ? 'LIMIT ?' : ''}`,
      )
      .all(...args, ...(q.last ? [q.last] : [])) as HistoryPoint[];
    return rows.reverse();
  }

  /** Variants that have points for a suite's metric (to say which one to pick). */
  variants(suite: string, metric: string): string[] {
    return (this.db.prepare('SELECT DISTINCT variant FROM points WHERE suite = ? AND metric = ? ORDER BY variant').all(suite, metric) as { variant: string }[]).map((r) => r.variant);
  }

  /** Metrics recorded for a suite (for error messages). */
  metrics(suite: string): string[] {
    return (this.db.prepare('SELECT DISTINCT metric FROM points WHERE suite = ? ORDER BY metric').all(suite) as { metric: string }[]).map((r) => r.metric);
  }

  /** Number of runs recorded. */
  runCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
  }

  /** Charts for the report: each metric's last `last` points of this profile, with change points. */
  source(profile: string, last = 50): HistorySource {
    return (suite, variant, metric) => {
      const points = this.series({ suite, variant, metric, profile, last });
      return { points, changes: points.length >= 8 ? changePoints(points.map((p) => p.value)).map((c) => c.index) : [] };
    };
  }

  /** Closes the database (a WAL checkpoint happens on close). */
  close(): void {
    this.db.close();
  }
}
