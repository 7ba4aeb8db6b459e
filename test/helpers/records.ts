import type { Fingerprint, MetricDef, RunRecord } from '../../harness/model/types.js';
import type { NoiseProfile } from '../../harness/verdict/noise.js';

/** A fingerprint like the local machine's, for records built in tests. */
export const FP: Fingerprint = {
  os: 'linux',
  hostname: 'test',
  kernelRelease: '6.1.0',
  kernelVersion: '#1 SMP',
  arch: 'x86_64',
  cpuModel: 'Test CPU',
  cpuCount: 2,
  memoryBytes: 2 ** 34,
  sysctls: { 'net.ipv4.tcp_congestion_control': 'cubic' },
  tools: { nginx: '1.22.1' },
};

export const METRICS: MetricDef[] = [
  { id: 'throughput_gbps', title: 'Throughput', unit: 'Gb/s', direction: 'higher', noiseFloor: 0.05, gating: true },
  { id: 'latency_p99_ms', title: 'Latency p99', unit: 'ms', direction: 'lower', noiseFloor: 0.15, gating: true },
  { id: 'errors', title: 'Errors', unit: 'count', direction: 'lower', noiseFloor: 0, gating: false },
];

/** A complete run record with the given per-variant samples (metric -> values). */
export function makeRun(variants: Record<string, Record<string, number[]>>, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    schemaVersion: 1,
    tool: { name: 'headgate', version: '0.0.0' },
    runId: 'r1',
    status: 'complete',
    startedAt: '2026-11-26T00:00:00.000Z',
    finishedAt: '2026-11-26T00:01:00.000Z',
    target: { kind: 'local', name: 'local' },
    profile: 'test-profile',
    fingerprint: FP,
    options: {
      suites: [],
      variants: [],
      runs: 6,
      durationSec: 2,
      warmupSec: 1,
      connections: 8,
      objects: { seed: 1, totalMiB: 32 },
      serverWorkers: 1,
      serverDirectives: [],
      quick: true,
    },
    suites: [
      {
        id: 'sendfile',
        title: 'sendfile',
        feature: 'async sendfile',
        status: 'ran',
        metrics: METRICS,
        variants: Object.entries(variants).map(([id, m]) => ({
          id,
          status: 'ran' as const,
          artifacts: {},
          repetitions: (Object.values(m)[0] ?? []).map((_, i) => ({
            index: i,
            startedAt: '2026-11-26T00:00:00.000Z',
            durationMs: 2000,
            metrics: Object.fromEntries(Object.entries(m).map(([k, xs]) => [k, xs[i]])),
            counters: {},
            verification: { verified: 100, failed: 0, failures: [] },
            clientBound: false,
            notes: [],
          })),
        })),
      },
    ],
    errors: [],
    restoreFailures: [],
    ...extra,
  };
}

/** A noise calibration (3 sessions x 6 runs, measured 2026-12-01) of the given suite/variant/metric entries, for comparisons built in tests. */
export function makeNoise(metrics: NoiseProfile['metrics'], profile = 'test-profile'): NoiseProfile {
  return {
    schemaVersion: 1,
    profile,
    target: 'local',
    measuredAt: '2026-12-01T00:00:00Z',
    sessions: 3,
    runs: 6,
    options: makeRun({}).options,
    sourceRuns: [],
    metrics,
  };
}
