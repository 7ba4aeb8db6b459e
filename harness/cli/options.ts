import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  OPTIONS,
  flagOf,
  parseOptionText,
  resolveGateOptions,
  verdictOverrides,
  type GateOptions,
  type OptionGroup,
  type OptionSpec,
} from '../model/options.js';
import { loadDocInfo } from '../model/validate.js';

/** Option groups per command family (gate = run + verdict + the gate's own). */
export const GROUPS = {
  run: ['target', 'run'],
  gate: ['target', 'run', 'verdict', 'gate'],
  ab: ['target', 'run', 'verdict'],
  calibrate: ['target', 'run'],
  bisect: ['target', 'run', 'verdict'],
} satisfies Record<string, OptionGroup[]>;

function describe(o: OptionSpec): string {
  const d = o.defaultText ?? (o.default === undefined || (Array.isArray(o.default) && !o.default.length) || o.kind === 'boolean' ? undefined : String(o.default));
  const q = o.quickDefault !== undefined ? `; --quick ${String(o.quickDefault)}` : '';
  return d ? `${o.help} (default ${d}${q})` : o.help;
}

/** The commander Option of a table entry: value parsing only; limits are the schema's, checked once for every source. */
export function commanderOption(o: OptionSpec): Option {
  const negated = o.kind === 'boolean' && o.default === true;
  const flags = negated ? `--no-${flagOf(o.key).slice(2)}` : o.kind === 'boolean' ? flagOf(o.key) : `${flagOf(o.key)} ${o.arg ?? '<value>'}`;
  const opt = new Option(flags, describe(o));
  if (o.kind === 'list' || o.kind === 'intList') {
    opt.argParser((v: string, prev: unknown[] | undefined) => [...(prev ?? []), ...(parseOptionText(o, v) as unknown[])]);
  } else if (o.kind === 'rawList') {
    opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  } else if (o.kind !== 'boolean') {
    opt.argParser((v: string) => parseOptionText(o, v));
  }
  return opt;
}

/** Adds the table's options of these groups (or these keys) to a command, plus --config. */
export function addOptions(cmd: Command, groups: readonly OptionGroup[], keys: readonly string[] = []): Command {
  for (const o of OPTIONS) if (groups.includes(o.group) || keys.includes(o.key)) cmd.addOption(commanderOption(o));
  if (!cmd.options.some((x) => x.long === '--config')) {
    cmd.option('--config <file>', 'configuration file (default: headgate.config.{yaml,yml,json} if present)');
  }
  return cmd;
}

const CANDIDATES = ['headgate.config.yaml', 'headgate.config.yml', 'headgate.config.json'];

/** Loads --config FILE, or headgate.config.{yaml,yml,json} in the working directory if present. */
export async function loadConfigFile(explicit?: string, cwd = process.cwd()): Promise<{ file: string; values: Record<string, unknown>; upgradedFrom?: number } | undefined> {
  const file = explicit ?? CANDIDATES.map((c) => path.join(cwd, c)).find((c) => existsSync(c));
  if (!file) return undefined;
  const { doc, upgradedFrom } = await loadDocInfo<Record<string, unknown>>('config', file);
  const { schemaVersion: _v, ...values } = doc;
  return { file, values, upgradedFrom };
}

/** The option values the user typed on this command line (not commander's defaults), by key. */
export function givenFlags(cmd: Command): Record<string, unknown> {
  const opts = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    if (opts[o.key] !== undefined && cmd.getOptionValueSource(o.key) === 'cli') out[o.key] = opts[o.key];
  }
  return out;
}

/**
 * Resolves a command's options once, at the edge: defaults < config file < HEADGATE_* < flags,
 * all validated by the one schema. `overrides` are values a command fixes itself (never user input).
 */
export async function resolveCommandOptions(cmd: Command, overrides: Partial<GateOptions> = {}): Promise<GateOptions> {
  const cfg = await loadConfigFile(cmd.opts().config as string | undefined);
  if (cfg?.upgradedFrom) {
    process.stderr.write(`note: ${cfg.file} is config version ${cfg.upgradedFrom}; read with today's key names (rewrite it: headgate migrate --kind config ${cfg.file})\n`);
  }
  const sources = { config: cfg && { file: cfg.file, values: cfg.values }, env: process.env, flags: givenFlags(cmd) };
  const g = resolveGateOptions(sources);
  const changed = verdictOverrides(sources);
  if (changed.length) process.stderr.write(`note: verdict settings not at their defaults: ${changed.join(', ')}\n`);
  return { ...g, ...overrides };
}
