import type { Histogram } from 'hdr-histogram-js';
import type { VerificationResult } from '../model/types.js';

const MAX_FAILURES_KEPT = 10;

/** Latency percentiles in microseconds, from an HDR histogram of every response. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

/** Summarizes a latency histogram recorded in microseconds. */
export function latencySummary(hist: Histogram): LatencySummary {
  return {
    p50: hist.getValueAtPercentile(50),
    p90: hist.getValueAtPercentile(90),
    p99: hist.getValueAtPercentile(99),
    p999: hist.getValueAtPercentile(99.9),
    max: hist.maxValue,
    mean: hist.mean,
    count: hist.totalCount,
  };
}

/**
 * Compares one received chunk with the expected bytes at its offset (memcmp, no copy).
 * Returns the reason it is wrong, or undefined when it matches.
 */
export function checkChunk(expected: Buffer | undefined, chunk: Buffer, offset: number): string | undefined {
  if (!expected) return 'unexpected path';
  if (offset + chunk.length > expected.length) return `body longer than expected ${expected.length} bytes`;
  if (expected.compare(chunk, 0, chunk.length, offset, offset + chunk.length) === 0) return undefined;
  let i = 0;
  while (i < chunk.length && chunk[i] === expected[offset + i]) i++;
  return `content differs from expected at byte ${offset + i}`;
}

/** Tallies verified and failed bodies, keeping the first few failures with their reasons. */
export class VerificationTally {
  readonly result: VerificationResult = { verified: 0, failed: 0, failures: [] };

  /** Records a finished response: status, first chunk error (if any), bytes received vs expected. */
  finish(path: string, status: number | undefined, chunkError: string | undefined, received: number, expected: Buffer | undefined): void {
    if (status !== 200) this.fail(path, `HTTP status ${status}`);
    else if (chunkError) this.fail(path, chunkError);
    else if (!expected || received !== expected.length) this.fail(path, `short body: ${received} of ${expected?.length ?? '?'} bytes`);
    else this.result.verified++;
  }

  private fail(path: string, reason: string): void {
    this.result.failed++;
    if (this.result.failures.length < MAX_FAILURES_KEPT) this.result.failures.push({ path, reason });
  }
}
