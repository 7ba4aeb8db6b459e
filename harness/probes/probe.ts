import type { Direction, VariantDef } from '../model/types.js';

/**
 * How the HTTP load arrives: closed (fixed connections, each waits for its answer) or open
 * (--rate, --fixed-throughput: requests due on a fixed schedule). Every probe produces the same
 * metrics in both.
 */
export type ProbeMode = 'closed' | 'open';

/** One metric a probe produces; suite.json must declare it with the same unit and direction. */
export interface ProbeMetric {
  id: string;
  unit: string;
  direction: Direction;
  /** A percentile (0.99 for a p99): each repetition records how many samples lay beyond it (Repetition.tailSamples). */
  quantile?: number;
}

/**
 * How many samples lie beyond each percentile metric of `metrics` that has a sample count in
 * `counts` (samples per metric id): count x (1 - quantile), floored. The verdict does not judge a
 * percentile estimated from too few of them (verdict/tail.ts).
 */
export function tailSamples(metrics: readonly ProbeMetric[], counts: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) {
    const n = counts[m.id];
    // 1e-9: 1000 x (1 - 0.99) is 9.999999999999991 in floating point.
    if (m.quantile !== undefined && n !== undefined && Number.isFinite(n)) out[m.id] = Math.floor(n * (1 - m.quantile) + 1e-9);
  }
  return out;
}

/** A registered probe: what it measures and which variants of a suite it measures. */
export interface ProbeDeclaration {
  /** The id suites name in suite.json "probes". */
  id: string;
  /** What it is, in words (error messages, `headgate suites`). */
  title: string;
  metrics: readonly ProbeMetric[];
  /** Whether it measures this variant of a suite that declares it (browser: only browser-client variants). */
  measures(v: VariantDef): boolean;
}
