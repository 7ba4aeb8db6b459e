import type { Command } from 'commander';
import Table from 'cli-table3';
import path from 'node:path';
import { abortOnSignals } from '../lib/cleanup.js';
import { discoverSuites, selectSuites } from '../engine/discovery.js';
import { ExitCode, infraError, inputError } from '../model/errors.js';
import { measureNoise, thresholdFor, type NoiseProfile } from '../verdict/noise.js';
import { saveNoise } from '../store/noise.js';
import { deriveProfile } from '../model/profile.js';
import { createProgress } from '../lib/progress.js';
import { executeRun } from '../engine/runner.js';
import type { RunRecord } from '../model/types.js';
import { openHost, resolveTargets } from '../drivers/targets/index.js';
import { action, addRunFlags, intArg, numArg } from './common.js';
import { resolveRun, type Flags } from './run.js';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Registers `calibrate`: A/A sessions on one target, stored as the profile's noise. */
export function registerCalibrate(program: Command): void {
  addRunFlags(program.command('calibrate').description("measure A/A noise: the same build and knobs in several sessions (fresh servers, variants interleaved), stored as the profile's noise.json that sets the gate's thresholds"))
    .option('--sessions <n>', 'A/A sessions (separate runs); drift between them is what a baseline from another day carries (default 3)', intArg)
    .option('--min-effect <fraction>', 'practical minimum effect, to show the resulting thresholds (default 0.01)', numArg)
    .option('--dry-run', 'measure and print, but do not write noise.json')
    .action(
      action(async (flags: Flags & { sessions?: number; minEffect?: number; dryRun?: boolean }) => {
        const r = await resolveRun(flags);
        const sessions = flags.sessions ?? 3;
        if (!(sessions >= 2)) throw inputError(`--sessions ${sessions}: need at least 2 sessions to measure drift between them`);
        const hosts = await resolveTargets(r.settings.target, flags.inventory ?? r.settings.inventory);
        if (hosts.length !== 1) throw inputError(`--target ${r.settings.target}: calibrate measures one target at a time (got ${hosts.length}: ${hosts.map((h) => h.name).join(', ')})`);
        const host = hosts[0];
        const suites = selectSuites(await discoverSuites(), r.options.suites);
        const target = await openHost(host);
        const { signal, dispose } = abortOnSignals();
        const runs: RunRecord[] = [];
        const dirs: string[] = [];
        let failed = true;
        try {
          const fingerprint = await (await target.os()).fingerprint();
          const settings = { ...r.settings, profile: r.settings.profile ?? host.profile ?? deriveProfile(fingerprint) };
          for (let i = 0; i < sessions; i++) {
            const progress = createProgress({ quiet: flags.quiet, prefix: `[A/A ${i + 1}/${sessions}] ` });
            const { record, runDir } = await executeRun({ target, options: r.options, settings, suites, signal, progress, fingerprint });
            if (record.errors.length) throw infraError(`A/A session ${i + 1} (run ${record.runId}) had errors: ${record.errors[0]}`);
            runs.push(record);
            dirs.push(runDir);
          }
          const metrics = measureNoise(runs);
          if (Object.keys(metrics).length === 0) throw inputError('calibrate: no metric was measured (every variant skipped?)');
          const doc: NoiseProfile = {
            schemaVersion: 1,
            profile: settings.profile,
            target: host.name,
            measuredAt: new Date().toISOString(),
            sessions,
            runs: r.options.runs,
            options: r.options,
            sourceRuns: runs.map((x) => x.runId),
            metrics,
          };
          const t = new Table({ head: ['suite/variant/metric', 'reps', 'rep noise (CV)', 'A/A drift', 'threshold', 'suite floor'], style: { head: [], border: [] } });
          for (const s of runs[0].suites)
            for (const m of s.metrics) {
              if (!m.gating) continue;
              for (const v of s.variants) {
                const e = metrics[`${s.id}/${v.id}/${m.id}`];
                if (e) t.push([`${s.id}/${v.id}/${m.id}`, e.n, pct(e.cv), pct(e.drift), pct(thresholdFor(m, e, flags.minEffect).value), pct(m.noiseFloor)]);
              }
            }
          process.stdout.write(`${t.toString()}\n(gating metrics; informational ones are stored too)\n`);
          if (flags.dryRun) process.stdout.write('dry run: noise.json not written\n');
          else {
            const file = await saveNoise(settings.baselinesDir, doc);
            process.stdout.write(`wrote ${path.relative(process.cwd(), file)} from runs ${doc.sourceRuns.join(', ')}; review and commit it with the baselines\n`);
          }
          failed = false;
          return ExitCode.Pass;
        } finally {
          dispose();
          await target.close({ failed });
        }
      }),
    );
}
