import type { HttpServer } from '../servers/nginx.js';
import type { Capability } from '../os/adapter.js';
import type { Fingerprint, ObjectClass, Repetition, RunOptions, SuiteManifest, VariantDef } from './types.js';

/** Measurements of one repetition, as returned to the runner by a suite. */
export type RepetitionMeasurement = Omit<Repetition, 'index' | 'startedAt'>;

/** The harness API a suite sees. Suites never import a target or OS driver directly. */
export interface SuiteContext {
  readonly suiteId: string;
  readonly options: RunOptions;
  readonly fingerprint: Fingerprint;
  readonly signal: AbortSignal;
  log(line: string): void;
  /** Whether the target has a kernel capability (e.g. "ktls"), with the exact reason if not. */
  capability(name: string): Promise<Capability>;
  /** Sets a kernel knob on the target; it is restored when the current variant's repetition ends. */
  setKnob(name: string, value: string): Promise<void>;
  /** Starts the server under test for a variant (nginx from the template, or the --server-url server). */
  startHttpServer(variant: VariantDef): Promise<HttpServer>;
  /** Runs HTTP load against a server with every body verified; collects CPU and counter deltas. */
  measureHttp(server: HttpServer, o: { durationSec: number; connections?: number; objects?: ObjectClass; label: string }): Promise<RepetitionMeasurement>;
}

/** A prepared variant: warm it up, then measure repetitions. */
export interface VariantSession {
  warmup(): Promise<void>;
  repetition(index: number): Promise<RepetitionMeasurement>;
}

/** A suite: its manifest (data) plus how to prepare a variant (code). */
export interface Suite {
  manifest: SuiteManifest;
  /** Optional extra check per variant beyond the manifest's `requires` list. */
  probe?(ctx: SuiteContext, variant: VariantDef): Promise<Capability>;
  prepare(ctx: SuiteContext, variant: VariantDef): Promise<VariantSession>;
}

/** What suites/<id>/index.ts exports by default; the manifest comes from suite.json beside it. */
export type SuiteModule = Omit<Suite, 'manifest'>;

/** Declares a suite's code (typed helper, like vitest's defineConfig). */
export function defineSuite(s: SuiteModule): SuiteModule {
  return s;
}
