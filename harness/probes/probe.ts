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
