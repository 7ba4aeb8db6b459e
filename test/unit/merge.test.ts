import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import type { HttpLoadResult } from '../../harness/probes/http.js';
import { mergeLoadResults } from '../../harness/probes/merge.js';
import { latencySummary } from '../../harness/probes/verify.js';
import { mulberry32 } from '../../harness/stats/shift.js';

const build = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

/** A client's result whose latencies are the given samples. */
function clientResult(samples: number[], cpu: number): HttpLoadResult {
  const h = build();
  for (const s of samples) h.recordValue(s);
  return {
    durationSec: 2,
    requests: samples.length,
    bodyBytes: samples.length * 1000,
    wireBytes: samples.length * 1100,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    verification: { verified: samples.length, failed: 0, failures: [] },
    latencyUs: latencySummary(h),
    clientCpu: cpu,
    clientBound: cpu >= 0.9,
    histograms: { latency: hdr.encodeIntoCompressedBase64(h) },
  };
}

describe('merging load clients', () => {
  // Two clients with very different (skewed, heavy-tailed) latency: an average of their
  // percentiles would be wrong; the merged histogram must equal one histogram of all samples.
  const rnd = mulberry32(7);
  const fast = Array.from({ length: 5000 }, () => Math.round(200 + 100 * -Math.log(1 - rnd())));
  const slow = Array.from({ length: 500 }, () => Math.round(5000 + 20000 * -Math.log(1 - rnd())));

  it('gives exactly the percentiles of all samples together', () => {
    const merged = mergeLoadResults([{ name: 'a', result: clientResult(fast, 0.5) }, { name: 'b', result: clientResult(slow, 0.4) }]);
    const all = build();
    for (const s of [...fast, ...slow]) all.recordValue(s);
    expect(merged.latencyUs).toEqual(latencySummary(all));
    const avgOfP99 = (clientResult(fast, 0).latencyUs.p99 + clientResult(slow, 0).latencyUs.p99) / 2;
    expect(merged.latencyUs.p99).not.toBe(avgOfP99);
    expect(merged.requests).toBe(fast.length + slow.length);
    expect(merged.verification.verified).toBe(fast.length + slow.length);
  });

  it('names a client that saturated its core', () => {
    const merged = mergeLoadResults([{ name: 'idle', result: clientResult(fast, 0.3) }, { name: 'busy', result: clientResult(slow, 0.97) }]);
    expect(merged.clientBound).toBe(true);
    expect(merged.clients?.filter((c) => c.clientBound).map((c) => c.name)).toEqual(['busy']);
  });
});
