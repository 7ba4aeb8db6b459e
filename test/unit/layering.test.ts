import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { tsFiles } from '../helpers/sources.js';

// The layers of harness/, bottom first: a module may import its own layer and the ones below,
// never one above (docs/architecture.md). model, lib and stats are the floor.
const RANK: Record<string, number> = {
  model: 0,
  lib: 0,
  stats: 0,
  verdict: 1,
  store: 2,
  drivers: 3,
  probes: 4,
  engine: 5,
  reporters: 6,
  app: 7,
  cli: 8,
};

/** Every import specifier of a file: static, re-export and dynamic. */
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"\n;]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

const layerOf = (file: string) => path.relative(path.join(ROOT, 'harness'), file).split(path.sep)[0];

describe('layering', () => {
  const harness = tsFiles(path.join(ROOT, 'harness'));

  it('knows every folder of harness/', () => {
    const unknown = [...new Set(harness.map(layerOf))].filter((l) => !(l in RANK));
    expect(unknown).toEqual([]);
  });

  it('no module imports a layer above its own', () => {
    const violations: string[] = [];
    for (const f of harness) {
      const from = layerOf(f);
      for (const spec of imports(f).filter((s) => s.startsWith('.'))) {
        const to = layerOf(path.resolve(path.dirname(f), spec));
        if (RANK[to] === undefined || RANK[to] > RANK[from]) violations.push(`${path.relative(ROOT, f)} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('only the CLI sees commander or the flag types', () => {
    const offenders = harness
      .filter((f) => layerOf(f) !== 'cli')
      .filter((f) => imports(f).some((s) => s === 'commander' || /\/cli\//.test(s)) || /\bFlagValues\b|\bFlags\b/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  it('stats are pure: they import only stats and model types', () => {
    const impure = tsFiles(path.join(ROOT, 'harness', 'stats')).flatMap((f) =>
      imports(f)
        .filter((s) => !(s.startsWith('./') || s.startsWith('../model/types')))
        .map((s) => `${path.relative(ROOT, f)}: ${s}`),
    );
    expect(impure).toEqual([]);
  });

  it('suites talk to the harness API (engine/suite, model types), never to a driver', () => {
    const bad: string[] = [];
    for (const f of tsFiles(path.join(ROOT, 'suites'))) {
      for (const s of imports(f).filter((x) => x.includes('harness/'))) {
        if (!/harness\/(engine\/suite|model\/types)\.js$/.test(s)) bad.push(`${path.relative(ROOT, f)}: ${s}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
