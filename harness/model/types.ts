/** Which way a metric improves. */
export type Direction = 'higher' | 'lower';

/** A metric declared by a suite: unit, direction, noise floor and gating flag are data. */
export interface MetricDef {
  id: string;
  title: string;
  unit: string;
  direction: Direction;
  /** Smallest relative change (0.05 = 5%) that matters; smaller changes are "unchanged". */
  noiseFloor: number;
  /** Gating metrics decide the verdict; informational ones are only reported. */
  gating: boolean;
  /** Whether it gates under --fixed-throughput instead (default: as gating says); run records store the resolved gating only. */
  gatingAtFixedThroughput?: boolean;
}

/** One setting of a suite's knobs. */
export interface VariantDef {
  id: string;
  description: string;
  /** nginx directives placed in the http block for this variant. */
  nginx?: string[];
  /** Kernel knobs to set for this variant, per OS family, through the restore stack. */
  knobs?: Partial<Record<OsFamily, Record<string, string>>>;
  /** Feature capabilities the target must have (probed by the OS adapter). */
  requires?: string[];
  /** Run by default (false: only with --variant). */
  default?: boolean;
  /** Which part of the object set the client requests (default: all). */
  objects?: ObjectClass;
  /** OS families this variant applies to (default: every OS of the suite). */
  os?: OsFamily[];
  /** hot: objects served from the page cache; cold: evicted before and during each repetition. */
  cache?: 'hot' | 'cold';
  /** Serve HTTPS with this protocol and cipher, with or without kernel TLS. */
  tls?: TlsSpec;
  /** Who requests the objects: the load generator (default) or a real browser. */
  client?: 'load' | 'browser';
  /** Concurrent connections for this variant (default: the run's --connections). */
  connections?: number;
  /** Counter deltas that prove the feature engaged; a repetition that misses one fails the variant. */
  expect?: Partial<Record<OsFamily, Proof[]>>;
  /** Free-form settings the suite's code reads (scheduler name, congestion control, ...). */
  params?: Record<string, string | number | boolean>;
}

/** TLS settings of a variant's server. */
export interface TlsSpec {
  protocol: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher (TLS 1.2) or ciphersuite (TLS 1.3) name the server allows. */
  ciphers: string;
  /** Ask nginx/OpenSSL to hand record encryption to the kernel (ssl_conf_command Options KTLS). */
  ktls: boolean;
}

/** A counter that must move by at least `atLeast` in every repetition, and what that proves. */
export interface Proof {
  counter: string;
  atLeast: number;
  means: string;
}

/** Groups of kernel counters an OS adapter can read (each suite names the ones it needs). */
export type CounterGroup = 'vm' | 'tcp' | 'sendfile' | 'ktls' | 'uma' | 'block' | 'tcplog';

/** A slice of the object set: box art (tens of KiB), video segments (1-16 MiB), or all of it. */
export type ObjectClass = 'all' | 'boxart' | 'segment';

/** The declarative part of a suite (suites/<id>/suite.json), validated against a schema. */
export interface SuiteManifest {
  schemaVersion: 1;
  id: string;
  title: string;
  feature: string;
  description: string;
  os: OsFamily[];
  variants: VariantDef[];
  metrics: MetricDef[];
  /** Probes the suite's code measures with (http, browser, block-io, tcp); each metric must come from one of them or from derives. */
  probes: string[];
  /** Metrics the suite's own code computes (from counters or other metrics), so no probe is expected to produce them. */
  derives?: string[];
  /** Counter groups read before and after each repetition (default: vm, tcp, sendfile). */
  counters?: CounterGroup[];
  /** Why the suite does not apply to an OS it does not list (shown as the skip reason). */
  notApplicable?: Partial<Record<OsFamily, string>>;
  /** Knobs the suite's code sets besides its variants' own, per OS: names or patterns ('*' = one segment). */
  setsKnobs?: Partial<Record<OsFamily, string[]>>;
}

export type OsFamily = 'linux' | 'freebsd';

/** Facts read from a target, stored with every run. */
export interface Fingerprint {
  os: OsFamily;
  hostname: string;
  kernelRelease: string;
  kernelVersion: string;
  arch: string;
  cpuModel: string;
  cpuCount: number;
  memoryBytes: number;
  sysctls: Record<string, string>;
  tools: Record<string, string>;
  /** NUMA memory domains (FreeBSD vm.ndomains; Linux /sys/devices/system/node/nodeN). Absent in runs from before it was recorded. */
  numaDomains?: number;
  /** Network adapters backed by a device (virtual interfaces left out). */
  nics?: NicInfo[];
  /** CPU frequency policy: Linux cpufreq scaling_governor; FreeBSD "powerd" when it runs, else the cpufreq driver state. */
  cpuFreqGovernor?: string;
}

/** A network adapter of a fingerprint. */
export interface NicInfo {
  /** Interface (Linux) or device (FreeBSD, e.g. ix0) name. */
  name: string;
  driver: string;
  /** Vendor and device name (FreeBSD pciconf), or PCI vendor:device ids (Linux sysfs). */
  model: string;
  firmware?: string;
}

/** Payload verification outcome of one repetition. */
export interface VerificationResult {
  verified: number;
  failed: number;
  /** First few failures, each with its own reason. */
  failures: { path: string; reason: string }[];
}

/** One measured execution of a variant. */
export interface Repetition {
  index: number;
  startedAt: string;
  durationMs: number;
  metrics: Record<string, number>;
  counters: Record<string, number>;
  verification: VerificationResult;
  clientBound: boolean;
  notes: string[];
  /** Expected counter movements that did not happen (the feature did not engage). */
  proofFailures?: string[];
  /** Per percentile metric: how many samples lay beyond the percentile (a p99 of 412 responses: 4). Absent in older runs. */
  tailSamples?: Record<string, number>;
}

/** What happened to one variant in a run. */
export interface VariantResult {
  id: string;
  status: 'ran' | 'skipped' | 'error';
  /** The fixed rate this variant was offered because its load shared the machine (--load-model auto), Gb/s; absent: closed model. */
  offeredGbps?: number;
  reason?: string;
  /**
   * Why a variant was skipped: the kernel lacks what it needs (capability), this run's own
   * options or setup left it out (setup), or it is for another OS (platform). Absent in older runs:
   * read as capability (fail closed).
   */
  skipKind?: 'capability' | 'setup' | 'platform';
  repetitions: Repetition[];
  /** Attachments kept in the run directory (relative paths), e.g. nginx.conf and error.log. */
  artifacts: Record<string, string>;
  /** Adaptive repetitions: repetition counts at each look, and why the variant stopped. */
  adaptive?: { looks: number[]; stoppedBy: 'settled' | 'budget' | 'time' };
}

/** One suite's results in a run. */
export interface SuiteResult {
  id: string;
  title: string;
  feature: string;
  status: 'ran' | 'skipped' | 'error';
  reason?: string;
  metrics: MetricDef[];
  variants: VariantResult[];
  /** The load offered to every HTTP variant under --fixed-throughput, in Gb/s. */
  offeredGbps?: number;
}

export type MetricVerdict = 'improved' | 'unchanged' | 'regressed' | 'inconclusive';
export type RunVerdict = 'pass' | 'fail' | 'inconclusive' | 'error' | 'no-baseline';

/** The comparison of one metric of one variant with its reference samples. */
export interface MetricComparison {
  suite: string;
  variant: string;
  /** Variant of the reference the samples came from (differs with --baseline-variant). */
  referenceVariant: string;
  metric: string;
  title: string;
  unit: string;
  direction: Direction;
  gating: boolean;
  /** A percentile with too few samples beyond it on some repetition of either side (verdict/tail.ts), in words. */
  notEstimated?: string;
  /** Why a metric the suite gates on did not gate this comparison (a thin percentile the rule set aside); absent otherwise. */
  notGating?: string;
  /** Inconclusive because the change, though significant, stayed within the uncalibrated session drift (regressionFloor). */
  withinDrift?: true;
  /** The practical threshold used (relative): calibrated noise or the suite's noise floor. */
  noiseFloor: number;
  /** Where the threshold came from, in words. */
  thresholdSource?: string;
  /** An uncalibrated CPU figure against another session: the least change a "regressed" needed (verdict/noise.ts UNCALIBRATED_CPU_DRIFT). */
  regressionFloor?: number;
  /** Calibrated A/A noise of this metric (repetition CV, session drift), when calibrated. */
  noise?: { cv: number; drift: number; n: number };
  /** Looks taken (1 without adaptive repetitions) and the alpha of the deciding look. */
  looks?: number;
  lookAlpha?: number;
  /**
   * Minimum detectable effect of a gating comparison: the smallest regression (relative, 0.031 =
   * 3.1% worse) it would have caught with 95% probability at its look's alpha over the family,
   * given the noise and the repetitions taken; null when no regression could have been significant.
   * Absent in runs from before it existed and for informational metrics.
   */
  mde?: number | null;
  /** The noise the MDE was computed from, in words (calibrated, or the repetitions' own spread). */
  mdeSource?: string;
  /** How busy this run's load client was on a throughput metric's variant, in words (its headroom). */
  clientHeadroom?: string;
  verdict: MetricVerdict;
  /** Which rule decided the verdict, in words. */
  rule: string;
  baselineMedian: number;
  currentMedian: number;
  /** Hodges-Lehmann shift relative to the baseline median (+0.05 = 5% higher). */
  relChange: number;
  ciLow: number;
  ciHigh: number;
  pValue: number;
  pAdjusted: number;
  nBaseline: number;
  nCurrent: number;
  baselineSamples: number[];
  currentSamples: number[];
}

/** A run's comparison section. */
export interface Comparison {
  reference: { kind: 'baseline' | 'run'; id: string; profile?: string; file?: string };
  alpha: number;
  /** Adaptive repetition budget, when used. */
  plan?: { batch: number; nMax: number; rho: number; maxExtraSec?: number };
  /** The noise calibration the thresholds came from. */
  noise?: { measuredAt: string; target: string; sessions: number; runs: number };
  comparisons: MetricComparison[];
  integrityFailures: string[];
  fingerprintDifferences: string[];
  missing: string[];
  /** Variants the reference ran, this run was asked for, and the kernel could not run, and gating metrics this run measured in no repetition (exit 1). */
  lost?: string[];
  /** Variants the reference ran that this run's own options or setup left out (exit 2). */
  setupMissing?: string[];
  /** Payload-verification and proof failures of the reference side (exit 2: it is not a reference). */
  referenceIntegrity?: string[];
  /** The reference measured under another CPU split (exit 2: its CPU figures are defined differently). */
  splitDifference?: string;
  verdict: RunVerdict;
  exitCode: number;
  summary: string;
}

/** The run directory's run.json. */
export interface RunRecord {
  schemaVersion: 1;
  tool: { name: 'headgate'; version: string };
  runId: string;
  status: 'running' | 'complete' | 'incomplete' | 'interrupted';
  startedAt: string;
  finishedAt?: string;
  /** machineId and hardwareId identify the machine whatever its kernel reports (machine pins, store/pins.ts). */
  target: { kind: string; name: string; address?: string; notes?: string[]; console?: string; clients?: string[]; machineId?: string; hardwareId?: string };
  /** Which shard of a `--shard i/n` run this is. */
  shard?: { index: number; count: number; targetShards?: number[]; targets?: string[] };
  /** Run ids this run was merged from (`headgate merge`). */
  mergedFrom?: string[];
  profile: string;
  fingerprint: Fingerprint;
  options: RunOptions;
  suites: SuiteResult[];
  errors: string[];
  restoreFailures: string[];
  comparison?: Comparison;
  /** An A/B by blocks (`ab --a-target/--b-target`, `ab --a-boot/--b-boot`): its blocks and boots. */
  abBlocks?: AbBlocks;
}

/** A boot configuration of a kernel A/B on one box (`ab --a-boot/--b-boot`); every field optional: none is the target's own boot. */
export interface BootConfig {
  /** How the user named it (the flag's value). */
  label: string;
  /** Where it came from, for messages: --a-boot, --b-boot, or restore (the box's own boot after a session). */
  flag?: string;
  /** QEMU: a kernel image path on this machine; FreeBSD: a kernel directory under /boot (nextboot -k). */
  kernel?: string;
  /** QEMU: an initrd path on this machine. */
  initrd?: string;
  /** Kernel command line arguments added to the target's own (QEMU; a boot hook gets them too). */
  append?: string;
}

/** What one reboot brought up, as the guest itself reports it. */
export interface BootRecord {
  side: 'A' | 'B';
  config: string;
  /** Seconds from the reboot request until the target answered again. */
  bootSec: number;
  at: string;
  kernelRelease: string;
  kernelVersion: string;
  /** The running kernel's command line (/proc/cmdline) or boot file (kern.bootfile). */
  cmdline: string;
  /** How the boot was made (e.g. "qemu -kernel ... -append ...", "nextboot -k kernel.b; shutdown -r now"). */
  method: string;
}

/** The blocks of an A/B run by blocks, in the order they ran, with the boots between them. */
export interface AbBlocks {
  form: 'targets' | 'boots';
  a: string;
  b: string;
  blocks: { side: 'A' | 'B'; runId: string; repetitions: number; boot?: number; medians: Record<string, number> }[];
  boots: BootRecord[];
}

/** Disjoint CPUs for the server and its load on one machine; machine CPU per Gb/s counts `server` only. */
export interface CpuSplit {
  server: number[];
  client: number[];
  /** auto: halves of the usable CPUs; server-cpus: the user's --server-cpus and the rest. */
  how: 'auto' | 'server-cpus';
  /**
   * The server is a QEMU guest on this machine: `server` are the CPUs its emulator's threads run
   * on; inside the guest every vCPU is the server's (nginx is not pinned there, and the guest's CPU
   * time is the server's).
   */
  guest?: boolean;
}

/** Effective options of a run (after config file and flags). */
export interface RunOptions {
  suites: string[];
  variants: string[];
  runs: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  /** The object set (hot) and, for cold-cache variants, a larger set of its own (coldMiB). */
  objects: { seed: number; totalMiB: number; coldMiB?: number };
  serverUrl?: string;
  serverWorkers: number;
  /** CPUs to pin nginx workers to (worker_cpu_affinity); unset: not pinned. */
  serverCpus?: number[];
  /** --load-model: auto runs page-cache HTTP variants at a fixed offered rate where the load shares the machine. */
  loadModel?: 'auto' | 'closed';
  /** Whether the server and its load get disjoint CPUs when they share a machine (default auto). */
  cpuSplit?: 'auto' | 'off';
  /** The split the run used (engine/cpusplit.ts); absent: server and load shared every CPU. */
  split?: CpuSplit;
  serverDirectives: string[];
  quick: boolean;
  /** Open model: requests per second arriving on a fixed schedule (latency from the intended send time). Unset: closed model. */
  rate?: number;
  /**
   * Fixed-throughput mode: the open model at this many Gb/s ("2.5"), or at a share of the lowest
   * warm-up capacity of the suite's variants ("60%"); machine CPU % at that rate gates.
   */
  fixedThroughput?: string;
  /** Deadline of one step (warm-up or repetition) beyond its load duration; then it is an infrastructure error. */
  stepTimeoutSec?: number;
  /** Block device the io-sched suite may overwrite (default: a loop device it creates). */
  blockDevice?: string;
}

/** A profile's recorded history of one metric (store/history.ts reads it, the Allure reporter draws it). */
export type HistorySource = (suite: string, variant: string, metric: string) => { points: { runId: string; value: number }[]; changes: number[] };
