import Table from 'cli-table3';
import pc from 'picocolors';
import { integrityFailures } from '../verdict/compare.js';
import type { Comparison, RunRecord } from '../model/types.js';
import { abBlockLines, abBootLines, changeWithCi, efficiencyNoise, fmt, noiseLine, repsCell, thresholdCell, keyMetrics, notRun, verdictWithMde } from './format.js';

const color = (v: string) => (v === 'regressed' ? pc.red(v.toUpperCase()) : v === 'improved' ? pc.green(v) : v === 'inconclusive' ? pc.yellow(v) : v);

/** The verdict table printed at the end of gate and compare (gating metrics; --all for every metric). */
export function verdictTable(run: RunRecord, c: Comparison | undefined, opts: { all?: boolean } = {}): string {
  const lines: string[] = [];
  if (c && c.comparisons.length) {
    const t = new Table({ head: ['suite/variant', 'metric', 'baseline', 'current', 'change [95% CI]', 'threshold (noise)', 'reps', 'p_adj', 'verdict'], style: { head: [], border: [] } });
    for (const m of c.comparisons.filter((x) => opts.all || x.gating || x.notGating !== undefined)) {
      const ref = m.referenceVariant !== m.variant ? ` (vs ${m.referenceVariant})` : '';
      t.push([`${m.suite}/${m.variant}${ref}`, `${m.title} (${m.unit})`, fmt(m.baselineMedian), fmt(m.currentMedian), changeWithCi(m), thresholdCell(m), repsCell(m), m.pAdjusted.toPrecision(2), verdictWithMde(m, m.notGating ? `${color(m.verdict)} (not gated in this run)` : color(m.verdict))]);
    }
    lines.push(t.toString());
  } else {
    // No reference: show what was measured so the run can be judged and promoted.
    const t = new Table({ head: ['suite/variant', 'reps', 'gating metrics (median)', 'verified', 'failed'], style: { head: [], border: [] }, colWidths: [32, 6, 60, 10, 8], wordWrap: true });
    for (const s of run.suites)
      for (const v of s.variants.filter((x) => x.status === 'ran')) {
        const verified = v.repetitions.reduce((a, r) => a + r.verification.verified, 0);
        const failed = v.repetitions.reduce((a, r) => a + r.verification.failed, 0);
        t.push([`${s.id}/${v.id}`, String(v.repetitions.length), keyMetrics(run, s.id, v.id) || '-', String(verified), failed ? pc.red(String(failed)) : '0']);
      }
    lines.push(t.toString());
  }
  // Efficiency is only worth gating if its noise is small next to the change it must catch.
  const noise = efficiencyNoise(run);
  for (const key of new Set(noise.map((r) => `${r.suite}/${r.variant}`))) {
    const first = noise.find((r) => `${r.suite}/${r.variant}` === key)!;
    lines.push(`efficiency and noise (median, robust CV over ${first.n} reps) ${key}: ${noiseLine(noise, first.suite, first.variant)}`);
  }
  for (const l of [...abBootLines(run), ...abBlockLines(run)]) lines.push(`A/B ${l}`);
  for (const n of notRun(run)) lines.push(`${n.status === 'error' ? pc.red('error') : pc.yellow('skipped')}: ${n.suite}${n.variant ? '/' + n.variant : ''}: ${n.reason}`);
  for (const f of c?.integrityFailures ?? integrityFailures(run)) lines.push(pc.red(`INTEGRITY: ${f}`));
  for (const d of c?.fingerprintDifferences ?? []) lines.push(pc.yellow(`differs from the reference: ${d}`));
  for (const m of c?.missing ?? []) lines.push(pc.yellow(`missing reference: ${m}`));
  const clientBound = run.suites.flatMap((s) => s.variants.flatMap((v) => v.repetitions.filter((r) => r.clientBound).map(() => `${s.id}/${v.id}`)));
  if (clientBound.length) lines.push(pc.yellow(`client-bound repetitions (the load generator, not the target, was saturated): ${[...new Set(clientBound)].join(', ')}`));
  return lines.join('\n');
}
