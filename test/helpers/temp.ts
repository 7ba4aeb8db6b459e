import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

// Directories made by tempDir in this test file. Vitest evaluates this module once per test file
// (isolated module graphs), so the afterAll below belongs to the importing file's root suite and
// removes that file's directories when it ends, whatever the tests did.
const made = new Set<string>();

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
  made.clear();
});

/**
 * A fresh directory under the system temp directory, removed after the test file. Use an `hg-`
 * prefix: the global teardown (test/helpers/tmp-check.ts) reports any hg-* entry left in /tmp.
 */
export function tempDir(prefix = 'hg-test-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(d);
  return d;
}

/** Removes a directory made by tempDir now (before the file ends), e.g. to keep a big one short-lived. */
export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  made.delete(d);
}
