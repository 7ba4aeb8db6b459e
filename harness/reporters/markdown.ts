import path from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import { isSafeName } from '../lib/confine.js';
import { checkRunRecordPaths } from '../store/runs.js';
import { integrityFailures, splitWords } from '../verdict/compare.js';
import type { RunRecord } from '../model/types.js';
import { abBlockLines, abBootLines, changeWithCi, efficiencyNoise, fmt, repsCell, thresholdCell, notRun, VERDICT_MARK, keyMetrics, verdictWithMde } from './format.js';
import type { Reporter } from './reporter.js';

const HEAD: Record<string, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  inconclusive: 'INCONCLUSIVE',
  error: 'INFRASTRUCTURE ERROR',
  'no-baseline': 'NO BASELINE',
};

/** summary.md: the verdict and the numbers, for a merge request or a CI job summary. */
export function renderMarkdown(run: RunRecord): string {
  const c = run.comparison;
  const fp = run.fingerprint;
  const out: string[] = [];
  out.push(`# headgate ${c ? HEAD[c.verdict] : 'RUN'}: ${run.runId}`, '');
  if (c) out.push(`**${c.summary}** (exit ${c.exitCode})`, '');
  out.push(`Target \`${run.target.name}\` (${run.target.kind}; ${fp.os} ${fp.kernelRelease}, ${fp.cpuCount} x ${fp.cpuModel}), profile \`${run.profile}\`, run status ${run.status}.`);
  if (run.options.split) out.push('', `CPU split: ${splitWords(run.options)}; server and machine CPU figures count the server's CPUs only.`);
  for (const n of run.target.notes ?? []) out.push('', `> **Note:** ${n}`);
  const paired = c?.comparisons.some((m) => 'paired' in m);
  const method = paired
    ? 'paired by round: one-sided Wilcoxon signed-rank of the within-pair log ratios in the bad direction, Holm-corrected, their Hodges-Lehmann estimate with its 95% distribution-free interval'
    : 'one-sided Mann-Whitney U in the bad direction, Holm-corrected, Hodges-Lehmann shift with its 95% distribution-free interval';
  if (c && c.reference.id !== 'none') out.push(`Compared with ${c.reference.kind} \`${c.reference.id}\`; false-alarm budget ${c.alpha} over all metrics and looks: ${method}.`);
  out.push('');
  const integrity = c?.integrityFailures ?? integrityFailures(run);
  if (integrity.length) {
    out.push('## Payload verification failures', '', ...integrity.map((f) => `- ${f}`), '');
  }
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  if (c && c.comparisons.length) {
    for (const gating of [true, false]) {
      // A gating metric set aside in this run (a thin percentile) stays among the gating ones, marked.
      const rows = c.comparisons.filter((m) => (m.gating || m.notGating !== undefined) === gating);
      if (!rows.length) continue;
      if (!gating) out.push('<details><summary>Informational metrics</summary>', '');
      else out.push('## Gating metrics', '');
      out.push(row(['suite/variant', 'metric', 'baseline', 'current', 'change [95% CI]', 'threshold (noise)', 'reps', 'p_adj', 'verdict']), row(['---', '---', '---:', '---:', '---', '---', '---', '---:', '---']));
      for (const m of rows) {
        const v = VERDICT_MARK[m.verdict];
        const mark = m.notGating ? `${v} (not gated in this run: too few samples beyond the percentile)` : m.verdict === 'regressed' ? `**${v}**` : v;
        out.push(row([`${m.suite}/${m.variant}${m.referenceVariant !== m.variant ? ` (vs ${m.referenceVariant})` : ''}`, `${m.title} (${m.unit})`, fmt(m.baselineMedian), fmt(m.currentMedian), changeWithCi(m), thresholdCell(m), repsCell(m), m.pAdjusted.toPrecision(2), verdictWithMde(m, mark)]));
      }
      out.push('');
      if (!gating) out.push('</details>', '');
    }
  } else {
    out.push('## Measured (no baseline)', '', row(['suite/variant', 'reps', 'gating metrics (median)']), row(['---', '---:', '---']));
    for (const s of run.suites)
      for (const v of s.variants.filter((x) => x.status === 'ran')) out.push(row([`${s.id}/${v.id}`, String(v.repetitions.length), keyMetrics(run, s.id, v.id)]));
    // Only a safe run id is offered as a command to copy (a hostile run.json cannot inject one).
    if (isSafeName(run.runId)) out.push('', `Promote it: \`headgate baseline promote ${run.runId} --reason "..."\``, '');
  }
  const noise = efficiencyNoise(run);
  if (noise.length) {
    out.push('## Efficiency and its noise', '', 'Median and robust CV (1.4826 x MAD / median) over the repetitions: an efficiency metric can only catch changes well above its CV.', '');
    out.push(row(['suite/variant', 'metric', 'median', 'robust CV', 'reps']), row(['---', '---', '---:', '---:', '---:']));
    for (const r of noise) out.push(row([`${r.suite}/${r.variant}`, `${r.metric} (${r.unit})`, fmt(r.median), `${(r.cv * 100).toFixed(1)}%`, String(r.n)]));
    out.push('');
  }
  if (run.abBlocks) {
    const ab = run.abBlocks;
    out.push(`## A/B ${ab.form === 'boots' ? 'by reboot' : 'by blocks'}: A = ${ab.a}, B = ${ab.b}`, '');
    if (ab.boots.length) out.push('Boots, as the target reported them after each reboot:', '', ...abBootLines(run).map((l) => `- ${l}`), '');
    out.push('Blocks, in the order they ran (repetition k of a round pairs with its counterpart on the other side):', '', ...abBlockLines(run).map((l) => `- ${l}`), '');
  }
  const skipped = notRun(run);
  if (skipped.length) out.push('## Not run', '', ...skipped.map((n) => `- ${n.status}: ${n.suite}${n.variant ? '/' + n.variant : ''}: ${n.reason}`), '');
  if (c?.fingerprintDifferences.length) out.push('## Differences from the reference (fingerprint and run options)', '', ...c.fingerprintDifferences.map((d) => `- ${d}`), '');
  if (run.restoreFailures.length) out.push('## Restore failures (the target may not be as it was found)', '', ...run.restoreFailures.map((d) => `- ${d}`), '');
  return out.join('\n');
}

/** Writes summary.md into the run directory. */
export const markdownReporter: Reporter = {
  name: 'markdown',
  async render(ctx) {
    checkRunRecordPaths(ctx.run, ctx.runDir);
    const file = path.join(ctx.runDir, 'summary.md');
    await writeAtomic(file, renderMarkdown(ctx.run));
    return [file];
  },
};
