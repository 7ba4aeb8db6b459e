import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserMetrics, type BrowserResult } from '../../harness/probes/browser.js';
import { blockIoMetrics } from '../../harness/probes/fio.js';
import { httpMetrics, type HttpLoadResult } from '../../harness/probes/http.js';
import { tcpMetrics } from '../../harness/probes/iperf.js';
import { manifestMetricProblems, metricsForRun, PROBES, probeMode, variantProbes } from '../../harness/probes/registry.js';
import { suitesDir } from '../../harness/engine/discovery.js';
import type { SuiteManifest } from '../../harness/model/types.js';

const ids = (r: Record<string, number>) => Object.keys(r).sort();
const declared = (probe: string) =>
  PROBES.get(probe)!
    .metrics.map((m) => m.id)
    .sort();
const manifest = (id: string) =>
  JSON.parse(readFileSync(path.join(suitesDir(), id, 'suite.json'), 'utf8')) as SuiteManifest;

const CPU = { serverCores: 0.5, targetBusy: 0.25, machineCores: 0.75, machineBusy: 0.375 };
const latency = { p50: 1000, p90: 2000, p99: 3000, p999: 4000, max: 5000, mean: 1500, count: 10 };
const load = (ttfb: boolean): HttpLoadResult => ({
  durationSec: 2,
  requests: 10,
  bodyBytes: 2.5e8,
  wireBytes: 2.5e8,
  errors: 1,
  timeouts: 1,
  non2xx: 0,
  verification: { verified: 10, failed: 0, failures: [] },
  latencyUs: latency,
  ...(ttfb ? { ttfbUs: latency } : {}),
  clientCpu: 0.5,
  clientDemand: 0.6,
  clientBound: false,
});

describe('each probe computes exactly the metrics it declares', () => {
  it('http: the same metrics in both load models, TTFB included', () => {
    expect(ids(httpMetrics(load(true), CPU))).toEqual(declared('http'));
    const m = httpMetrics(load(true), CPU);
    expect(m).toMatchObject({
      throughput_gbps: 1,
      gbps_per_core: 2,
      latency_p99_ms: 3,
      ttfb_p99_ms: 3,
      errors: 2,
      server_cpu_pct: 50,
      target_cpu_pct: 25,
      // Whole machine: 0.75 cores for 1 Gb/s; 37.5% of all CPUs.
      machine_cpu_per_gbps: 0.75,
      machine_cpu_pct: 37.5,
    });
  });

  it('browser, block-io and tcp: one set in every mode', () => {
    const b: BrowserResult = {
      durationSec: 1,
      fetches: 4,
      bodyBytes: 1e6,
      ttfbMs: [1, 2, 3],
      transferMs: [4, 5],
      tlsMs: 6,
      protocol: 'h2',
      verification: { verified: 4, failed: 0, failures: [] },
    };
    const fio = { iops: 1, bytesPerSec: 1e6, p50Us: 1, p99Us: 2, p999Us: 3, ios: 1000 };
    const tcp = { goodputBps: 1e8, retransmits: 3, rttUs: 5000, flowBps: [5e7, 5e7], congestion: 'cubic' };
    expect(ids(browserMetrics(b, null))).toEqual(declared('browser'));
    expect(ids(blockIoMetrics({ reader: fio, writer: fio }, 0.5))).toEqual(declared('block-io'));
    expect(ids(tcpMetrics(tcp))).toEqual(declared('tcp'));
    expect(tcpMetrics(tcp)).toEqual({ goodput_mbps: 100, retrans_segs: 3, rtt_ms: 5, fairness: 1 });
  });
});

describe('probe registry', () => {
  it('--rate is the open model', () => {
    expect(probeMode({})).toBe('closed');
    expect(probeMode({ rate: 100 })).toBe('open');
    expect(probeMode({ fixedThroughput: '60%' })).toBe('open');
  });

  it('--fixed-throughput moves gating to the metrics that gate at a fixed rate', () => {
    const m = manifest('sendfile');
    const gating = (o: { fixedThroughput?: string }) => metricsForRun(m.metrics, o).filter((d) => d.gating).map((d) => d.id);
    expect(gating({})).toEqual(['throughput_gbps', 'machine_cpu_per_gbps', 'latency_p99_ms']);
    expect(gating({ fixedThroughput: '2' })).toEqual(['throughput_gbps', 'latency_p99_ms', 'machine_cpu_pct']);
    // run.json records the resolved flag only; nginx-only CPU per Gb/s informs in both modes.
    expect(metricsForRun(m.metrics, { fixedThroughput: '2' }).some((d) => 'gatingAtFixedThroughput' in d)).toBe(false);
    expect(m.metrics.find((d) => d.id === 'gbps_per_core')?.gating).toBe(false);
  });

  it('a variant is measured by the probes of its client', () => {
    const m = manifest('ktls');
    const of = (id: string) =>
      variantProbes(
        m,
        m.variants.find((v) => v.id === id)!,
      ).map((p) => p.id);
    expect(of('userspace-tls13')).toEqual(['http']);
    expect(of('browser-tls13')).toEqual(['browser']);
    const t = manifest('tcp-stack');
    expect(variantProbes(t, t.variants[0]).map((p) => p.id)).toEqual(['tcp', 'http']);
  });

  it('the shipped suites agree with their probes', () => {
    for (const id of ['io-sched', 'ktls', 'pbuf', 'sendfile', 'tcp-stack', 'unmapped-mbufs'])
      expect([id, manifestMetricProblems(manifest(id))]).toEqual([id, []]);
  });

  it('names every disagreement by key', () => {
    const m = manifest('sendfile');
    m.probes = ['http', 'wrk'];
    m.derives = ['disk_read_pct', 'latency_p99_ms', 'not_a_metric'];
    expect(manifestMetricProblems(m)).toEqual([
      'probes/wrk: unknown probe (known: http, browser, block-io, tcp)',
      'metrics/latency_p99_ms: listed in derives, but the http probe produces it; remove it from derives',
      'derives/not_a_metric: not declared in metrics',
    ]);
  });

});
