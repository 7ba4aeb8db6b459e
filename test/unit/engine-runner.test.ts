import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverSuites, suitesDir } from '../../harness/engine/discovery.js';
import { executeRun, type AdaptiveParams, type RunIo, type RunParams } from '../../harness/engine/runner.js';
import type { RepetitionMeasurement, Suite, SuiteContext } from '../../harness/engine/suite.js';
import type { OsAdapter } from '../../harness/drivers/os/adapter.js';
import type { Target } from '../../harness/drivers/targets/target.js';
import type { Progress } from '../../harness/lib/progress.js';
import type {
  Fingerprint,
  MetricDef,
  RunOptions,
  RunRecord,
  SuiteManifest,
  VariantDef,
} from '../../harness/model/types.js';

// The runner against fakes: a suite that records every call, a target whose OS adapter keeps
// knobs in a map, and a clock and timers the test drives. No process, socket or sleep.

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hg-engine-runner-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const FINGERPRINT: Fingerprint = {
  os: 'linux',
  hostname: 'fake',
  kernelRelease: '6.0.0-fake',
  kernelVersion: '#1',
  arch: 'x86_64',
  cpuModel: 'fake cpu',
  cpuCount: 2,
  memoryBytes: 1 << 30,
  sysctls: {},
  tools: {},
};

/** An OS adapter whose knobs live in a map; sets and restores are written to the call log. */
function fakeOs(calls: string[]): OsAdapter {
  const knobs = new Map<string, string>();
  const no = async (): Promise<never> => {
    throw new Error('not used by these tests');
  };
  return {
    family: 'linux',
    fioEngine: 'libaio',
    fingerprint: async () => FINGERPRINT,
    cpuTimes: async () => ({ busy: 0, total: 1 }),
    processCpuSeconds: async () => 0,
    childPids: async () => [],
    counters: async () => ({}),
    getKnob: async (name) => knobs.get(name) ?? '0',
    async setKnob(name, value, stack) {
      const old = knobs.get(name) ?? '0';
      if (old === value) return;
      knobs.set(name, value);
      calls.push(`set ${name}=${value}`);
      stack.push(`${name}=${old}`, () => {
        knobs.set(name, old);
        calls.push(`restore ${name}=${old}`);
      });
    },
    capability: async () => ({ ok: true }),
    primePageCache: async () => null,
    coldCache: no,
    scratchBlockDevice: no,
    checkDeviceUnused: async (device: string) => device,
  };
}

/** The local-like target (workDir null: no lock, no sync) around a fake adapter. */
function fakeTarget(adapter: OsAdapter): Target {
  const no = async (): Promise<never> => {
    throw new Error('not used by these tests');
  };
  return {
    kind: 'fake',
    name: 'fake',
    address: '127.0.0.1',
    workDir: null,
    home: '/nonexistent/headgate',
    runRoot: '/nonexistent/headgate/work/runs',
    machine: { id: 'fake', boot: 'fake' },
    onController: true,
    journal: { where: 'fake', record: async () => 'x', done: async () => {}, read: async () => ({ entries: [], done: new Set(), torn: false }) },
    runsAsRoot: true,
    exec: async () => ({ stdout: '', stderr: '', code: 0 }),
    spawn: no,
    readFile: no,
    readFileIfExists: async () => null,
    writeFile: no,
    upload: no,
    download: no,
    pickPort: no,
    which: async () => null,
    os: async () => adapter,
    close: async () => {},
  };
}

/** Wall time and step deadlines under the test's control: timers fire only when expire() is called. */
class FakeClock {
  nowMs = 1_000_000;
  readonly timers = new Set<{ ms: number; fn: () => void }>();
  readonly requested: number[] = [];
  setTimer(ms: number, fn: () => void): () => void {
    const t = { ms, fn };
    this.timers.add(t);
    this.requested.push(ms);
    return () => this.timers.delete(t);
  }
  expire(): void {
    for (const t of [...this.timers]) {
      this.timers.delete(t);
      t.fn();
    }
  }
}

function fakeIo(clock: FakeClock): Partial<RunIo> {
  const set = {
    manifest: {
      schemaVersion: 1 as const,
      seed: 1,
      totalMiB: 1,
      objects: [{ path: '/seg/0000.m4s', size: 1, kind: 'segment' as const, sha256: '' }],
    },
    bodies: new Map([['/seg/0000.m4s', Buffer.from('x')]]),
  };
  return {
    materializeObjects: async () => set,
    buildObjects: () => set,
    syncObjects: async () => {
      throw new Error('a local target needs no sync');
    },
    primePageCache: async () => null,
    now: () => clock.nowMs,
    setTimer: (ms, fn) => clock.setTimer(ms, fn),
    lock: async () => ({ release: async () => {} }),
    replay: async () => {},
  };
}

const quiet = (lines: string[] = []): Progress => ({
  start: () => {},
  extend: () => {},
  step: () => {},
  tick: () => {},
  done: () => {},
  log: (l) => void lines.push(l),
  stop: () => {},
});

const THROUGHPUT: MetricDef = {
  id: 'throughput_gbps',
  title: 'Throughput',
  unit: 'Gb/s',
  direction: 'higher',
  noiseFloor: 0.05,
  gating: true,
};

const measured = (gbps: number): RepetitionMeasurement => ({
  durationMs: 2000,
  metrics: { throughput_gbps: gbps },
  counters: {},
  verification: { verified: 1, failed: 0, failures: [] },
  clientBound: false,
  notes: [],
});

type Rep = (ctx: SuiteContext, v: VariantDef, i: number) => Promise<RepetitionMeasurement>;

/** A suite that records prepare, warm-up and each repetition (variant#index) in the call log. */
function fakeSuite(
  calls: string[],
  variants: VariantDef[],
  o: { metrics?: MetricDef[]; probes?: string[]; rep?: Rep; warm?: (v: VariantDef) => RepetitionMeasurement } = {},
): Suite {
  return {
    manifest: {
      schemaVersion: 1,
      id: 'fake',
      title: 'Fake',
      feature: 'nothing',
      description: 'a suite of fakes',
      os: ['linux'],
      probes: o.probes ?? ['http'],
      // The knob the step-deadline test's repetition sets in code: declared, as setKnob requires.
      setsKnobs: { linux: ['k.three'] },
      variants,
      metrics: o.metrics ?? [THROUGHPUT],
    },
    async prepare(ctx, v) {
      calls.push(`prepare ${v.id}`);
      return {
        warmup: async () => {
          calls.push(`warmup ${v.id}`);
          return o.warm?.(v);
        },
        repetition: async (i) => {
          calls.push(`${v.id}#${i}`);
          return o.rep ? o.rep(ctx, v, i) : measured(1 + i);
        },
      };
    },
  };
}

const OPTIONS: RunOptions = {
  suites: [],
  variants: [],
  runs: 3,
  durationSec: 2,
  warmupSec: 1,
  connections: 1,
  objects: { seed: 1, totalMiB: 1 },
  serverWorkers: 1,
  serverDirectives: [],
  quick: true,
  stepTimeoutSec: 5,
};

/** Runs suites on the fake target; the record returned and the one on disk must be the same. */
async function run(
  calls: string[],
  suites: Suite[],
  o: { options?: Partial<RunOptions>; adaptive?: AdaptiveParams; clock?: FakeClock; log?: string[] } = {},
) {
  const clock = o.clock ?? new FakeClock();
  const params: RunParams = {
    target: fakeTarget(fakeOs(calls)),
    options: { ...OPTIONS, ...o.options },
    // The runner reads only reportsDir and profile of the settings.
    settings: { reportsDir: tmp, profile: 'fake' } as RunParams['settings'],
    suites,
    signal: new AbortController().signal,
    progress: quiet(o.log),
    adaptive: o.adaptive,
    io: fakeIo(clock),
  };
  const { record, runDir } = await executeRun(params);
  const onDisk = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunRecord;
  expect(onDisk).toEqual(JSON.parse(JSON.stringify(record)));
  return { record, onDisk, clock };
}

const variant = (id: string, extra: Partial<VariantDef> = {}): VariantDef => ({ id, description: id, ...extra });
const vr = (r: RunRecord, id: string) => r.suites[0].variants.find((v) => v.id === id)!;

describe('runner: interleaving', () => {
  it('prepares every variant, warms each up, then runs A B A B rounds with the knobs set for each step and restored after it', async () => {
    const calls: string[] = [];
    const suite = fakeSuite(calls, [variant('a', { knobs: { linux: { 'k.a': '1' } } }), variant('b')]);
    const { record } = await run(calls, [suite]);
    expect(calls).toEqual([
      'prepare a',
      'prepare b',
      ...['set k.a=1', 'warmup a', 'restore k.a=0', 'warmup b'],
      ...[0, 1, 2].flatMap((i) => ['set k.a=1', `a#${i}`, 'restore k.a=0', `b#${i}`]),
    ]);
    expect(record.status).toBe('complete');
    expect(vr(record, 'a').repetitions.map((r) => [r.index, r.metrics.throughput_gbps])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(vr(record, 'b').repetitions).toHaveLength(3);
    expect(vr(record, 'a').adaptive).toBeUndefined();
  });
});

describe('runner: adaptive looks and budget stops', () => {
  const ab = () => [variant('a'), variant('b')];

  it('count budget: an undecided variant gets batches, interleaved alone, until --max-runs; stoppedBy budget', async () => {
    const calls: string[] = [];
    const looks: number[] = [];
    const adaptive: AdaptiveParams = {
      batch: 2,
      maxRuns: 6,
      maxExtraSec: 1e6,
      undecided: (rec) => {
        looks.push(vr(rec, 'a').repetitions.length);
        return ['a'];
      },
    };
    const { onDisk } = await run(calls, [fakeSuite(calls, ab())], { options: { runs: 2 }, adaptive });
    expect(calls.filter((c) => c.includes('#'))).toEqual(['a#0', 'b#0', 'a#1', 'b#1', 'a#2', 'a#3', 'a#4', 'a#5']);
    expect(looks).toEqual([2, 4]);
    expect(vr(onDisk, 'a').adaptive).toEqual({ looks: [2, 4, 6], stoppedBy: 'budget' });
    expect(vr(onDisk, 'b').adaptive).toEqual({ looks: [2], stoppedBy: 'settled' });
  });

  it('time budget: the injected clock passes --max-extra-sec; stoppedBy time', async () => {
    const calls: string[] = [];
    const clock = new FakeClock();
    // Every repetition takes a minute of (fake) wall time.
    const rep: Rep = async (_ctx, _v, i) => {
      clock.nowMs += 60_000;
      return measured(i);
    };
    const adaptive: AdaptiveParams = { batch: 2, maxRuns: 10, maxExtraSec: 100, undecided: () => ['a', 'b'] };
    const { onDisk } = await run(calls, [fakeSuite(calls, ab(), { rep })], { options: { runs: 2 }, adaptive, clock });
    // One batch (4 minutes) fits in the budget's first check; the next look finds it spent.
    expect(calls.filter((c) => c.includes('#'))).toEqual(['a#0', 'b#0', 'a#1', 'b#1', 'a#2', 'b#2', 'a#3', 'b#3']);
    for (const id of ['a', 'b']) expect(vr(onDisk, id).adaptive).toEqual({ looks: [2, 4], stoppedBy: 'time' });
  });

  it('settled: a variant decided at a look stops there; stoppedBy settled', async () => {
    const calls: string[] = [];
    const adaptive: AdaptiveParams = {
      batch: 2,
      maxRuns: 10,
      maxExtraSec: 1e6,
      undecided: (rec) => (vr(rec, 'a').repetitions.length < 4 ? ['a'] : []),
    };
    const { onDisk } = await run(calls, [fakeSuite(calls, ab())], { options: { runs: 2 }, adaptive });
    expect(calls.filter((c) => c.includes('#'))).toEqual(['a#0', 'b#0', 'a#1', 'b#1', 'a#2', 'a#3']);
    expect(vr(onDisk, 'a').adaptive).toEqual({ looks: [2, 4], stoppedBy: 'settled' });
    expect(vr(onDisk, 'b').adaptive).toEqual({ looks: [2], stoppedBy: 'settled' });
  });
});

describe('runner: step deadline', () => {
  it('a repetition that never resolves is an infrastructure error of its variant after load + --step-timeout; knobs restored in reverse; the other variant goes on', async () => {
    const calls: string[] = [];
    const clock = new FakeClock();
    let hungSignal: AbortSignal | undefined;
    const rep: Rep = async (ctx, v, i) => {
      if (v.id !== 'hangs' || i !== 1) return measured(i);
      await ctx.setKnob('k.three', '3');
      hungSignal = ctx.signal;
      clock.expire(); // the deadline passes while the repetition hangs
      return new Promise<never>(() => {});
    };
    const suite = fakeSuite(
      calls,
      [variant('hangs', { knobs: { linux: { 'k.one': '1', 'k.two': '2' } } }), variant('fine')],
      { rep },
    );
    const { record } = await run(calls, [suite], { clock });

    const hung = calls.indexOf('hangs#1');
    expect(calls.slice(hung - 2, hung + 5)).toEqual([
      'set k.one=1',
      'set k.two=2',
      'hangs#1',
      'set k.three=3',
      'restore k.three=0',
      'restore k.two=0',
      'restore k.one=0',
    ]);
    expect(calls.filter((c) => c.includes('#'))).toEqual(['hangs#0', 'fine#0', 'hangs#1', 'fine#1', 'fine#2']);
    expect(vr(record, 'hangs')).toMatchObject({
      status: 'error',
      reason: 'fake/hangs #2 did not finish within 7 s (step timeout)',
    });
    expect(vr(record, 'hangs').repetitions).toHaveLength(1);
    expect(vr(record, 'fine')).toMatchObject({ status: 'ran' });
    expect(vr(record, 'fine').repetitions).toHaveLength(3);
    expect(record.errors).toEqual(['fake/hangs: fake/hangs #2 did not finish within 7 s (step timeout)']);
    expect(record.status).toBe('incomplete');
    expect(record.restoreFailures).toEqual([]);
    // Deadlines: warm-ups get --warmup + grace, repetitions --duration + grace; none is left pending.
    expect([...new Set(clock.requested)].sort()).toEqual([6000, 7000]);
    expect(clock.timers.size).toBe(0);
    // The hung step's probes were told to stop.
    expect(hungSignal?.aborted).toBe(true);
  });
});

describe('runner: --rate and gating metrics', () => {
  const metrics: MetricDef[] = [
    THROUGHPUT,
    { id: 'ttfb_p99_ms', title: 'TTFB p99', unit: 'ms', direction: 'lower', noiseFloor: 0.2, gating: true },
    { id: 'browser_ttfb_ms', title: 'Browser TTFB', unit: 'ms', direction: 'lower', noiseFloor: 0.2, gating: false },
  ];
  const variants = () => [variant('load'), variant('page', { client: 'browser' })];

  it('under --rate every variant runs: the open model produces every gating metric the closed one does (TTFB included)', async () => {
    const calls: string[] = [];
    const rep: Rep = async (_ctx, _v, i) => ({ ...measured(1 + i), metrics: { throughput_gbps: 1 + i, ttfb_p99_ms: 5 } });
    const { record } = await run(calls, [fakeSuite(calls, variants(), { metrics, probes: ['http', 'browser'], rep })], { options: { rate: 50 } });
    expect(record.errors).toEqual([]);
    expect(record.suites[0].variants.map((v) => [v.id, v.status, v.repetitions.length])).toEqual([
      ['load', 'ran', 3],
      ['page', 'ran', 3],
    ]);
  });

  it('without --rate both variants run', async () => {
    const calls: string[] = [];
    const rep: Rep = async (_ctx, _v, i) => ({ ...measured(1 + i), metrics: { throughput_gbps: 1 + i, ttfb_p99_ms: 5 } });
    const { record } = await run(calls, [fakeSuite(calls, variants(), { metrics, probes: ['http', 'browser'], rep })]);
    expect(record.errors).toEqual([]);
    expect(record.suites[0].variants.map((v) => [v.id, v.status, v.repetitions.length])).toEqual([
      ['load', 'ran', 3],
      ['page', 'ran', 3],
    ]);
  });
});

describe('runner: the load model where the load shares the machine', () => {
  it('a cold set joins its suite\'s rate only when its own full-load warm-up was client-bound; the rate is taken from the warm-ups of those that run at it', async () => {
    const calls: string[] = [];
    const log: string[] = [];
    const warm: Record<string, { gbps: number; bound: boolean }> = { hot: { gbps: 12, bound: false }, 'cold-fast': { gbps: 16, bound: true }, 'cold-slow': { gbps: 7, bound: false } };
    const suite = fakeSuite(calls, [variant('hot'), variant('cold-fast', { cache: 'cold' }), variant('cold-slow', { cache: 'cold' })], {
      warm: (v) => ({ ...measured(warm[v.id].gbps), clientBound: warm[v.id].bound }),
    });
    const { record } = await run(calls, [suite], { options: { split: { server: [1], client: [0], how: 'auto' }, loadModel: 'auto' }, log });
    expect(record.errors).toEqual([]);
    // Said before any load: which variants may move, and on what condition.
    expect(log.find((l) => l.startsWith('load model:'))).toMatch(/so fake\/hot run at a fixed offered rate.*the cold-cache fake\/cold-fast, fake\/cold-slow stay at full load \(the disk path\) unless their full-load warm-up leaves the client no headroom/);
    const share = Math.min(warm.hot.gbps, warm['cold-fast'].gbps) * 0.5;
    expect(vr(record, 'hot').offeredGbps).toBeCloseTo(share);
    expect(vr(record, 'cold-fast').offeredGbps).toBeCloseTo(share);
    expect(vr(record, 'cold-slow').offeredGbps).toBeUndefined();
    expect(log).toContain(`fake: hot, cold-fast offered ${share.toFixed(3)} Gb/s = 50% of the lowest of their warm-ups (12.000, 16.000 Gb/s)`);
  });
});

describe('runner: a gating metric that produced no samples', () => {
  const metrics: MetricDef[] = [THROUGHPUT, { id: 'ttfb_p99_ms', title: 'TTFB p99', unit: 'ms', direction: 'lower', noiseFloor: 0.2, gating: true }];

  it('is an error for that variant (the verdict never decides on a smaller family than the suite declares)', async () => {
    const calls: string[] = [];
    // The http probe declares ttfb_p99_ms, but these repetitions never measure it.
    const { record } = await run(calls, [fakeSuite(calls, [variant('load')], { metrics, probes: ['http'] })]);
    expect(vr(record, 'load')).toMatchObject({ status: 'error', reason: expect.stringMatching(/gating metric ttfb_p99_ms produced no samples in 3 repetitions/) });
    expect(record.errors).toEqual([expect.stringMatching(/^fake\/load: .*ttfb_p99_ms produced no samples/)]);
  });
});

describe('loading a suite: its metrics against its probes', () => {
  /** A copy of a shipped suite's manifest, changed, in a folder of its own. */
  function copyOf(id: string, change: (m: SuiteManifest) => void): string {
    const dir = mkdtempSync(path.join(tmp, 'suites-'));
    const m = JSON.parse(readFileSync(path.join(suitesDir(), id, 'suite.json'), 'utf8')) as SuiteManifest;
    change(m);
    mkdirSync(path.join(dir, id));
    writeFileSync(path.join(dir, id, 'suite.json'), JSON.stringify(m));
    return dir;
  }

  it('a metric no declared probe produces: exit 2, naming the suite file and the metric, with what the probe does produce', async () => {
    const dir = copyOf('pbuf', (m) => (m.probes = ['block-io']));
    const e = await discoverSuites(dir).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`${path.join(dir, 'pbuf', 'suite.json')}: `);
    expect(e.message).toContain(
      'metrics/ttfb_p99_ms: no probe of this suite produces it (block-io produces: read_p50_ms, read_p99_ms,',
    );
  });

  it('a derived metric the manifest forgot to list in derives is such a mismatch too', async () => {
    const dir = copyOf('sendfile', (m) => void delete m.derives);
    const e = await discoverSuites(dir).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(
      /sendfile\/suite\.json: metrics\/disk_read_pct: no probe of this suite produces it \(http produces: throughput_gbps, .*ttfb_p99_ms.*\); a metric the suite's code computes belongs in derives$/,
    );
  });

  it('a unit or direction other than the probe declares: exit 2 naming the metric', async () => {
    const dir = copyOf('sendfile', (m) => {
      m.metrics.find((x) => x.id === 'throughput_gbps')!.unit = 'Gbit/s';
      m.metrics.find((x) => x.id === 'latency_p99_ms')!.direction = 'higher';
    });
    const e = await discoverSuites(dir).catch((x) => x);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(
      'sendfile/suite.json: metrics/throughput_gbps: unit "Gbit/s", but the http probe produces it in "Gb/s"; metrics/latency_p99_ms: direction "higher", but for the http probe lower is better',
    );
  });
});
