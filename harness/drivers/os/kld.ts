import type { Target } from '../targets/target.js';
import { pollClock, timeWaitBound } from './poll.js';

/**
 * What sbin/kldunload prints when the kernel refuses the unload with EBUSY: kldunload.c main()
 * `if (kldunloadf(fileid, force) < 0) err(EXIT_FAILURE, "can't unload file");`, err(3) appending
 * strerror, and lib/libc/gen/errlst.c `"Device busy", /* 16 - EBUSY *\/`. A TCP stack module
 * returns EBUSY while connections hold it: sys/netinet/tcp_subr.c deregister_tcp_functions()
 * `if (blk->tfb_refcnt) { /* TCBs still attached. *\/ ... return (EBUSY); }`, and head's
 * tcp_twstart() keeps the whole tcpcb in TIME_WAIT (`tcp_timer_activate(tp, TT_2MSL, 2 * V_tcp_msl)`),
 * releasing the stack's reference only in tcp_discardcb() (`refcount_release(&tp->t_fb->tfb_refcnt)`).
 */
export const KLDUNLOAD_BUSY = "can't unload file: Device busy";

/** kldunload's message for a module that is not loaded: kldunload.c `errx(EXIT_FAILURE, "can't find file %s", filename)`. */
export const KLDUNLOAD_NOT_LOADED = "can't find file";

export type KldUnload =
  { ok: true; attempts: number } | { ok: false; busy: boolean; attempts: number; waitedSec: number; message: string };

/**
 * kldunload MODULE; while the kernel answers EBUSY, waits and tries again once a second for up
 * to timeWaitBound() (2 x net.inet.tcp.msl + 10 s): the longest a TIME_WAIT connection of a
 * stack's keeps it busy. A module that is not loaded counts
 * as unloaded. Never throws; the caller reports a failure and keeps its journal entry.
 */
export async function kldunloadWaiting(
  t: Pick<Target, 'exec'>,
  mod: string,
  log: (line: string) => void = () => {},
): Promise<KldUnload> {
  let bound: { sec: number; how: string } | undefined;
  for (let attempts = 1, waited = 0; ; attempts++) {
    const r = await t.exec(['kldunload', mod], { allowFail: true });
    if (r.code === 0 || r.stderr.includes(KLDUNLOAD_NOT_LOADED)) return { ok: true, attempts };
    if (!r.stderr.includes(KLDUNLOAD_BUSY)) {
      return { ok: false, busy: false, attempts, waitedSec: waited, message: r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
    }
    if (!bound) {
      bound = await timeWaitBound(t);
      log(`kldunload ${mod}: busy (${KLDUNLOAD_BUSY}); connections still hold it, retrying once a second for up to ${bound.sec} s (${bound.how})`);
    }
    if (waited >= bound.sec) return busyFailure(mod, attempts, bound.sec);
    await pollClock.sleep(1000);
    waited++;
  }
}

/** The failure of a module still busy when the TIME_WAIT bound ran out. */
function busyFailure(mod: string, attempts: number, boundSec: number): KldUnload {
  return {
    ok: false,
    busy: true,
    attempts,
    waitedSec: boundSec,
    message: `module ${mod} still busy after ${boundSec} s and ${attempts} attempts (kldunload: ${KLDUNLOAD_BUSY}): connections still hold it (a TCP stack stays referenced while its TIME_WAIT connections live, 2 x net.inet.tcp.msl); left loaded and kept in the journal, so the next restore unloads it`,
  };
}
