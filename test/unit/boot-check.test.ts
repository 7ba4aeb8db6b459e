import { describe, expect, it } from 'vitest';
import { checkBooted } from '../../harness/app/ab.js';
import type { BootRecord } from '../../harness/model/types.js';

// H6: a boot counts only if it shows what its configuration asked for, and two sides that
// booted identically are an A/A session, never reported as A/B.

const rec = (side: 'A' | 'B', o: Partial<BootRecord> = {}): BootRecord => ({ side, config: side, bootSec: 10, at: '', kernelRelease: '6.1.0-28-amd64', kernelVersion: '#1 SMP Debian 6.1.119-1', cmdline: 'root=/dev/vda console=ttyS0', method: 'hook', ...o });

describe('what booted is checked (H6)', () => {
  it("the configuration's command-line words must be on the running command line", () => {
    expect(() => checkBooted('lab', { label: 'b', append: 'mitigations=off' }, rec('B'), [])).toThrow(/boot b \(B\) came up without mitigations=off on its command line/);
    expect(() => checkBooted('lab', { label: 'b', append: 'mitigations=off' }, rec('B', { cmdline: 'root=/dev/vda mitigations=off' }), [])).not.toThrow();
  });

  it('two sides with the same kernel and command line are refused (exit 3); a different kernel passes', () => {
    const a = rec('A');
    let err: unknown;
    try {
      checkBooted('lab', { label: 'new' }, rec('B'), [a]);
    } catch (e) {
      err = e;
    }
    expect((err as { exitCode: number }).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/A and B booted identically \(6\.1\.0-28-amd64, root=\/dev\/vda console=ttyS0\)/);
    expect(() => checkBooted('lab', { label: 'new' }, rec('B', { kernelVersion: '#1 SMP PREEMPT_DYNAMIC head-20261207' }), [a])).not.toThrow();
  });

  it('FreeBSD records kern.bootfile: loader variables are checked by kenv elsewhere, not as command-line words', () => {
    const bsd = (side: 'A' | 'B') => rec(side, { kernelRelease: '16.0-CURRENT', cmdline: '/boot/kernel/kernel' });
    expect(() => checkBooted('bsd', { label: 'b', append: 'hw.foo=1' }, bsd('B'), [bsd('A')])).not.toThrow();
  });
});
