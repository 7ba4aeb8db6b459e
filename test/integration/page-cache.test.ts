import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { describe, expect, it } from 'vitest';
import { LocalTarget } from '../../harness/drivers/targets/local.js';
import { tempDir } from '../helpers/temp.js';

/** Bytes of the file resident in the page cache, per util-linux fincore (mincore(2)). */
async function resident(file: string): Promise<number> {
  const r = await $({ quiet: true })`fincore --bytes --noheadings --raw --output RES ${file}`;
  return Number(r.stdout.trim());
}

describe('page cache priming on Linux (real kernel, checked with fincore)', () => {
  it('dd iflag=nocache evicts a file, and primePageCache leaves it fully resident again', async () => {
    const file = path.join(tempDir('hg-pc-'), 'obj.bin');
    const size = 8 * 2 ** 20;
    writeFileSync(file, Buffer.alloc(size, 7));
    await $`sync`;
    await $({ quiet: true })`cat ${file} > /dev/null`;
    expect(await resident(file)).toBe(size);
    await $({ quiet: true })`dd if=${file} iflag=nocache count=0 status=none`;
    expect(await resident(file)).toBeLessThan(size / 8);
    const adapter = await new LocalTarget().os();
    expect(await adapter.primePageCache([file])).toBeNull();
    expect(await resident(file)).toBe(size);
  });

  it('a file that cannot be read is reported, not ignored', async () => {
    const adapter = await new LocalTarget().os();
    expect(await adapter.primePageCache(['/nonexistent/headgate-object'])).toMatch(/page cache not primed/);
  });
});
