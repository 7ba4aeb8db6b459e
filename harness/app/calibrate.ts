import { resolveTargets } from '../drivers/targets/index.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { executeRun } from '../engine/runner.js';
import { referenceLoad, runAsReference } from '../verdict/compare.js';
import { createProgress } from '../lib/progress.js';
import { infraError, inputError } from '../model/errors.js';
import { runOptionsOf, settingsOf, type GateOptions } from '../model/options.js';
import type { RunRecord } from '../model/types.js';
import { saveNoise } from '../store/noise.js';
import { measureNoise, thresholdFor, type NoiseProfile } from '../verdict/noise.js';
import { openClients, openTarget, type AppContext } from './common.js';
import { preflight } from './gate.js';

/** One gating metric's calibration, as printed. */
export interface CalibrationRow {
  key: string;
  n: number;
  cv: number;
  drift: number;
  threshold: number;
  floor: number;
}

/** A finished calibration: the noise document, the rows shown, and where it was written (null: dry run). */
export interface CalibrationResult {
  doc: NoiseProfile;
  rows: CalibrationRow[];
  file: string | null;
}

/** A/A sessions on one target (fresh servers, variants interleaved), stored as the profile's noise.json. */
export async function runCalibrate(g: GateOptions, o: { sessions: number; dryRun: boolean }, ctx: AppContext): Promise<CalibrationResult> {
  if (!(o.sessions >= 2)) throw inputError(`--sessions ${o.sessions}: need at least 2 sessions to measure drift between them`);
  await preflight(g);
  const hosts = await resolveTargets(g.target, g.inventory);
  if (hosts.length !== 1) throw inputError(`--target ${g.target}: calibrate measures one target at a time (got ${hosts.length}: ${hosts.map((h) => h.name).join(', ')})`);
  const suites = selectSuites(await discoverSuites(), g.suite);
  const { target, fingerprint, profile } = await openTarget(hosts[0], g, ctx.log);
  const options = runOptionsOf(g);
  const runs: RunRecord[] = [];
  let failed = true;
  // --client: the A/A sessions take their load from the client hosts, as the gates they calibrate do.
  let cl: Awaited<ReturnType<typeof openClients>> | undefined;
  try {
    cl = await openClients(g);
    const settings = { ...settingsOf(g), profile };
    for (let i = 0; i < o.sessions; i++) {
      const progress = createProgress({ quiet: ctx.quiet, prefix: `[A/A ${i + 1}/${o.sessions}] ` });
      // --load-model auto: every session runs each variant as the first session did.
      const first = runs[0] ? runAsReference(runs[0]) : undefined;
      const loads = first ? (suite: string, variant: string) => referenceLoad(first, suite, variant) : undefined;
      const { record } = await executeRun({ waitLockSec: g.waitLock, target, options, settings, suites, signal: ctx.signal, progress, fingerprint, clients: cl.clients, referenceLoad: loads });
      if (record.errors.length) throw infraError(`A/A session ${i + 1} (run ${record.runId}) had errors: ${record.errors[0]}`);
      runs.push(record);
    }
    const metrics = measureNoise(runs);
    if (Object.keys(metrics).length === 0) throw inputError('calibrate: no metric was measured (every variant skipped?)');
    const doc: NoiseProfile = {
      schemaVersion: 1,
      profile,
      target: hosts[0].name,
      measuredAt: new Date().toISOString(),
      sessions: o.sessions,
      runs: g.runs,
      // As the sessions ran them (with their CPU split): noise is used only under the same split.
      options: runs[0].options,
      sourceRuns: runs.map((x) => x.runId),
      metrics,
    };
    const rows: CalibrationRow[] = [];
    for (const s of runs[0].suites) {
      for (const m of s.metrics.filter((x) => x.gating)) {
        for (const v of s.variants) {
          const key = `${s.id}/${v.id}/${m.id}`;
          const e = metrics[key];
          if (e) rows.push({ key, n: e.n, cv: e.cv, drift: e.drift, threshold: thresholdFor(m, e, g.minEffect).value, floor: m.noiseFloor });
        }
      }
    }
    const file = o.dryRun ? null : await saveNoise(g.baselines, doc);
    failed = false;
    return { doc, rows, file };
  } finally {
    await cl?.close();
    await target.close({ failed });
  }
}
