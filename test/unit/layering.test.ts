import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { checkLayering, type LayeringRules } from '../helpers/layering.js';

// The layers of harness/ as allow-lists (docs/architecture.md): what each folder may import, what
// a suite may import, and where each outside module may be loaded. Everything not listed is
// forbidden; a listed entry no file uses any more fails too, so the lists stay the truth.
const RULES: LayeringRules = {
  harness: {
    model: [],
    lib: ['model'],
    // Pure: numbers in, numbers out.
    stats: ['model/types'],
    verdict: ['model', 'stats'],
    store: ['lib', 'model', 'stats', 'verdict'],
    drivers: ['lib', 'model'],
    probes: ['drivers', 'lib', 'model', 'stats'],
    engine: ['drivers', 'lib', 'model', 'probes', 'verdict'],
    reporters: ['lib', 'model', 'stats', 'store', 'verdict'],
    app: ['drivers', 'engine', 'lib', 'model', 'probes', 'reporters', 'stats', 'store', 'verdict'],
    // Each command parses its flags, calls its use case and prints.
    cli: ['app', 'lib', 'model', 'reporters'],
  },
  // The suite API; what several suites share lives behind it (engine/suite-shared.ts).
  suites: ['engine/suite', 'model/types'],
  external: {
    // Processes one way (test/unit/processes.test.ts): only lib/exec.ts starts them.
    zx: ['lib/exec.ts'],
    'node:child_process': ['lib/exec.ts'],
    // Every other builtin, except in the pure layers (stats, verdict).
    'node:*': ['model', 'lib', 'store', 'drivers', 'probes', 'engine', 'reporters', 'app', 'cli', 'suites'],
    ajv: ['model'],
    yaml: ['model', 'cli/migrate.ts'],
    'cli-progress': ['lib'],
    tar: ['lib'],
    autocannon: ['probes'],
    'hdr-histogram-js': ['probes'],
    'playwright-core': ['probes', 'engine'],
    'better-sqlite3': ['store'],
    'allure-js-commons': ['reporters'],
    picocolors: ['reporters'],
    'cli-table3': ['reporters', 'cli'],
    commander: ['cli'],
    sparkly: ['cli'],
  },
  // None: an import that breaks a rule is moved, not excused. An entry here names the file and
  // specifier (`harness/cli/x.ts -> ../engine/y.js`) and why it stays; the test lists it.
  exceptions: {},
};

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'layering');

describe('layering', () => {
  const report = checkLayering(ROOT, RULES);

  it('knows every folder of harness/', () => {
    expect(report.unknown).toEqual([]);
  });

  it('every import of harness/ and suites/ is on an allow-list', () => {
    expect(report.violations).toEqual([]);
  });

  it('every allow-list entry is still used', () => {
    expect(report.stale).toEqual([]);
  });

  it('no import is let through by an exception', () => {
    expect(report.excused).toEqual([]);
  });

  // Testing the test: each fixture tree breaks one rule in a way a line-based reading would miss.
  it('sees an upward import split over three lines', () => {
    const r = checkLayering(path.join(FIXTURES, 'upward'), RULES);
    expect(r.violations).toEqual([
      'harness/model/options.ts:6 imports ../cli/flags.js (model may import nothing else, not cli)',
    ]);
  });

  it('sees a suite importing another suite', () => {
    const r = checkLayering(path.join(FIXTURES, 'sibling-suite'), RULES);
    expect(r.violations).toEqual([
      'suites/pbuf/index.ts:2 imports ../sendfile/index.js (a suite imports another suite (sendfile))',
    ]);
  });

  it('sees zx loaded with import() outside lib/exec.ts, and a type-only import of a higher layer', () => {
    const r = checkLayering(path.join(FIXTURES, 'external'), RULES);
    expect(r.violations).toEqual([
      'harness/drivers/run.ts:1 imports ../engine/suite.js (drivers may import lib, model, not engine)',
      'harness/drivers/run.ts:6 imports zx (zx only in lib/exec.ts)',
    ]);
  });

  it('reports an unknown folder, an unused rule and an unused exception as stale', () => {
    const r = checkLayering(path.join(FIXTURES, 'upward'), {
      ...RULES,
      exceptions: { 'harness/cli/x.ts -> ../engine/y.js': 'test' },
    });
    expect(r.unknown).toEqual([]);
    expect(r.stale).toContain('harness/cli may import app, but no file does');
    expect(r.stale).toContain('exception harness/cli/x.ts -> ../engine/y.js: the import is gone or allowed now');
    const { model: _model, ...withoutModel } = RULES.harness;
    expect(checkLayering(path.join(FIXTURES, 'upward'), { ...RULES, harness: withoutModel }).unknown).toEqual([
      'harness/model: not in the layering rules',
    ]);
  });

  it('lets an exception through by name, and lists it', () => {
    const r = checkLayering(path.join(FIXTURES, 'upward'), {
      ...RULES,
      exceptions: { 'harness/model/options.ts -> ../cli/flags.js': 'moving in issue 99' },
    });
    expect(r.violations).toEqual([]);
    expect(r.excused).toEqual(['harness/model/options.ts:6 imports ../cli/flags.js: moving in issue 99']);
  });
});
