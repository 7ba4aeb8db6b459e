import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeJsonAtomic } from '../../lib/atomic.js';
import { appendJsonLine, readJsonLines, repairJsonLines } from '../../lib/jsonl.js';
import { inputError } from '../../model/errors.js';

/** Where one host stands in its phase. */
export interface HostState {
  deployed: boolean;
  deployedAt?: string;
  runId?: string;
  exitCode?: number;
  verdict?: string;
  rolledBack?: boolean;
}

/** One phase's progress. */
export interface PhaseState {
  name: string;
  status: 'pending' | 'deploying' | 'soaking' | 'gating' | 'passed' | 'stopped';
  hosts: Record<string, HostState>;
  /** Why the rollout stopped here: host, verdict and the metrics that decided it. */
  stoppedBy?: { host: string; verdict: string; exitCode: number; reason?: 'regression' | 'inconclusive' | 'infrastructure' | 'invalid-input'; detail: string };
}

/** A rollout's saved state: written atomically after every step so a killed rollout resumes. */
export interface RolloutState {
  schemaVersion: 1;
  plan: string;
  planDigest: string;
  build: string;
  status: 'running' | 'stopped' | 'complete';
  startedAt: string;
  updatedAt: string;
  exitCode?: number;
  phases: PhaseState[];
}

/** The state file and audit log of a plan, under DIR/rollouts/NAME/. */
export function rolloutPaths(reportsDir: string, plan: string) {
  const dir = path.resolve(reportsDir, 'rollouts', plan);
  return { dir, state: path.join(dir, 'state.json'), audit: path.join(dir, 'audit.log') };
}

/** Saves the state atomically (a crash leaves the previous state, never half a file). */
export async function saveState(file: string, s: RolloutState): Promise<void> {
  s.updatedAt = new Date().toISOString();
  await writeJsonAtomic(file, s);
}

/** Loads the state of a rollout, or null when it never started. */
export async function loadState(file: string): Promise<RolloutState | null> {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RolloutState;
  } catch (e) {
    throw inputError(`${file}: unreadable rollout state (${(e as Error).message})`);
  }
}

/** One audit record: who did what to which host, when. */
export interface AuditEntry {
  action: string;
  phase?: string;
  host?: string;
  detail?: string;
  [k: string]: unknown;
}

/**
 * Appends one line to the audit log and fsyncs it before returning: the log records every action
 * (deploys, gates, verdicts, rollbacks, resumes) and is never rewritten, except that a torn last
 * line left by a crash is cut off (runRollout says so when it resumes).
 */
export async function audit(file: string, e: AuditEntry): Promise<void> {
  await appendJsonLine(file, { time: new Date().toISOString(), by: `${os.userInfo().username}@${os.hostname()}`, pid: process.pid, ...e });
}

/** The audit log's complete entries; a torn last line (a crash in the middle of an append) is left out and returned. */
export function readAudit(file: string): Promise<{ entries: AuditEntry[]; torn?: string }> {
  return readJsonLines<AuditEntry>(file);
}

/**
 * Repairs a log whose last append was torn by a crash: the incomplete line is cut off (it never
 * finished, so the action it announced never started) and returned so the caller can say so and
 * audit it. A whole log is left untouched. Without this, the next append would be glued to the
 * fragment and both lines would be lost.
 */
export function repairAudit(file: string): Promise<string | null> {
  return repairJsonLines(file);
}
