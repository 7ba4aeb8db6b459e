import { metricSamples, tailSampleCounts } from '../model/samples.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDoc } from '../model/validate.js';
import { fsyncDir, fsyncPath, writeFailure, writeTempDurably } from '../lib/atomic.js';
import type { Reference } from '../verdict/compare.js';
import { integrityFailures } from '../verdict/compare.js';
import { confineAs, safeName } from '../lib/confine.js';
import { inputError } from '../model/errors.js';
import type { Fingerprint, MetricDef, RunOptions, RunRecord } from '../model/types.js';

/** A reviewed baseline file: baselines/<profile>/<suite>.json. */
export interface BaselineFile {
  schemaVersion: 1;
  profile: string;
  suite: string;
  promotedAt: string;
  promotedBy: string;
  reason: string;
  sourceRun: string;
  previous?: string | null;
  fingerprint: Fingerprint;
  /** Options of the run the samples came from (duration, connections, objects...). */
  options?: RunOptions;
  metrics?: MetricDef[];
  /** The load the suite was offered under --fixed-throughput, Gb/s (absent: none). */
  offeredGbps?: number;
  /** Per variant: its samples, and the fixed rate it was offered when its load shared the machine (--load-model auto). */
  variants: Record<string, { samples: Record<string, number[]>; offeredGbps?: number; tailSamples?: Record<string, number[]> }>;
  checksum: string;
}

/** JSON with keys sorted at every level, so the checksum does not depend on key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The checksum stored in a baseline: sha256 over the canonical JSON of everything else. */
export function baselineChecksum(b: Omit<BaselineFile, 'checksum'> & { checksum?: string }): string {
  const { checksum: _omit, ...rest } = b;
  return `sha256:${createHash('sha256').update(canonical(rest)).digest('hex')}`;
}

/** Where a profile's baseline for a suite lives. */
export function baselinePath(dir: string, profile: string, suite: string, from: { profile?: string; suite?: string } = {}): string {
  // Both become path parts: safe names, and the result stays inside the baselines directory.
  const p = safeName(from.profile ?? 'profile', profile);
  const s = safeName(from.suite ?? 'suite id', suite);
  return confineAs(from.profile ?? 'profile', dir, p, `${s}.json`);
}

/** Reads and checks a baseline file; schema or checksum failures are input errors (exit 2). */
export async function readBaseline(file: string): Promise<BaselineFile> {
  const b = await loadDoc<BaselineFile>('baseline', file);
  if (baselineChecksum(b) !== b.checksum) {
    throw inputError(`${file}: checksum mismatch: the baseline was edited by hand or corrupted; restore it from git or promote a new one`);
  }
  return b;
}

/** Loads the baselines of a profile for the given suites (missing ones are simply absent). */
export async function loadBaselines(dir: string, profile: string, suites: string[]): Promise<BaselineFile[]> {
  const out: BaselineFile[] = [];
  for (const s of suites) {
    const f = baselinePath(dir, profile, s);
    if (existsSync(f)) out.push(await readBaseline(f));
  }
  return out;
}

/** Turns baseline files into a comparison reference (null when there are none). */
export function baselinesAsReference(files: BaselineFile[], dir: string, profile: string): Reference | null {
  if (files.length === 0) return null;
  return {
    kind: 'baseline',
    id: files.map((f) => `${f.suite}@${f.promotedAt}`).join(', '),
    profile,
    file: files.map((f) => baselinePath(dir, f.profile, f.suite)).join(', '),
    fingerprint: files[0].fingerprint,
    options: files[0].options,
    samples: (suite, variant, metric) => files.find((f) => f.suite === suite)?.variants[variant]?.samples[metric],
    tailSamples: (suite, variant, metric) => files.find((f) => f.suite === suite)?.variants[variant]?.tailSamples?.[metric],
    offeredGbps: (suite) => files.find((f) => f.suite === suite)?.offeredGbps,
    variantOffer: (suite, variant) => files.find((f) => f.suite === suite)?.variants[variant]?.offeredGbps,
  };
}

/** Who promotes: HEADGATE_USER, else user@host. */
export function promoter(): string {
  return process.env.HEADGATE_USER ?? `${os.userInfo().username}@${os.hostname()}`;
}

/**
 * Keeps a copy of the current baseline under history/ without ever removing the current one: a
 * hard link (atomic, no data copied), or where links are not possible a copy to a temp name that
 * is fsynced and then renamed, so history/ never holds half a file. The directory is fsynced.
 */
async function keepInHistory(file: string, dest: string): Promise<void> {
  const dir = path.dirname(dest);
  await mkdir(dir, { recursive: true });
  try {
    await link(file, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw e;
    const tmp = path.join(dir, `.${path.basename(dest)}.tmp`);
    try {
      await copyFile(file, tmp);
      await fsyncPath(tmp);
      await rename(tmp, dest);
    } catch (e2) {
      await rm(tmp, { force: true });
      throw writeFailure(dest, e2);
    }
  }
  await fsyncDir(dir);
}

/**
 * Replaces a profile's baseline so that there is a current, whole baseline at every moment, a
 * crash or a full disk included: (1) the new file is written to a temp name beside it and fsynced
 * with its directory; (2) the old file is linked (or copied) into history/; (3) the new file is
 * renamed over the old one and the directory fsynced. A failure before (3) leaves the old baseline
 * current and removes the temp file.
 */
async function replaceBaseline(file: string, data: string, previous: string | null): Promise<void> {
  const tmp = await writeTempDurably(file, data);
  try {
    if (previous) await keepInHistory(file, previous);
    await rename(tmp, file);
    await fsyncDir(path.dirname(file));
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeFailure(file, e);
  }
}

/**
 * Promotes a run's samples to the baselines of its profile, one file per suite. The previous
 * file is kept in <profile>/history/, never overwritten, and the profile is never without a
 * current baseline (replaceBaseline). Refuses runs that are incomplete or
 * whose payloads failed verification: a baseline must be a known-good reference.
 */
export async function promoteRun(
  run: RunRecord,
  o: { dir: string; reason: string; who?: string; suites?: string[]; variants?: string[]; profile?: string },
): Promise<string[]> {
  if (!o.reason.trim()) throw inputError('baseline promote: --reason must say why this run is the new reference');
  if (run.status !== 'complete') throw inputError(`run ${run.runId} is ${run.status}: only complete runs can be promoted`);
  const bad = integrityFailures(run);
  if (bad.length) throw inputError(`run ${run.runId} has payload verification failures and cannot be a baseline: ${bad[0]}`);
  // Checked before anything is written: a hostile run.json cannot name a path outside the baselines.
  const from = o.profile !== undefined ? '--profile' : `run ${run.runId}: run.json profile`;
  const profile = safeName(from, o.profile ?? run.profile);
  for (const [i, s] of run.suites.entries()) baselinePath(o.dir, profile, s.id, { profile: from, suite: `run ${run.runId}: run.json suites[${i}].id` });
  const written: string[] = [];
  const now = new Date().toISOString();
  for (const s of run.suites) {
    if (o.suites?.length && !o.suites.includes(s.id)) continue;
    const variants: BaselineFile['variants'] = {};
    for (const v of s.variants) {
      if (v.status !== 'ran' || v.repetitions.length < 2) continue;
      if (o.variants?.length && !o.variants.includes(v.id)) continue;
      const samples: Record<string, number[]> = {};
      const tails: Record<string, number[]> = {};
      for (const m of s.metrics) {
        samples[m.id] = metricSamples(v, m.id);
        const t = tailSampleCounts(v, m.id);
        if (t.length) tails[m.id] = t;
      }
      // Only when set: closed-model baselines keep their checksum's shape.
      variants[v.id] = { samples, ...(v.offeredGbps !== undefined ? { offeredGbps: v.offeredGbps } : {}), ...(Object.keys(tails).length ? { tailSamples: tails } : {}) };
    }
    if (Object.keys(variants).length === 0) continue;
    const file = baselinePath(o.dir, profile, s.id);
    const historyFile = existsSync(file) ? path.join(o.dir, profile, 'history', `${s.id}.${now.replace(/[:.]/g, '-')}.json`) : null;
    const previous = historyFile && path.relative(o.dir, historyFile);
    const doc: Omit<BaselineFile, 'checksum'> = {
      schemaVersion: 1,
      profile,
      suite: s.id,
      promotedAt: now,
      promotedBy: o.who ?? promoter(),
      reason: o.reason,
      sourceRun: run.runId,
      previous,
      fingerprint: run.fingerprint,
      options: run.options,
      metrics: s.metrics,
      // Only when set: baselines without a fixed throughput keep their checksum's shape.
      ...(s.offeredGbps !== undefined ? { offeredGbps: s.offeredGbps } : {}),
      variants,
    };
    await replaceBaseline(file, JSON.stringify({ ...doc, checksum: baselineChecksum(doc) }, null, 2) + '\n', historyFile);
    written.push(file);
  }
  if (written.length === 0) throw inputError(`run ${run.runId}: nothing to promote (no suite/variant with at least 2 repetitions matched)`);
  return written;
}

/** Every baseline file under dir: profile, suite, path. */
export async function listBaselines(dir: string): Promise<{ profile: string; suite: string; file: string }[]> {
  if (!existsSync(dir)) return [];
  const out: { profile: string; suite: string; file: string }[] = [];
  for (const p of await readdir(dir, { withFileTypes: true })) {
    if (!p.isDirectory()) continue;
    for (const f of await readdir(path.join(dir, p.name), { withFileTypes: true })) {
      if (f.isFile() && f.name.endsWith('.json')) out.push({ profile: p.name, suite: f.name.replace(/\.json$/, ''), file: path.join(dir, p.name, f.name) });
    }
  }
  return out.sort((a, b) => (a.profile + a.suite).localeCompare(b.profile + b.suite));
}
