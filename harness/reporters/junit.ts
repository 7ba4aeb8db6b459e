import path from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import type { RunRecord } from '../model/types.js';
import { verdictLine } from './format.js';
import type { Reporter } from './reporter.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JUnit XML: one testsuite per suite, one testcase per variant x gating metric, plus payload verification. */
export function renderJunit(run: RunRecord): string {
  const c = run.comparison;
  const suites: string[] = [];
  let total = 0;
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  for (const s of run.suites) {
    const cases: string[] = [];
    let sf = 0;
    let se = 0;
    let ss = 0;
    if (s.variants.length === 0) {
      cases.push(`    <testcase classname="headgate.${esc(s.id)}" name="${esc(s.id)}"><skipped message="${esc(s.reason ?? '')}"/></testcase>`);
      ss++;
    }
    for (const v of s.variants) {
      const cls = `headgate.${esc(s.id)}.${esc(v.id)}`;
      if (v.status !== 'ran') {
        if (v.status === 'skipped') ss++;
        else se++;
        const tag = v.status === 'skipped' ? 'skipped' : 'error';
        cases.push(`    <testcase classname="${cls}" name="${esc(v.id)}"><${tag} message="${esc(v.reason ?? '')}"/></testcase>`);
        continue;
      }
      const bad = v.repetitions.filter((r) => r.verification.failed > 0);
      const verified = v.repetitions.reduce((a, r) => a + r.verification.verified, 0);
      if (bad.length) {
        sf++;
        const f = bad[0].verification.failures[0];
        cases.push(`    <testcase classname="${cls}" name="payload verification"><failure message="${esc(`${bad.reduce((a, r) => a + r.verification.failed, 0)} bodies failed verification${f ? `; first ${f.path}: ${f.reason}` : ''}`)}"/></testcase>`);
      } else cases.push(`    <testcase classname="${cls}" name="payload verification"><system-out>${verified} bodies verified</system-out></testcase>`);
      for (const m of (c?.comparisons ?? []).filter((x) => x.suite === s.id && x.variant === v.id && (x.gating || x.notGating))) {
        const line = esc(verdictLine(m));
        if (m.notGating) {
          // A gating metric this run could not estimate: skipped with the reason, never a pass.
          ss++;
          cases.push(`    <testcase classname="${cls}" name="${esc(m.metric)}"><skipped message="${line}"/></testcase>`);
        } else if (m.verdict === 'regressed') {
          sf++;
          cases.push(`    <testcase classname="${cls}" name="${esc(m.metric)}"><failure message="${line}"/></testcase>`);
        } else if (m.verdict === 'inconclusive') {
          se++;
          cases.push(`    <testcase classname="${cls}" name="${esc(m.metric)}"><error message="${line}"/></testcase>`);
        } else cases.push(`    <testcase classname="${cls}" name="${esc(m.metric)}"><system-out>${line}</system-out></testcase>`);
      }
    }
    total += cases.length;
    failures += sf;
    errors += se;
    skipped += ss;
    suites.push(`  <testsuite name="${esc(s.id)}" tests="${cases.length}" failures="${sf}" errors="${se}" skipped="${ss}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="headgate ${esc(run.runId)}" tests="${total}" failures="${failures}" errors="${errors}" skipped="${skipped}">\n${suites.join('\n')}\n</testsuites>\n`;
}

/** Writes junit.xml into the run directory. */
export const junitReporter: Reporter = {
  name: 'junit',
  async render(ctx) {
    const file = path.join(ctx.runDir, 'junit.xml');
    await writeAtomic(file, renderJunit(ctx.run));
    return [file];
  },
};
