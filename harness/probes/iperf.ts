import { sleep } from '../lib/cleanup.js';
import { infraError, interruptedError } from '../model/errors.js';
import type { Target } from '../drivers/targets/target.js';
import type { ProbeDeclaration } from './probe.js';

/** What one bulk transfer measured (iperf3, sender in the server namespace). */
export interface TcpResult {
  /** Bits per second delivered to the receiver, all flows. */
  goodputBps: number;
  /** Segments the sender retransmitted, all flows. */
  retransmits: number;
  /** Mean smoothed RTT the sender saw, averaged over flows (microseconds). */
  rttUs: number;
  /** Bits per second per flow at the receiver. */
  flowBps: number[];
  congestion: string;
}

/** Jain's fairness index of flow rates: 1 = perfectly fair, 1/n = one flow takes everything. */
export function jainIndex(x: number[]): number {
  if (x.length === 0) return NaN;
  const sum = x.reduce((a, b) => a + b, 0);
  const sq = x.reduce((a, b) => a + b * b, 0);
  return sq === 0 ? NaN : (sum * sum) / (x.length * sq);
}

/** The TCP probe: iperf3 bulk flows from the server namespace through the bottleneck. */
export const tcpProbe: ProbeDeclaration = {
  id: 'tcp',
  title: 'bulk TCP (iperf3 flows through the bottleneck)',
  metrics: [
    { id: 'goodput_mbps', unit: 'Mbit/s', direction: 'higher' },
    { id: 'retrans_segs', unit: 'count', direction: 'lower' },
    { id: 'rtt_ms', unit: 'ms', direction: 'lower' },
    { id: 'fairness', unit: 'index', direction: 'higher' },
  ],
  measures: () => true,
};

/** The TCP probe's metrics of one bulk transfer. */
export function tcpMetrics(r: TcpResult): Record<string, number> {
  return {
    goodput_mbps: r.goodputBps / 1e6,
    retrans_segs: r.retransmits,
    rtt_ms: r.rttUs / 1000,
    fairness: jainIndex(r.flowBps),
  };
}

/** The client's iperf3 -J document: end.sum_received, end.sum_sent.retransmits, end.streams[].sender.mean_rtt. */
export function parseIperfJson(text: string): TcpResult {
  const doc = JSON.parse(text) as any;
  if (doc.error) throw infraError(`iperf3: ${doc.error}`);
  const end = doc.end ?? {};
  const streams: any[] = end.streams ?? [];
  const rtts = streams.map((s) => s.sender?.mean_rtt).filter((v): v is number => typeof v === 'number');
  return {
    goodputBps: end.sum_received?.bits_per_second ?? NaN,
    retransmits: end.sum_sent?.retransmits ?? NaN,
    rttUs: rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : NaN,
    flowBps: streams.map((s) => s.receiver?.bits_per_second ?? NaN),
    congestion: end.sender_tcp_congestion ?? doc.start?.tcp_congestion ?? '',
  };
}

/**
 * One bulk transfer: iperf3 receives at the client address (on `receiver`, the harness host's side
 * of the lab, inside `receiverWrap` when that side is a jail on the target) and sends from the target (`senderWrap`, e.g. ip netns exec), with the given
 * congestion control and flows.
 */
export async function runIperf(
  target: Target,
  receiver: Target,
  o: { senderWrap: string[]; receiverWrap?: string[]; clientAddress: string; port: number; congestion?: string; flows: number; durationSec: number; logFile: string; signal?: AbortSignal },
): Promise<TcpResult> {
  if (o.signal?.aborted) throw interruptedError();
  const server = await receiver.spawn([...(o.receiverWrap ?? []), 'iperf3', '-s', '-1', '-B', o.clientAddress, '-p', String(o.port)], { logFile: o.logFile });
  try {
    await sleep(200); // let the receiver listen before the sender connects
    const argv = [...o.senderWrap, 'iperf3', '-J', '-c', o.clientAddress, '-p', String(o.port), '-t', String(Math.max(1, Math.round(o.durationSec))), '-P', String(o.flows)];
    if (o.congestion) argv.push('-C', o.congestion);
    const r = await target.exec(argv, { allowFail: true, timeoutMs: (o.durationSec + 20) * 1000, signal: o.signal });
    if (o.signal?.aborted) throw interruptedError();
    if (r.code !== 0 && !r.stdout.trim().startsWith('{')) throw infraError(`iperf3 sender failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    return parseIperfJson(r.stdout);
  } finally {
    if (server.running()) server.kill('SIGKILL');
    await server.exited;
  }
}
