import { infraError, interruptedError } from '../model/errors.js';
import type { Target } from '../drivers/targets/target.js';
import { tailSamples, type ProbeDeclaration } from './probe.js';

/** One side of the io-sched workload. */
export interface FioSide {
  rw: 'randread' | 'read' | 'write' | 'randwrite';
  bs: string;
  iodepth: number;
}

/** The io-sched workload: a latency-sensitive reader against a concurrent writer on one device. */
export interface FioSpec {
  device: string;
  durationSec: number;
  /** libaio on Linux, posixaio on FreeBSD. */
  ioengine: string;
  reader: FioSide;
  writer: FioSide;
}

/** Percentiles and rates of one direction of one fio job. */
export interface FioStats {
  iops: number;
  bytesPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** Completions the percentiles were taken from (clat_ns.N; NaN when fio did not print it). */
  ios: number;
}

/**
 * fio arguments: O_DIRECT so the page cache does not hide the scheduler; the reader uses the
 * first half of the device and the writer the second, so they contend for the queue, not for blocks.
 */
export function fioArgs(s: FioSpec): string[] {
  const side = (name: string, x: FioSide, offset: string) => [`--name=${name}`, `--rw=${x.rw}`, `--bs=${x.bs}`, `--iodepth=${x.iodepth}`, `--offset=${offset}`, '--size=50%'];
  return [
    'fio',
    '--output-format=json',
    `--filename=${s.device}`,
    '--direct=1',
    `--ioengine=${s.ioengine}`,
    '--time_based',
    `--runtime=${Math.max(1, Math.round(s.durationSec))}s`,
    '--randrepeat=0',
    ...side('reader', s.reader, '0'),
    ...side('writer', s.writer, '50%'),
  ];
}

const pct = (clat: { percentile?: Record<string, number> } | undefined, key: string) => (clat?.percentile?.[key] ?? NaN) / 1000;

/** Reader and writer statistics from fio's JSON output (jobs[].read / jobs[].write, clat_ns percentiles). */
export function parseFioJson(text: string): { reader: FioStats; writer: FioStats } {
  // fio may print warnings before the JSON document.
  const start = text.indexOf('{');
  if (start < 0) throw infraError(`fio printed no JSON: ${text.trim().split('\n')[0] ?? ''}`);
  const doc = JSON.parse(text.slice(start)) as { jobs: { jobname: string; read: any; write: any }[] };
  const job = (name: string) => {
    const j = doc.jobs.find((x) => x.jobname === name);
    if (!j) throw infraError(`fio output has no job "${name}"`);
    return j;
  };
  const stats = (d: any): FioStats => ({
    iops: d.iops,
    bytesPerSec: d.bw_bytes,
    p50Us: pct(d.clat_ns, '50.000000'),
    p99Us: pct(d.clat_ns, '99.000000'),
    p999Us: pct(d.clat_ns, '99.900000'),
    ios: typeof d.clat_ns?.N === 'number' ? d.clat_ns.N : NaN,
  });
  return { reader: stats(job('reader').read), writer: stats(job('writer').write) };
}

/** The block I/O probe: fio, a latency-sensitive reader against a concurrent writer on one device. */
export const blockIoProbe: ProbeDeclaration = {
  id: 'block-io',
  title: 'block I/O (fio reader against a concurrent writer)',
  metrics: [
    { id: 'read_p50_ms', unit: 'ms', direction: 'lower', quantile: 0.5 },
    { id: 'read_p99_ms', unit: 'ms', direction: 'lower', quantile: 0.99 },
    { id: 'read_p999_ms', unit: 'ms', direction: 'lower', quantile: 0.999 },
    { id: 'read_iops', unit: 'IO/s', direction: 'higher' },
    { id: 'read_mbps', unit: 'MB/s', direction: 'higher' },
    { id: 'write_mbps', unit: 'MB/s', direction: 'higher' },
    { id: 'target_cpu_pct', unit: '%', direction: 'lower' },
  ],
  measures: () => true,
};

/** The block I/O probe's metrics of one fio run; targetBusy is the busy share of the whole target, 0..1. */
export function blockIoMetrics(r: { reader: FioStats; writer: FioStats }, targetBusy: number): Record<string, number> {
  return {
    read_p50_ms: r.reader.p50Us / 1000,
    read_p99_ms: r.reader.p99Us / 1000,
    read_p999_ms: r.reader.p999Us / 1000,
    read_iops: r.reader.iops,
    read_mbps: r.reader.bytesPerSec / 1e6,
    write_mbps: r.writer.bytesPerSec / 1e6,
    target_cpu_pct: targetBusy * 100,
  };
}

/** How many reads lay beyond each read-latency percentile of one fio run (see tailSamples). */
export function blockIoTailSamples(r: { reader: FioStats }): Record<string, number> {
  const n = r.reader.ios;
  return tailSamples(blockIoProbe.metrics, { read_p50_ms: n, read_p99_ms: n, read_p999_ms: n });
}

/** Runs the workload on the target with a deadline; fio's JSON is the only output kept. */
export async function runFio(target: Target, s: FioSpec, signal?: AbortSignal): Promise<{ reader: FioStats; writer: FioStats }> {
  if (signal?.aborted) throw interruptedError();
  const r = await target.exec(fioArgs(s), { allowFail: true, timeoutMs: (s.durationSec + 30) * 1000, signal });
  if (signal?.aborted) throw interruptedError();
  if (r.code !== 0) throw infraError(`fio on ${s.device} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return parseFioJson(r.stdout);
}
