import { describe, expect, it } from 'vitest';
import type { RunRecord, VariantResult } from '../../harness/model/types.js';
import { compareRun, runAsReference } from '../../harness/verdict/compare.js';
import { comparePairedRun } from '../../harness/verdict/paired.js';
import { makeRun } from '../helpers/records.js';

// H5 and M7: a variant the reference ran, this run was asked for, and did not run is missing, and
// missing blocks: exit 1 when the kernel lacks what it needs, exit 2 when this run's own options
// left it out. The reference side's own payload and proof failures block a comparison too.

const OPTS = { alpha: 0.05 };
const samples = { throughput_gbps: [10, 10.1, 9.9, 10, 10.2, 9.8], latency_p99_ms: [2, 2.1, 1.9, 2, 2, 2.1], errors: [0, 0, 0, 0, 0, 0] };

/** A run where `kyber` was asked for and skipped with the given reason and kind. */
function withSkipped(reason: string, skipKind?: VariantResult['skipKind']): RunRecord {
  const r = makeRun({ none: samples, kyber: samples }, { runId: 'today' });
  Object.assign(r.suites[0].variants[1], { status: 'skipped', reason, repetitions: [], ...(skipKind ? { skipKind } : {}) });
  return r;
}
const reference = makeRun({ none: samples, kyber: samples }, { runId: 'base' });

describe('a kernel that lost a feature never passes', () => {
  it('a scheduler the kernel lacks (capability skip) against a reference that ran it: exit 1 naming the variant and the reason', () => {
    const c = compareRun(withSkipped('I/O scheduler kyber not built into this kernel (loop0 offers: [none] mq-deadline)', 'capability'), runAsReference(reference), OPTS);
    expect(c.exitCode).toBe(1);
    expect(c.verdict).toBe('fail');
    expect(c.lost).toEqual(['sendfile/kyber: the reference run base ran it, this run skipped it (I/O scheduler kyber not built into this kernel (loop0 offers: [none] mq-deadline))']);
    expect(c.missing).toEqual(c.lost);
    expect(c.summary).toMatch(/^1 variant\(s\) lost: sendfile\/kyber/);
  });

  it('a record from before skip kinds were recorded counts as a loss (fail closed)', () => {
    expect(compareRun(withSkipped('kernel built without kTLS'), runAsReference(reference), OPTS).exitCode).toBe(1);
  });

  it("this run's own options left it out (setup skip): exit 2 naming the variant", () => {
    const c = compareRun(withSkipped('cold cache needs the objects on a filesystem the harness can evict; with --server-url they live on the appliance', 'setup'), runAsReference(reference), OPTS);
    expect(c.exitCode).toBe(2);
    expect(c.setupMissing?.[0]).toMatch(/^sendfile\/kyber: .*--server-url/);
    expect(c.summary).toMatch(/^not comparable: sendfile\/kyber/);
  });

  it('a variant this run was not asked for is not missing', () => {
    const today = makeRun({ none: samples }, { runId: 'today' });
    const c = compareRun(today, runAsReference(reference), OPTS);
    expect(c.missing).toEqual([]);
    expect(c.exitCode).toBe(0);
  });

  it('a variant the reference never ran is not lost', () => {
    const c = compareRun(withSkipped('kyber missing', 'capability'), runAsReference(makeRun({ none: samples }, { runId: 'base' })), OPTS);
    expect(c.lost).toBeUndefined();
    expect(c.exitCode).toBe(0);
  });

  it('the same holds for paired (ab) comparisons', () => {
    const c = comparePairedRun(withSkipped('congestion control bbr not available', 'capability'), reference, OPTS);
    expect(c.exitCode).toBe(1);
    expect(c.lost?.[0]).toMatch(/^sendfile\/kyber: the reference run base ran it/);
  });
});

describe("the reference side's own failures block a comparison (M7)", () => {
  it('a reference run with a payload verification failure or a feature that did not engage: exit 2 naming it', () => {
    const broken = makeRun({ none: samples }, { runId: 'base' });
    broken.suites[0].variants[0].repetitions[2].verification = { verified: 99, failed: 1, failures: [{ path: '/o/1', reason: 'sha256 mismatch' }] } as never;
    const c = compareRun(makeRun({ none: samples }, { runId: 'today' }), runAsReference(broken), OPTS);
    expect(c.exitCode).toBe(2);
    expect(c.referenceIntegrity?.[0]).toMatch(/^the reference run base: sendfile\/none #3: 1 response bodies failed verification/);
    const proof = makeRun({ none: samples }, { runId: 'base' });
    proof.suites[0].variants[0].repetitions[0].proofFailures = ['sendfile: kern.ipc.sfstat did not move'];
    const p = comparePairedRun(makeRun({ none: samples }, { runId: 'today' }), proof, OPTS);
    expect(p.exitCode).toBe(2);
    expect(p.summary).toMatch(/feature not engaged: sendfile: kern.ipc.sfstat did not move/);
  });
});
