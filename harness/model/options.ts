import { Ajv, type ErrorObject } from 'ajv';
import type { RunOptions } from './types.js';
import { inputError } from './errors.js';

/**
 * The one options model. Every run option is one entry of OPTIONS; from it come the CLI flag
 * (--kebab-case of the key), the config-file key and the rollout plan's gate key (the key
 * itself), the environment variable (HEADGATE_ + UPPER_SNAKE of the key), the help text and the
 * JSON Schema that validates every source with the same limits. Nothing below the CLI sees
 * flags: it gets GateOptions, resolved once.
 */

/** How a value is written on the command line and in the environment. */
export type OptionKind = 'int' | 'number' | 'fraction' | 'boolean' | 'string' | 'list' | 'rawList' | 'intList';

/** The commands' option groups: which commands take an option. */
export type OptionGroup = 'target' | 'run' | 'verdict' | 'gate';

/** One run option: its name everywhere, its type and limits, its help and default. */
export interface OptionSpec {
  key: keyof GateOptions & string;
  kind: OptionKind;
  group: OptionGroup;
  /** JSON Schema of the value (limits live here, for every source alike). */
  schema: Record<string, unknown>;
  help: string;
  /** Placeholder in the flag's usage, e.g. "<n>". */
  arg?: string;
  /** Default of a full run and of --quick (a function when it depends on other options). */
  default?: unknown;
  quickDefault?: unknown;
  /** Shown in help and docs when the default is computed. */
  defaultText?: string;
  /** May appear in a rollout plan's gate block (target-selection options may not: the plan's phases choose targets). */
  plan?: boolean;
  /** Config file version-1 name, still read (`headgate migrate` rewrites it). */
  legacy?: string;
}

const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', minLength: 1, ...extra });
const ID = '^[a-z0-9][a-z0-9-]*$';

/** Every run option, in help order. Add an option here and it exists as flag, config key, env variable and plan key. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'target', kind: 'string', group: 'target', arg: '<spec>', default: 'local', schema: str({ maxLength: 4096 }),
    help: 'target(s): local, ssh:[user@]host[:port], netns[:NAME], vagrant:NAME, qemu:NAME, an inventory name, group:G, tag:T, or a comma list' },
  { key: 'inventory', kind: 'string', group: 'target', arg: '<file>', schema: str(), help: 'inventory of targets and clients (default: inventory.yaml if present)' },
  { key: 'parallel', kind: 'int', group: 'target', arg: '<n>', default: 4, schema: { type: 'integer', minimum: 1, maximum: 64 }, help: 'with several targets: how many run at once' },
  { key: 'shard', kind: 'string', group: 'target', arg: '<i/n>', schema: { type: 'string', pattern: '^[1-9][0-9]*/[1-9][0-9]*$' },
    help: 'run only shard i of n of the work: whole targets per shard when there are at least n, else target x suite units (shards sharing a target wait for its lock); `headgate merge` joins the runs' },
  { key: 'waitLock', kind: 'number', group: 'target', arg: '<sec>', default: 0, plan: true, schema: { type: 'number', minimum: 0, maximum: 86400 },
    help: 'wait up to this many seconds for a target another run holds (0: exit 3 at once, naming the holder)' },
  { key: 'client', kind: 'list', group: 'target', arg: '<spec>', default: [], schema: { type: 'array', items: str() },
    help: 'run the load on these client hosts (inventory clients, local, ssh:[user@]host[:port]; repeatable or comma-separated); --connections is per client' },

  { key: 'suite', kind: 'list', group: 'run', arg: '<id>', default: [], plan: true, legacy: 'suites', schema: { type: 'array', items: { type: 'string', pattern: ID } },
    help: 'suite to run; repeatable or comma-separated (default: all)' },
  { key: 'variant', kind: 'list', group: 'run', arg: '<id>', default: [], plan: true, legacy: 'variants', schema: { type: 'array', items: { type: 'string', pattern: ID } },
    help: "variant to run; repeatable or comma-separated (default: each suite's default variants)" },
  { key: 'runs', kind: 'int', group: 'run', arg: '<n>', default: 8, quickDefault: 6, plan: true, schema: { type: 'integer', minimum: 2, maximum: 1000 }, help: 'measured repetitions per variant' },
  { key: 'duration', kind: 'number', group: 'run', arg: '<sec>', default: 10, quickDefault: 2, plan: true, legacy: 'durationSec',
    schema: { type: 'number', exclusiveMinimum: 0, maximum: 3600 }, help: 'seconds of load per repetition' },
  { key: 'warmup', kind: 'number', group: 'run', arg: '<sec>', default: 3, quickDefault: 1, plan: true, legacy: 'warmupSec',
    schema: { type: 'number', minimum: 0, maximum: 600 }, help: 'seconds of warm-up load per variant' },
  { key: 'connections', kind: 'int', group: 'run', arg: '<n>', default: 8, plan: true, schema: { type: 'integer', minimum: 1, maximum: 10000 }, help: 'concurrent keep-alive connections' },
  { key: 'rate', kind: 'number', group: 'run', arg: '<req/s>', plan: true, schema: { type: 'number', exclusiveMinimum: 0, maximum: 100000 },
    help: 'open model: requests arrive at this fixed rate (in all: with --client each host offers an equal share) and latency counts from their due time (default: closed model)' },
  { key: 'fixedThroughput', kind: 'string', group: 'run', arg: '<gbps or N%>', plan: true,
    schema: { type: ['string', 'number'], pattern: '^[0-9]+(\\.[0-9]+)?%?$', exclusiveMinimum: 0, maximum: 10000 },
    help: 'fixed-throughput mode: offer this many Gb/s (open model), or N% of the lowest warm-up throughput of the suite\'s variants; machine CPU % at that rate gates' },
  { key: 'quick', kind: 'boolean', group: 'run', default: false, plan: true, schema: { type: 'boolean' }, help: 'short form for smoke tests and CI (smaller defaults)' },
  { key: 'blockDevice', kind: 'string', group: 'run', arg: '<dev>', schema: { type: 'string', pattern: '^/dev/[A-Za-z0-9._/-]+$', maxLength: 255 },
    help: 'block device the io-sched suite may OVERWRITE (refused if in use); default: a loop device it creates' },
  { key: 'stepTimeout', kind: 'number', group: 'run', arg: '<sec>', default: 60, plan: true, legacy: 'stepTimeoutSec', schema: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
    help: 'seconds a warm-up or repetition may take beyond its load before it is an infrastructure error' },
  { key: 'serverUrl', kind: 'string', group: 'run', arg: '<url>', schema: { type: 'string', pattern: '^https?://[^/\\s]+', maxLength: 2048 },
    help: 'use an existing HTTP(S) server that serves `headgate objects` output instead of starting nginx' },
  { key: 'serverWorkers', kind: 'int', group: 'run', arg: '<n>', default: 1, plan: true, schema: { type: 'integer', minimum: 1, maximum: 256 }, help: 'nginx worker_processes' },
  { key: 'serverCpus', kind: 'intList', group: 'run', arg: '<list>', plan: true, schema: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 1023 } },
    help: 'pin nginx workers to these CPUs, e.g. 1 or 2,3 (worker_cpu_affinity); where the load runs on the same machine it gets the other CPUs' },
  { key: 'cpuSplit', kind: 'string', group: 'run', arg: '<mode>', default: 'auto', plan: true, schema: { enum: ['auto', 'off'] },
    help: 'where server and load share a machine (local, netns labs): auto gives the load the lower half of the CPUs and the server the rest, so the client cannot take CPU from the server and machine CPU per Gb/s counts the server\'s CPUs only; off shares every CPU (not comparable with auto)' },
  { key: 'loadModel', kind: 'string', group: 'run', arg: '<mode>', default: 'auto', plan: true, schema: { enum: ['auto', 'closed'] },
    help: 'auto: where the load shares the server\'s machine (the CPU split is on), page-cache HTTP variants run at a fixed offered rate (50% of their suite\'s lowest warm-up, or less where a warm-up shows the client could not carry that at 60% of its CPU), since a client on as few CPUs as the server cannot keep 20% headroom against them at full load; cold-cache and browser variants stay at full load; against a baseline, each variant runs as the baseline ran it. closed: every variant at full load (not comparable with auto)' },
  { key: 'serverDirective', kind: 'rawList', group: 'run', arg: '<text>', default: [], plan: true, legacy: 'serverDirectives',
    schema: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[^{}]*$' } },
    help: 'extra nginx http-block directive, replacing a variant directive of the same name; repeatable' },
  { key: 'objectsMib', kind: 'number', group: 'run', arg: '<n>', default: 96, quickDefault: 32, plan: true, legacy: 'objects.totalMiB',
    schema: { type: 'number', minimum: 1, maximum: 65536 }, help: 'total size of the object set in MiB' },
  { key: 'coldObjectsMib', kind: 'number', group: 'run', arg: '<n>', default: 2048, quickDefault: 1024, plan: true, legacy: 'objects.coldMiB',
    schema: { type: 'number', minimum: 1, maximum: 65536 }, help: 'size of the separate object set cold-cache variants read, in MiB: larger than one repetition reads' },
  { key: 'seed', kind: 'int', group: 'run', arg: '<n>', default: 1, plan: true, legacy: 'objects.seed', schema: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
    help: 'seed of the object set' },
  { key: 'out', kind: 'string', group: 'run', arg: '<dir>', default: 'reports', legacy: 'reportsDir', schema: str({ maxLength: 4096 }), help: 'reports directory' },
  { key: 'baselines', kind: 'string', group: 'run', arg: '<dir>', default: 'baselines', legacy: 'baselinesDir', schema: str({ maxLength: 4096 }), help: 'baselines directory' },
  { key: 'profile', kind: 'string', group: 'run', arg: '<name>', schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 128 },
    help: 'profile name (default: derived from the target fingerprint)' },

  { key: 'alpha', kind: 'number', group: 'verdict', arg: '<p>', default: 0.01, plan: true, schema: { type: 'number', exclusiveMinimum: 0, maximum: 0.2 },
    help: 'false-alarm budget of the whole gate over all metrics and looks' },
  { key: 'maxRuns', kind: 'int', group: 'verdict', arg: '<n>', plan: true, defaultText: '3 x --runs', schema: { type: 'integer', minimum: 2, maximum: 3000 },
    help: 'adaptive repetitions: most repetitions per variant while a comparison is undecided' },
  { key: 'adaptiveBatch', kind: 'int', group: 'verdict', arg: '<n>', plan: true, defaultText: 'half of --runs, at least 2', schema: { type: 'integer', minimum: 1, maximum: 1000 },
    help: 'adaptive repetitions: repetitions added per look' },
  { key: 'maxExtraSec', kind: 'number', group: 'verdict', arg: '<sec>', default: 900, quickDefault: 180, plan: true, schema: { type: 'number', minimum: 0, maximum: 604800 },
    help: 'adaptive repetitions: most seconds of added repetitions per suite' },
  { key: 'adaptive', kind: 'boolean', group: 'verdict', default: true, plan: true, schema: { type: 'boolean' },
    help: 'add repetitions while a comparison is undecided (--no-adaptive: one look at --runs repetitions)' },
  { key: 'minEffect', kind: 'fraction', group: 'verdict', arg: '<fraction>', default: 0.01, plan: true, schema: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
    help: 'smallest relative change a calibrated metric can regress by (0.01 = 1%)' },
  { key: 'requireMde', kind: 'fraction', group: 'verdict', arg: '<fraction>', plan: true, schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
    help: 'largest minimum detectable effect a gating metric may have (0.05 or 5%): an unchanged verdict that could not have detected it is inconclusive' },
  { key: 'onInconclusive', kind: 'string', group: 'verdict', arg: '<policy>', default: 'exit4', plan: true, schema: { enum: ['exit4', 'pass', 'fail'] },
    help: 'exit code policy when the evidence is inconclusive: exit4, pass (0) or fail (1)' },

  { key: 'baselineVariant', kind: 'string', group: 'gate', arg: '<id>', schema: { type: 'string', pattern: ID },
    help: 'compare every variant with this baseline variant (e.g. a sendfile-off run against the sendfile-on baseline)' },
  { key: 'requireBaseline', kind: 'boolean', group: 'gate', default: false, plan: true, schema: { type: 'boolean' },
    help: 'fail (exit 2) when the profile has no baseline instead of passing' },
  { key: 'expectKernel', kind: 'string', group: 'gate', arg: '<text>', plan: true, schema: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[ -~]+$' },
    help: 'the build the target must run: text found in its kernel release or version (uname -r/-v; FreeBSD: the ident and build in kern.version), checked before the first repetition and after the last; a mismatch is exit 3' },
];

/** Resolved run options: every source merged (defaults < config file < HEADGATE_* < flags) and validated. */
export interface GateOptions {
  target: string;
  inventory?: string;
  parallel: number;
  shard?: string;
  waitLock: number;
  client: string[];
  suite: string[];
  variant: string[];
  runs: number;
  duration: number;
  warmup: number;
  connections: number;
  rate?: number;
  fixedThroughput?: string | number;
  quick: boolean;
  blockDevice?: string;
  stepTimeout?: number;
  serverUrl?: string;
  serverWorkers: number;
  serverCpus?: number[];
  cpuSplit: 'auto' | 'off';
  loadModel: 'auto' | 'closed';
  serverDirective: string[];
  objectsMib: number;
  coldObjectsMib: number;
  seed: number;
  out: string;
  baselines: string;
  profile?: string;
  alpha: number;
  maxRuns?: number;
  adaptiveBatch?: number;
  maxExtraSec: number;
  adaptive: boolean;
  minEffect: number;
  requireMde?: number;
  onInconclusive: 'exit4' | 'pass' | 'fail';
  baselineVariant?: string;
  requireBaseline: boolean;
  expectKernel?: string;
}

/** Where a value came from, for error messages that name the flag, variable, file or key. */
export type OptionSource = { kind: 'flag' } | { kind: 'env' } | { kind: 'file'; file: string; prefix?: string };

/** The --flag of an option key. */
export const flagOf = (key: string): string => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
/** The HEADGATE_* environment variable of an option key. */
export const envOf = (key: string): string => 'HEADGATE_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

const byKey = new Map(OPTIONS.map((o) => [o.key, o]));

/** The option with this key (undefined for unknown keys). */
export function optionSpec(key: string): OptionSpec | undefined {
  return byKey.get(key as OptionSpec['key']);
}

/** JSON Schema of an object holding any subset of the given options (unknown keys refused). */
export function optionsSchema(filter: (o: OptionSpec) => boolean = () => true): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const o of OPTIONS.filter(filter)) properties[o.key] = { ...o.schema, description: o.help };
  return { type: 'object', additionalProperties: false, properties };
}

/** JSON Schema of the configuration file (version 2: the option keys, plus config-only keys). */
export function configSchema(): Record<string, unknown> {
  const s = optionsSchema();
  return {
    $id: 'headgate/config',
    title: 'headgate configuration file (headgate.config.yaml or .json); keys are the run options (docs/options.md)',
    ...s,
    required: ['schemaVersion'],
    properties: { schemaVersion: { const: CONFIG_VERSION }, ...(s.properties as object) },
  };
}

/** JSON Schema of a rollout plan's gate block: the plan-able options. */
export function planGateSchema(): Record<string, unknown> {
  return { $id: 'headgate/plan-gate', description: 'gate options for every phase (the run options that are not target selection)', ...optionsSchema((o) => !!o.plan) };
}

/** Version of the configuration file this headgate writes and reads. */
export const CONFIG_VERSION = 2;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateAny = ajv.compile(optionsSchema());

/** The display name of a value's source: `--alpha 0`, `HEADGATE_ALPHA=0`, `FILE: gate/alpha`. */
function sourceName(key: string, value: unknown, src: OptionSource): string {
  const shown = Array.isArray(value) ? value.join(',') : String(value);
  if (src.kind === 'flag') return `${flagOf(key)} ${shown}`;
  if (src.kind === 'env') return `${envOf(key)}=${shown}`;
  return `${src.file}: ${src.prefix ?? ''}${key}`;
}

function phrase(e: ErrorObject): string {
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  if (e.keyword === 'pattern' && e.instancePath.endsWith('/shard')) return 'must be i/n, e.g. 1/4';
  return e.message ?? e.keyword;
}

/**
 * Validates one source's values against the options schema; throws one input error (exit 2)
 * naming every offending flag, variable or key at once.
 */
export function validateOptions(values: Record<string, unknown>, src: OptionSource): Partial<GateOptions> {
  const problems: string[] = [];
  for (const k of Object.keys(values)) {
    if (!byKey.has(k as OptionSpec['key'])) problems.push(`${src.kind === 'file' ? `${src.file}: ${src.prefix ?? ''}${k}` : k}: unknown option`);
  }
  if (!problems.length && !validateAny(values)) {
    for (const e of validateAny.errors ?? []) {
      const key = e.instancePath.split('/')[1];
      if (!key) continue;
      problems.push(`${sourceName(key, values[key], src)}: ${phrase(e)}`);
    }
  }
  if (problems.length) throw inputError([...new Set(problems)].join('; '));
  return values as Partial<GateOptions>;
}

/** Parses one textual value (a flag argument or an environment variable) by the option's kind. */
export function parseOptionText(o: OptionSpec, text: string): unknown {
  const t = text.trim();
  switch (o.kind) {
    case 'int':
    case 'number':
    case 'fraction': {
      // "5%" is accepted for fractions; anything that is not a finite number stays a string so the schema names it.
      const pct = o.kind === 'fraction' && /%$/.test(t);
      const n = Number(pct ? t.slice(0, -1) : t);
      return t !== '' && Number.isFinite(n) ? (pct ? n / 100 : n) : text;
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(t)) return true;
      if (/^(0|false|no|off)$/i.test(t)) return false;
      return text;
    case 'list':
      return t.split(',').map((s) => s.trim()).filter(Boolean);
    case 'intList':
      return t.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : s.trim()));
    case 'rawList':
      return [text];
    default:
      return text;
  }
}

/** The HEADGATE_* variables that name options, parsed (unknown HEADGATE_* names are left alone: hooks use some). */
export function optionsFromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const v = env[envOf(o.key)];
    if (v !== undefined && v !== '') out[o.key] = parseOptionText(o, v);
  }
  return out;
}

/** A version-1 config document's keys under their option names (durationSec -> duration, objects.totalMiB -> objectsMib, ...). */
export function upgradeConfigV1(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { schemaVersion: CONFIG_VERSION };
  const objects = (doc.objects ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'schemaVersion' || k === 'objects') continue;
    const o = OPTIONS.find((x) => x.legacy === k);
    out[o ? o.key : k] = v;
  }
  for (const [k, v] of Object.entries(objects)) {
    const o = OPTIONS.find((x) => x.legacy === `objects.${k}`);
    out[o ? o.key : `objects.${k}`] = v;
  }
  return out;
}

/** The sources of one resolution, lowest precedence first after the defaults. */
export interface OptionSources {
  /** The config file's option values (already validated against the config schema) and its name. */
  config?: { file: string; values: Record<string, unknown> };
  /** HEADGATE_* variables (process.env at the CLI). */
  env?: Record<string, string | undefined>;
  /** A rollout plan's gate block (validated against the plan schema). */
  plan?: { file: string; values: Record<string, unknown> };
  /** Values given on the command line (or by a caller such as rollout for one phase). */
  flags?: Record<string, unknown>;
}

/** The sources as layers, lowest precedence first. */
function layersOf(sources: OptionSources): { values: Record<string, unknown>; src: OptionSource }[] {
  const layers: { values: Record<string, unknown>; src: OptionSource }[] = [];
  if (sources.config) layers.push({ values: sources.config.values, src: { kind: 'file', file: sources.config.file } });
  if (sources.env) layers.push({ values: optionsFromEnv(sources.env), src: { kind: 'env' } });
  if (sources.plan) layers.push({ values: sources.plan.values, src: { kind: 'file', file: sources.plan.file, prefix: 'gate/' } });
  if (sources.flags) layers.push({ values: sources.flags, src: { kind: 'flag' } });
  return layers;
}

/**
 * The verdict options a resolution set away from their defaults, each with its source
 * (`HEADGATE_ON_INCONCLUSIVE=pass`, `--alpha 0.01`, `headgate.yaml: minEffect`): a variable in a CI
 * runner's environment must not change what a gate decides without a line in the job log.
 */
export function verdictOverrides(sources: OptionSources): string[] {
  const last = new Map<string, string>();
  for (const { values, src } of layersOf(sources)) {
    for (const [k, v] of Object.entries(values)) {
      const o = optionSpec(k);
      if (v === undefined || o?.group !== 'verdict') continue;
      if (JSON.stringify(v) === JSON.stringify(o.default)) last.delete(k);
      else last.set(k, sourceName(k, v, src));
    }
  }
  return [...last.values()];
}

/**
 * Resolves the run options once: defaults < config file < HEADGATE_* < plan gate block < flags,
 * each source validated by the same schema, then the checks that relate two options.
 */
export function resolveGateOptions(sources: OptionSources): GateOptions {
  const layers = layersOf(sources);
  const merged: Record<string, unknown> = {};
  const from = new Map<string, { value: unknown; src: OptionSource }>();
  for (const { values, src } of layers) {
    const clean = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    validateOptions(clean, src);
    for (const [k, v] of Object.entries(clean)) {
      // Directives add up across sources (config sets house rules, a flag adds one); every other option replaces.
      merged[k] = k === 'serverDirective' && Array.isArray(merged[k]) ? [...(merged[k] as unknown[]), ...(v as unknown[])] : v;
      from.set(k, { value: merged[k], src });
    }
  }
  const quick = (merged.quick as boolean | undefined) ?? false;
  for (const o of OPTIONS) {
    if (merged[o.key] !== undefined) continue;
    const d = quick && o.quickDefault !== undefined ? o.quickDefault : o.default;
    if (d !== undefined) merged[o.key] = Array.isArray(d) ? [...d] : d;
  }
  const g = merged as unknown as GateOptions;
  const name = (k: keyof GateOptions) => {
    const f = from.get(k);
    return f ? sourceName(k, f.value, f.src) : `${flagOf(k)} (default ${String(g[k])})`;
  };
  if (g.maxRuns !== undefined && g.maxRuns < g.runs) throw inputError(`${name('maxRuns')}: must be at least --runs (${g.runs})`);
  if (g.baselineVariant && g.variant.length && !g.variant.includes(g.baselineVariant)) {
    // Comparing with a baseline variant that this run does not measure is fine (the baseline has it); nothing to check here.
  }
  return g;
}

/** The run options recorded in run.json (the runner's input). */
export function runOptionsOf(g: GateOptions): RunOptions {
  const o: RunOptions = {
    suites: g.suite,
    variants: g.variant,
    runs: g.runs,
    durationSec: g.duration,
    warmupSec: g.warmup,
    connections: g.connections,
    objects: { seed: g.seed, totalMiB: g.objectsMib, coldMiB: g.coldObjectsMib },
    serverUrl: g.serverUrl,
    serverWorkers: g.serverWorkers,
    serverDirectives: g.serverDirective,
    quick: g.quick,
    stepTimeoutSec: g.stepTimeout,
    rate: g.rate,
    fixedThroughput: g.fixedThroughput === undefined ? undefined : String(g.fixedThroughput),
    serverCpus: g.serverCpus,
    cpuSplit: g.cpuSplit,
    loadModel: g.loadModel,
    blockDevice: g.blockDevice,
  };
  // Unset optional options are left out of run.json rather than stored as undefined.
  for (const k of Object.keys(o) as (keyof RunOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
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

/** The runner's settings from resolved options. */
export function settingsOf(g: GateOptions): Settings {
  return {
    target: g.target,
    alpha: g.alpha,
    reportsDir: g.out,
    baselinesDir: g.baselines,
    ...(g.profile ? { profile: g.profile } : {}),
    requireBaseline: g.requireBaseline,
    ...(g.inventory ? { inventory: g.inventory } : {}),
  };
}

/** Defaults of the options, for commands that take one of them on their own (compare --alpha, objects --seed). */
export const DEFAULTS = {
  full: { runs: 8, durationSec: 10, warmupSec: 3, connections: 8, totalMiB: 96, coldMiB: 2048 },
  quick: { runs: 6, durationSec: 2, warmupSec: 1, connections: 8, totalMiB: 32, coldMiB: 1024 },
  seed: 1,
  alpha: 0.01,
  serverWorkers: 1,
};

/** The options reference as a Markdown table (docs/options.md is generated from it). */
export function optionsMarkdown(): string {
  const rows = OPTIONS.map((o) => {
    const d = o.defaultText ?? (o.default === undefined ? '' : Array.isArray(o.default) ? (o.default.length ? o.default.join(',') : '') : String(o.default));
    const q = o.quickDefault === undefined ? '' : ` (--quick: ${String(o.quickDefault)})`;
    const flag = o.kind === 'boolean' && o.default === true ? `--no-${flagOf(o.key).slice(2)}` : `${flagOf(o.key)}${o.arg ? ' ' + o.arg : ''}`;
    const limits = describeLimits(o.schema);
    return `| \`${flag}\` | \`${o.key}\` | \`${envOf(o.key)}\` | ${o.plan ? 'yes' : 'no'} | ${o.group} | ${d}${q} | ${limits} | ${o.help.replace(/\|/g, '\\|')} |`;
  });
  return [
    '| flag | config / plan key | environment | in a plan | commands | default | limits | meaning |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

function describeLimits(s: Record<string, unknown>): string {
  const parts: string[] = [];
  if (s.enum) parts.push((s.enum as string[]).join(' / '));
  if (s.minimum !== undefined) parts.push(`>= ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`<= ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  if (s.pattern) parts.push(`\`${s.pattern}\``);
  const items = s.items as Record<string, unknown> | undefined;
  if (items) parts.push(`each ${describeLimits(items) || String(items.type)}`);
  return parts.join(', ');
}
