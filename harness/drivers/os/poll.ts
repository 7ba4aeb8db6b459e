import type { Target } from '../targets/target.js';

/** The wait between two polls of a target (a module still busy, log records still alive); tests replace it. */
export const pollClock = { sleep: (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms)) };

/** Seconds added to 2 x MSL: the TIME_WAIT timer fires on a callout, and the discard follows it. */
const MARGIN_SEC = 10;

/**
 * How long a FreeBSD connection can linger in TIME_WAIT, plus a margin: 2 x net.inet.tcp.msl
 * (head tcp_twstart(): `tcp_timer_activate(tp, TT_2MSL, 2 * V_tcp_msl)`; sys/netinet/tcp_timer.c
 * `SYSCTL_PROC(_net_inet_tcp, OID_AUTO, msl, ... sysctl_msec_to_ticks, "I", "Maximum segment
 * lifetime")`, read in milliseconds) + 10 s. `how` says where the figure came from.
 */
export async function timeWaitBound(t: Pick<Target, 'exec'>): Promise<{ sec: number; how: string }> {
  const r = await t.exec(['sysctl', '-n', 'net.inet.tcp.msl'], { allowFail: true });
  const msl = r.code === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : null;
  // Unreadable MSL (not expected: the node is in every tcp_timer.c read): 60 s assumed, and said so.
  const sec = Math.ceil((2 * (msl ?? 60_000)) / 1000) + MARGIN_SEC;
  return {
    sec,
    how: `2 x net.inet.tcp.msl${msl === null ? ' (unreadable, 60 s assumed)' : ` (${msl} ms)`} + ${MARGIN_SEC} s`,
  };
}
