import { metricSamples } from '../model/samples.js';
import { hodgesLehmann } from '../stats/shift.js';
import { median, quantile } from '../stats/summary.js';
import type { MetricDef, RunOptions, RunRecord } from '../model/types.js';

/** Measured A/A noise of one metric of one variant (from `headgate calibrate`). */
export interface NoiseEntry {
  /** Repetitions measured (all sessions). */
  n: number;
  /** Robust coefficient of variation of one repetition: 1.4826 * MAD / median. */
  cv: number;
  /** Largest |relative Hodges-Lehmann shift| between two A/A sessions: drift no test can see. */
  drift: number;
  /** Every repetition as a relative deviation from its session's median (the shape of the noise). */
  residuals: number[];
}

/** A profile's calibrated noise: baselines/<profile>/noise.json, reviewed like a baseline. */
export interface NoiseProfile {
  schemaVersion: 1;
  profile: string;
  target: string;
  measuredAt: string;
  /** A/A sessions (separate runs, fresh servers) and repetitions per session. */
  sessions: number;
  runs: number;
  options: RunOptions;
  sourceRuns: string[];
  /** Keyed by "suite/variant/metric". */
  metrics: Record<string, NoiseEntry>;
}

/** Robust CV of one sample: 1.4826 * MAD / |median| (0 for a constant sample). */
export function robustCv(xs: readonly number[]): number {
  const m = median(xs);
  if (!xs.length || m === 0) return 0;
  const mad = median(xs.map((x) => Math.abs(x - m)));
  return (1.4826 * mad) / Math.abs(m);
}

/**
 * Noise per metric from A/A sessions of one configuration: each session's repetitions become
 * residuals around that session's median, and every pair of sessions gives a relative shift.
 * Pure: the sessions are run records.
 */
export function measureNoise(sessions: RunRecord[]): Record<string, NoiseEntry> {
  const series = new Map<string, number[][]>();
  for (const run of sessions)
    for (const s of run.suites)
      for (const v of s.variants) {
        if (v.status !== 'ran') continue;
        for (const m of s.metrics) {
          const xs = metricSamples(v, m.id);
          if (xs.length < 2) continue;
          const key = `${s.id}/${v.id}/${m.id}`;
          series.set(key, [...(series.get(key) ?? []), xs]);
        }
      }
  const out: Record<string, NoiseEntry> = {};
  for (const [key, groups] of series) {
    const residuals: number[] = [];
    for (const g of groups) {
      const m = median(g);
      for (const x of g) residuals.push(m === 0 ? 0 : x / m - 1);
    }
    let drift = 0;
    for (let i = 0; i < groups.length; i++)
      for (let j = i + 1; j < groups.length; j++) {
        const base = median(groups[i]);
        if (base !== 0) drift = Math.max(drift, Math.abs(hodgesLehmann(groups[i], groups[j]) / base));
      }
    const round = (x: number) => Number(x.toPrecision(4));
    out[key] = { n: residuals.length, cv: round(1.4826 * quantile(residuals.map(Math.abs), 0.5)), drift: round(drift), residuals: residuals.map(round) };
  }
  return out;
}

/** Default practical minimum effect once a metric is calibrated: changes under 1% get no verdict. */
export const DEFAULT_MIN_EFFECT = 0.01;

/** The threshold a comparison uses and where it came from, for the report. */
export interface Threshold {
  value: number;
  source: string;
  noise?: { cv: number; drift: number; n: number };
  /** Uncalibrated CPU figures against another session: the least change a "regressed" needs (see UNCALIBRATED_CPU_DRIFT). */
  regressionFloor?: number;
}

/**
 * How far a CPU-time figure (CPU per Gb/s, Gb/s per core, CPU %) of an unchanged kernel moved
 * between two sessions on the 2-core development VM, rounded up: sendfile-off machine_cpu_per_gbps
 * +22.4% and userspace-tls12 +15.9% between the two gates of one quick-start cycle (2026-12-08;
 * earlier cycles 7-21%), while the repetitions inside each session scattered 2-3%. Page-cache
 * placement, nginx's own memory and the host's other tenants are fixed for a session and differ
 * between sessions; no test on one session's repetitions can see that. Until `headgate calibrate`
 * has measured this machine's drift, such a change beyond the suite's floor is not called a
 * regression below this size (inconclusive, exit 4), and "unchanged" still needs the floor.
 */
export const UNCALIBRATED_CPU_DRIFT = 0.25;

/**
 * The CPU-time figures (CPU per Gb/s, Gb/s per core, CPU shares) the probes produce, by id: their
 * session drift is what a shared machine inflates. By id, not unit: `disk_read_pct` is a '%' too.
 */
export const CPU_TIME_METRICS: ReadonlySet<string> = new Set(['machine_cpu_per_gbps', 'gbps_per_core', 'server_cpu_pct', 'target_cpu_pct', 'machine_cpu_pct', 'client_cpu_pct', 'client_demand_pct']);

/**
 * A new session's offset against a stored baseline can exceed the largest shift a few A/A
 * sessions showed: under a normal model the largest of 3 sessions' pairwise shifts averages 1.69
 * standard deviations of the session level, so 3 x that shift is about 3.6 standard deviations of
 * the offset between two sessions, which leaves room for the repetitions' own noise on top
 * (chosen with bench/verdict-quality.ts: at 2.5 x, simulated A/A gates failed 2% of the time).
 */
export const DRIFT_MARGIN = 3;

/**
 * The practical threshold of one metric: with a calibration, the larger of the minimum effect
 * and DRIFT_MARGIN x the A/A drift between sessions (a baseline from another day carries such an
 * offset, and no test on the repetitions can see it); in one session (ab, --baseline-variant)
 * the drift cancels and the minimum effect alone applies. Without a calibration, the suite's
 * declared noise floor (an uncalibrated, conservative guess).
 */
export function thresholdFor(metric: MetricDef, entry: NoiseEntry | undefined, minEffect = DEFAULT_MIN_EFFECT, sameSession = false): Threshold {
  if (!entry) {
    const floor = { value: metric.noiseFloor, source: 'suite noise floor (not calibrated)' };
    // Against another session an uncalibrated CPU figure can drift beyond the floor on its own.
    if (sameSession || !CPU_TIME_METRICS.has(metric.id) || UNCALIBRATED_CPU_DRIFT <= metric.noiseFloor) return floor;
    return { value: floor.value, source: `suite noise floor (not calibrated); a regression across sessions needs ${UNCALIBRATED_CPU_DRIFT * 100}%`, regressionFloor: UNCALIBRATED_CPU_DRIFT };
  }
  const noise = { cv: entry.cv, drift: entry.drift, n: entry.n };
  const measured = `repetition noise ${(entry.cv * 100).toFixed(1)}%, A/A drift ${(entry.drift * 100).toFixed(1)}%`;
  if (sameSession) return { value: minEffect, source: `minimum effect: both sides measured in one session, so drift cancels (calibrated: ${measured})`, noise };
  const value = Math.max(minEffect, DRIFT_MARGIN * entry.drift);
  return value === minEffect
    ? { value, source: `minimum effect (calibrated: ${measured})`, noise }
    : { value, source: `${DRIFT_MARGIN} x the calibrated A/A drift between sessions (${measured})`, noise };
}
