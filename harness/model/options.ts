import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunOptions } from './types.js';
import { loadDoc } from './validate.js';

/** The configuration file's shape (schemas/config.schema.json). */
export interface ConfigFile {
  schemaVersion: 1;
  target?: string;
  suites?: string[];
  variants?: string[];
  runs?: number;
  durationSec?: number;
  warmupSec?: number;
  connections?: number;
  objects?: { seed?: number; totalMiB?: number; coldMiB?: number };
  serverUrl?: string;
  serverWorkers?: number;
  serverDirectives?: string[];
  alpha?: number;
  reportsDir?: string;
  baselinesDir?: string;
  profile?: string;
  requireBaseline?: boolean;
  stepTimeoutSec?: number;
  rate?: number;
  serverCpus?: number[];
  blockDevice?: string;
  inventory?: string;
}

/** Settings that are not per-run options but steer where things go and how strict the gate is. */
export interface Settings {
  target: string;
  alpha: number;
  reportsDir: string;
  baselinesDir: string;
  profile?: string;
  requireBaseline: boolean;
  /** Inventory file (targets and clients). */
  inventory?: string;
}

/** Defaults of a full run and of --quick (short, for smoke tests and CI). */
export const DEFAULTS = {
  full: { runs: 8, durationSec: 10, warmupSec: 3, connections: 8, totalMiB: 96, coldMiB: 2048 },
  quick: { runs: 6, durationSec: 2, warmupSec: 1, connections: 8, totalMiB: 32, coldMiB: 1024 },
  seed: 1,
  alpha: 0.01,
  serverWorkers: 1,
};

const CANDIDATES = ['headgate.config.yaml', 'headgate.config.yml', 'headgate.config.json'];

/** Loads --config FILE, or headgate.config.{yaml,yml,json} in the working directory if present. */
export async function loadConfigFile(explicit?: string, cwd = process.cwd()): Promise<{ file?: string; config: ConfigFile }> {
  const file = explicit ?? CANDIDATES.map((c) => path.join(cwd, c)).find((c) => existsSync(c));
  if (!file) return { config: { schemaVersion: 1 } };
  return { file, config: await loadDoc<ConfigFile>('config', file) };
}

/** Flag values as parsed by the CLI (undefined = not given). */
export interface FlagValues {
  target?: string;
  suite?: string[];
  variant?: string[];
  runs?: number;
  duration?: number;
  warmup?: number;
  connections?: number;
  quick?: boolean;
  serverUrl?: string;
  serverWorkers?: number;
  serverDirective?: string[];
  /** --objects-mib (commander camel-cases it as objectsMib). */
  objectsMib?: number;
  coldObjectsMib?: number;
  seed?: number;
  out?: string;
  baselines?: string;
  profile?: string;
  alpha?: number;
  requireBaseline?: boolean;
  stepTimeout?: number;
  blockDevice?: string;
  rate?: number;
  serverCpus?: number[];
}

/** Merges defaults < config file < flags into run options and settings. */
export function resolveOptions(config: ConfigFile, flags: FlagValues): { options: RunOptions; settings: Settings } {
  const quick = flags.quick ?? false;
  const d = quick ? DEFAULTS.quick : DEFAULTS.full;
  const options: RunOptions = {
    suites: flags.suite?.length ? flags.suite : (config.suites ?? []),
    variants: flags.variant?.length ? flags.variant : (config.variants ?? []),
    runs: flags.runs ?? config.runs ?? d.runs,
    durationSec: flags.duration ?? config.durationSec ?? d.durationSec,
    warmupSec: flags.warmup ?? config.warmupSec ?? d.warmupSec,
    connections: flags.connections ?? config.connections ?? d.connections,
    objects: {
      seed: flags.seed ?? config.objects?.seed ?? DEFAULTS.seed,
      totalMiB: flags.objectsMib ?? config.objects?.totalMiB ?? d.totalMiB,
      coldMiB: flags.coldObjectsMib ?? config.objects?.coldMiB ?? d.coldMiB,
    },
    serverUrl: flags.serverUrl ?? config.serverUrl,
    serverWorkers: flags.serverWorkers ?? config.serverWorkers ?? DEFAULTS.serverWorkers,
    serverDirectives: [...(config.serverDirectives ?? []), ...(flags.serverDirective ?? [])],
    quick,
    stepTimeoutSec: flags.stepTimeout ?? config.stepTimeoutSec,
    rate: flags.rate ?? config.rate,
    serverCpus: flags.serverCpus ?? config.serverCpus,
    blockDevice: flags.blockDevice ?? config.blockDevice,
  };
  // Unset optional options are left out of run.json rather than stored as undefined.
  for (const k of Object.keys(options) as (keyof RunOptions)[]) if (options[k] === undefined) delete options[k];
  const settings: Settings = {
    target: flags.target ?? config.target ?? 'local',
    alpha: flags.alpha ?? config.alpha ?? DEFAULTS.alpha,
    reportsDir: flags.out ?? config.reportsDir ?? 'reports',
    baselinesDir: flags.baselines ?? config.baselinesDir ?? 'baselines',
    profile: flags.profile ?? config.profile,
    requireBaseline: flags.requireBaseline ?? config.requireBaseline ?? false,
    ...(config.inventory ? { inventory: config.inventory } : {}),
  };
  return { options, settings };
}
