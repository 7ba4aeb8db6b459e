import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { valueImports } from '../helpers/imports.js';
import { tsFiles } from '../helpers/sources.js';

// Processes one way: every program headgate starts goes through lib/exec.ts (runCommand: run to
// completion; startProcess: stream; runSync: one-line lookups), each in a process group of its
// own, SIGTERM then SIGKILL. Read with the TypeScript parser, so an import split over lines, an
// export-from and a dynamic import() are all seen; type-only imports start nothing and are allowed.

const PROCESS_MODULES = new Set(['node:child_process', 'child_process', 'zx', 'execa', 'cross-spawn']);
const ALLOWED = new Set(['harness/lib/exec.ts']);

describe('processes one way', () => {
  it('only lib/exec.ts imports a module that starts processes', () => {
    const offenders = tsFiles(path.join(ROOT, 'harness'))
      .map((f) => path.relative(ROOT, f))
      .filter((rel) => !ALLOWED.has(rel))
      .flatMap((rel) => valueImports(readFileSync(path.join(ROOT, rel), 'utf8'), rel).filter((m) => PROCESS_MODULES.has(m)).map((m) => `${rel} imports ${m}`));
    expect(offenders).toEqual([]);
  });

  it('the check sees what a regex would miss, and lets type-only imports pass', () => {
    expect(valueImports("import {\n  spawn,\n} from 'node:child_process';")).toEqual(['node:child_process']);
    expect(valueImports("const { $ } = await import('zx');")).toEqual(['zx']);
    expect(valueImports("export { spawn } from 'node:child_process';")).toEqual(['node:child_process']);
    expect(valueImports("import type { ChildProcess } from 'node:child_process';")).toEqual([]);
    expect(valueImports("import { type ChildProcess } from 'node:child_process';")).toEqual([]);
    expect(valueImports("export { type ChildProcess } from 'node:child_process';")).toEqual([]);
    expect(valueImports("import 'zx/globals';")).toEqual(['zx/globals']);
  });
});
