import { metricSamples } from '../model/samples.js';
import { FileSystemWriter, ReporterRuntime } from 'allure-js-commons/sdk/reporter';
import { Stage, Status, type Label, type Parameter } from 'allure-js-commons';
import { existsSync, statSync } from 'node:fs';
import { cp, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { writeJsonAtomic } from '../lib/atomic.js';
import { confineAs } from '../lib/confine.js';
import { checkRunRecordPaths } from '../store/runs.js';
import type { MetricComparison, RunRecord, SuiteResult, VariantResult } from '../model/types.js';
import { historyChart, samplesChart } from './chart.js';
import { abBlockLines, abBootLines, changeWithCi, fmt, mdeText, repsCell, thresholdCell, verdictLine } from './format.js';
import { splitWords } from '../verdict/compare.js';
import type { HistorySource, Reporter } from './reporter.js';
import { runCommand } from '../lib/exec.js';

/** A regular file (symlinks followed; the path is already confined to the run directory)? */
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

const escHtml = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Allure categories: how a release reviewer sees failures grouped. */
export const ALLURE_CATEGORIES = [
  { name: 'Integrity failure', description: 'A response body differed from the expected object', matchedStatuses: [Status.FAILED], messageRegex: '.*verification.*' },
  { name: 'Regression', description: 'A gating metric regressed significantly and beyond its noise floor', matchedStatuses: [Status.FAILED], messageRegex: '.*regressed.*' },
  { name: 'Inconclusive', description: 'Looks worse, but not significant: add repetitions', matchedStatuses: [Status.BROKEN], messageRegex: '.*inconclusive.*' },
  { name: 'Infrastructure', description: 'The target, server or tooling failed; not a verdict about the kernel', matchedStatuses: [Status.BROKEN], messageRegex: '.*' },
];

function environment(run: RunRecord): Record<string, string> {
  const fp = run.fingerprint;
  const env: Record<string, string> = {
    'Run id': run.runId,
    Target: `${run.target.kind}:${run.target.name}`,
    ...(run.target.notes?.length ? { 'Target notes': run.target.notes.join(' / ') } : {}),
    Profile: run.profile,
    OS: fp.os,
    'Kernel release': fp.kernelRelease,
    'Kernel version': fp.kernelVersion,
    Arch: fp.arch,
    CPU: `${fp.cpuCount} x ${fp.cpuModel}`,
    Memory: `${(fp.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    'CPU split': splitWords(run.options),
    'headgate version': run.tool.version,
  };
  for (const [k, v] of Object.entries(fp.sysctls)) env[k] = v;
  for (const [k, v] of Object.entries(fp.tools)) env[`${k} version`] = v;
  if (run.comparison) env.Reference = `${run.comparison.reference.kind} ${run.comparison.reference.id}`;
  return env;
}

const statusOf = (c: MetricComparison) =>
  c.notGating ? Status.SKIPPED : c.gating && c.verdict === 'regressed' ? Status.FAILED : c.gating && c.verdict === 'inconclusive' ? Status.BROKEN : Status.PASSED;

/** Writes Allure results (one test case per suite x variant x metric) into dir. */
export async function writeAllureResults(run: RunRecord, runDir: string, dir: string, history?: HistorySource): Promise<void> {
  // Names and paths from run.json are checked before anything is removed, written or read (exit 2).
  checkRunRecordPaths(run, runDir);
  await rm(dir, { recursive: true, force: true });
  const runtime = new ReporterRuntime({
    writer: new FileSystemWriter({ resultsDir: dir }),
    environmentInfo: environment(run),
    categories: ALLURE_CATEGORIES,
  });
  const start = Date.parse(run.startedAt);
  const stop = Date.parse(run.finishedAt ?? run.startedAt);
  const c = run.comparison;

  const labels = (s: SuiteResult, v: string, extra: Label[] = []): Label[] => [
    { name: 'epic', value: `Kernel gate: ${run.profile}` },
    { name: 'feature', value: s.feature },
    { name: 'story', value: v },
    { name: 'parentSuite', value: run.profile },
    { name: 'suite', value: s.id },
    { name: 'subSuite', value: v },
    { name: 'host', value: run.fingerprint.hostname },
    ...extra,
  ];
  // Run-specific parameters are excluded from historyId so Allure's trends line up across runs.
  const params = (extra: Parameter[] = []): Parameter[] => [
    { name: 'kernel', value: run.fingerprint.kernelRelease, excluded: true },
    { name: 'run', value: run.runId, excluded: true },
    { name: 'reference', value: c ? `${c.reference.kind} ${c.reference.id}` : 'none', excluded: true },
    ...extra,
  ];
  const attachText = (uuid: string, name: string, text: string, type = 'text/plain', ext = 'txt') =>
    runtime.writeAttachment(uuid, null, name, Buffer.from(text), { contentType: type, fileExtension: ext });
  const attachArtifacts = async (uuid: string, v: VariantResult) => {
    for (const [name, rel] of Object.entries(v.artifacts)) {
      const f = confineAs(`${path.join(runDir, 'run.json')}: artifact ${JSON.stringify(name)}`, runDir, rel);
      if (isFile(f)) attachText(uuid, name, await readFile(f, 'utf8'));
    }
    const counters: Record<string, number[]> = {};
    for (const r of v.repetitions) for (const [k, x] of Object.entries(r.counters)) (counters[k] ??= []).push(x);
    if (Object.keys(counters).length) attachText(uuid, 'kernel counter deltas per repetition', JSON.stringify(counters, null, 2), 'application/json', 'json');
  };

  // The target itself: notes every reviewer must see (software emulation) and its console log.
  if (run.target.notes?.length || run.target.console) {
    const uuid = runtime.startTest({
      name: `Target ${run.target.name} (${run.target.kind})`,
      fullName: `headgate.target.${run.target.name}`,
      labels: [{ name: 'parentSuite', value: run.profile }, { name: 'suite', value: 'target' }, { name: 'host', value: run.fingerprint.hostname }],
      parameters: params(),
      start,
      stage: Stage.FINISHED,
      status: run.status === 'complete' ? Status.PASSED : Status.BROKEN,
      statusDetails: { message: [...(run.target.notes ?? []), `run status ${run.status}`].join('\n') },
    });
    const con = run.target.console ? confineAs(`${path.join(runDir, 'run.json')}: target.console`, runDir, run.target.console) : '';
    if (con && isFile(con)) attachText(uuid, 'serial console', await readFile(con, 'utf8'));
    runtime.stopTest(uuid, { stop });
    runtime.writeTest(uuid);
  }

  // A kernel A/B by reboot (or two targets by blocks): the boots and blocks a reviewer checks first.
  if (run.abBlocks) {
    const ab = run.abBlocks;
    const lines = [...abBootLines(run), ...abBlockLines(run)];
    const uuid = runtime.startTest({
      name: `A/B ${ab.form === 'boots' ? 'by reboot' : 'by blocks'}: ${ab.a} vs ${ab.b}`,
      fullName: `headgate.ab.${ab.form}`,
      labels: [{ name: 'parentSuite', value: run.profile }, { name: 'suite', value: 'A/B design' }, { name: 'host', value: run.fingerprint.hostname }],
      parameters: params([{ name: 'A', value: ab.a }, { name: 'B', value: ab.b }]),
      descriptionHtml: `<ul>${lines.map((l) => `<li>${escHtml(l)}</li>`).join('')}</ul>`,
      start,
      stage: Stage.FINISHED,
      status: Status.PASSED,
      statusDetails: { message: `${ab.blocks.length} blocks${ab.boots.length ? `, ${ab.boots.length} boots` : ''}, analysed paired` },
    });
    attachText(uuid, 'blocks and boots', JSON.stringify(ab, null, 2), 'application/json', 'json');
    runtime.stopTest(uuid, { stop });
    runtime.writeTest(uuid);
  }

  for (const s of run.suites) {
    if (s.variants.length === 0) {
      const uuid = runtime.startTest({ name: `${s.title}`, fullName: `headgate.${s.id}`, labels: labels(s, 'whole suite'), parameters: params(), start, stage: Stage.FINISHED, status: Status.SKIPPED, statusDetails: { message: `skipped: ${s.reason}` } });
      runtime.stopTest(uuid, { stop });
      runtime.writeTest(uuid);
    }
    for (const v of s.variants) {
      const first = v.repetitions[0] ? Date.parse(v.repetitions[0].startedAt) : start;
      const last = v.repetitions.length ? Date.parse(v.repetitions.at(-1)!.startedAt) + v.repetitions.at(-1)!.durationMs : stop;
      if (v.status !== 'ran') {
        const uuid = runtime.startTest({
          name: `${s.id} / ${v.id}`,
          fullName: `headgate.${s.id}.${v.id}`,
          labels: labels(s, v.id),
          parameters: params(),
          start,
          stage: Stage.FINISHED,
          status: v.status === 'skipped' ? Status.SKIPPED : Status.BROKEN,
          statusDetails: { message: `${v.status === 'skipped' ? 'skipped' : 'infrastructure error'}: ${v.reason}` },
        });
        await attachArtifacts(uuid, v);
        runtime.stopTest(uuid, { stop });
        runtime.writeTest(uuid);
        continue;
      }
      // Payload verification: a test of its own, so integrity failures stand apart from performance.
      const failed = v.repetitions.reduce((a, r) => a + r.verification.failed, 0);
      const verified = v.repetitions.reduce((a, r) => a + r.verification.verified, 0);
      const vu = runtime.startTest({
        name: `Payload verification (${v.id})`,
        fullName: `headgate.${s.id}.${v.id}.payload-verification`,
        labels: labels(s, v.id, [{ name: 'severity', value: 'blocker' }, { name: 'tag', value: 'integrity' }]),
        parameters: params(),
        start: first,
        stage: Stage.FINISHED,
        status: failed ? Status.FAILED : Status.PASSED,
        statusDetails: { message: failed ? `${failed} response bodies failed verification: ${v.repetitions.flatMap((r) => r.verification.failures).slice(0, 3).map((f) => `${f.path}: ${f.reason}`).join('; ')}` : `${verified} response bodies verified byte for byte` },
      });
      runtime.stopTest(vu, { stop: last });
      runtime.writeTest(vu);

      for (const m of s.metrics) {
        const cmp = c?.comparisons.find((x) => x.suite === s.id && x.variant === v.id && x.metric === m.id);
        const samples = metricSamples(v, m.id);
        const message = cmp ? verdictLine(cmp) : `measured ${samples.map(fmt).join(', ')} ${m.unit} (no baseline to compare with)`;
        const uuid = runtime.startTest({
          name: `${m.title} (${v.id})`,
          fullName: `headgate.${s.id}.${v.id}.${m.id}`,
          labels: labels(s, v.id, [
            { name: 'severity', value: m.gating ? 'critical' : 'minor' },
            { name: 'tag', value: cmp?.notGating ? 'not gated in this run' : m.gating ? 'gating' : 'informational' },
          ]),
          parameters: params([
            { name: 'metric', value: `${m.id} (${m.unit}, ${m.direction} is better)` },
            { name: 'threshold', value: cmp ? thresholdCell(cmp) : `${(m.noiseFloor * 100).toFixed(1)}% (suite floor)`, excluded: true },
            ...(cmp ? [{ name: 'repetitions', value: repsCell(cmp), excluded: true }] : []),
            ...(cmp && cmp.mde !== undefined ? [{ name: 'minimum detectable effect', value: mdeText(cmp), excluded: true }] : []),
          ]),
          descriptionHtml: cmp
            ? [
                `<p><b>${cmp.verdict.toUpperCase()}</b>: ${escHtml(cmp.rule)}.</p>`,
                '<table border="1" cellpadding="4" style="border-collapse:collapse;margin:6px 0"><tr><th></th><th>baseline (' + escHtml(cmp.referenceVariant) + ')</th><th>current (' + escHtml(cmp.variant) + ')</th></tr>',
                `<tr><td>median</td><td>${fmt(cmp.baselineMedian)} ${escHtml(m.unit)}</td><td>${fmt(cmp.currentMedian)} ${escHtml(m.unit)}</td></tr>`,
                `<tr><td>samples</td><td>${cmp.nBaseline}</td><td>${cmp.nCurrent}${(cmp.looks ?? 1) > 1 ? ` after ${cmp.looks} looks (adaptive repetitions)` : ''}</td></tr></table>`,
                `<p>Change (Hodges-Lehmann, relative): ${changeWithCi(cmp)} (95% distribution-free interval); ${'paired' in cmp ? 'one-sided Wilcoxon signed-rank p of the within-pair log ratios' : 'one-sided Mann-Whitney p'} in the bad direction, Holm-adjusted: ${cmp.pAdjusted.toPrecision(3)} against this look's alpha ${cmp.lookAlpha?.toPrecision(2) ?? c!.alpha}.</p>`,
                `<p>Threshold ${(cmp.noiseFloor * 100).toFixed(1)}%: ${escHtml(cmp.thresholdSource ?? 'suite noise floor')}.${cmp.noise ? ` Measured A/A noise of this metric: ${(cmp.noise.cv * 100).toFixed(1)}% per repetition, ${(cmp.noise.drift * 100).toFixed(1)}% between sessions (${cmp.noise.n} repetitions).` : ''}</p>`,
                cmp.mde !== undefined
                  ? `<p>Minimum detectable effect: ${cmp.mde === null ? 'none: no regression could have been significant at this alpha with these repetitions' : `${(cmp.mde * 100).toFixed(1)}% (the smallest regression this comparison would have caught with 95% probability)`}, from ${escHtml(cmp.mdeSource ?? 'the measured noise')}.</p>`
                  : '',
              ].join('')
            : `<p>No baseline. Samples: ${samples.map(fmt).join(', ')} ${escHtml(m.unit)}.</p>`,
          start: first,
          stage: Stage.FINISHED,
          status: cmp ? statusOf(cmp) : Status.PASSED,
          statusDetails: { message },
        });
        runtime.writeAttachment(uuid, null, 'samples', Buffer.from(JSON.stringify({ unit: m.unit, baseline: cmp?.baselineSamples ?? null, current: samples }, null, 2)), {
          contentType: 'application/json',
          fileExtension: 'json',
        });
        const chart = samplesChart({
          title: `${m.title}: ${v.id}`,
          unit: m.unit,
          baseline: cmp?.baselineSamples ?? [],
          current: samples,
          baselineLabel: cmp ? `baseline ${cmp.referenceVariant}` : 'no baseline',
          currentLabel: `current ${v.id}`,
        });
        runtime.writeAttachment(uuid, null, 'samples vs baseline (chart)', Buffer.from(chart), { contentType: 'image/svg+xml', fileExtension: 'svg' });
        const h = history?.(s.id, v.id, m.id);
        if (h && h.points.length >= 2) {
          const svg = historyChart({ title: `${m.title} (${v.id}), ${run.profile}: last ${h.points.length} gate runs`, unit: m.unit, points: h.points, changes: h.changes, current: run.runId });
          runtime.writeAttachment(uuid, null, 'history (chart)', Buffer.from(svg), { contentType: 'image/svg+xml', fileExtension: 'svg' });
        }
        if (m.gating) await attachArtifacts(uuid, v);
        runtime.stopTest(uuid, { stop: last });
        runtime.writeTest(uuid);
      }
    }
  }
  runtime.writeEnvironmentInfo();
  runtime.writeCategoriesDefinitions();
  // executor.json is not written by the SDK; Allure shows it as the build that produced the report.
  const ciUrl = process.env.GITHUB_SERVER_URL && process.env.GITHUB_REPOSITORY && process.env.GITHUB_RUN_ID
    ? `${process.env.GITHUB_SERVER_URL}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}`
    : process.env.BUILD_URL;
  await writeJsonAtomic(path.join(dir, 'executor.json'), {
    name: 'headgate',
    type: 'headgate',
    buildName: run.runId,
    reportName: `headgate ${run.comparison?.verdict ?? 'run'} ${run.runId}`,
    ...(ciUrl ? { buildUrl: ciUrl } : {}),
  });
}

/** The newest other run directory in reportsDir whose Allure report has history (for trends). */
async function previousHistory(reportsDir: string, runId: string): Promise<string | null> {
  if (!existsSync(reportsDir)) return null;
  const dirs = (await readdir(reportsDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && !d.name.startsWith('.') && d.name < runId)
    .map((d) => d.name)
    .sort()
    .reverse();
  for (const d of dirs) {
    const h = path.join(reportsDir, d, 'allure-report', 'history');
    if (existsSync(h)) return h;
  }
  return null;
}

/** Path of the allure launcher shipped by allure-commandline. */
export function allureBin(): string {
  const req = createRequire(import.meta.url);
  return path.join(path.dirname(req.resolve('allure-commandline/package.json')), 'dist', 'bin', 'allure');
}

/** Generates the multi-file (and, unless singleFileDir is null, the single-file) HTML report from a results folder (analytics off). */
export async function generateAllureHtml(resultsDir: string, outDir: string, singleFileDir: string | null): Promise<void> {
  const bin = allureBin();
  for (const args of singleFileDir ? [['-o', outDir], ['--single-file', '-o', singleFileDir]] : [['-o', outDir]]) {
    const r = await runCommand([bin, 'generate', resultsDir, '--clean', ...args], { env: { ALLURE_NO_ANALYTICS: 'true' }, timeoutMs: 600_000 });
    if (r.code !== 0) {
      const why = /JAVA_HOME|java: not found|java: command not found/.test(r.stderr + r.stdout) ? 'Java is missing (apt-get install openjdk-17-jre-headless)' : (r.stderr || r.stdout).trim().split('\n')[0];
      throw new Error(`allure generate failed: ${why}`);
    }
  }
}

/** Allure results plus HTML (multi-file allure-report/ and single-file allure-report-single/index.html). */
export const allureReporter: Reporter = {
  name: 'allure',
  async render(ctx) {
    const results = path.join(ctx.runDir, 'allure-results');
    await writeAllureResults(ctx.run, ctx.runDir, results, ctx.history);
    const hist = await previousHistory(ctx.reportsDir, ctx.run.runId);
    if (hist) await cp(hist, path.join(results, 'history'), { recursive: true });
    const out = path.join(ctx.runDir, 'allure-report');
    const single = path.join(ctx.runDir, 'allure-report-single');
    await generateAllureHtml(results, out, single);
    return [results, path.join(out, 'index.html'), path.join(single, 'index.html')];
  },
};
