/** Why adaptive repetitions stopped: every comparison decided, the count budget, or the time budget. */
export type StopReason = 'settled' | 'budget' | 'time';

/** One adaptive-repetition schedule: looks after `start` repetitions, then after every batch. */
export interface LookLoopParams {
  /** Repetitions per variant already taken at the first look. */
  start: number;
  /** Most repetitions per variant. */
  maxRuns: number;
  /** Repetitions added per look. */
  batch: number;
  /** Most seconds spent on added repetitions. */
  maxExtraSec: number;
  /** Milliseconds since the epoch (injected: tests drive the time budget). */
  now(): number;
  /** The ids still undecided after the repetitions so far (an interim look). */
  undecided(): string[] | Promise<string[]>;
  /** Takes up to `k` more repetitions of each id (interleaved); returns how many it took. */
  add(ids: string[], k: number, n: number): Promise<number>;
  /** After each batch: the ids that got it, the count now, and the stop state if nothing else changes. */
  onLook?(ids: string[], n: number, stoppedBy: StopReason): void | Promise<void>;
  /** The time budget ran out with these ids undecided. */
  onTimeStop?(ids: string[]): void;
}

/**
 * The one adaptive loop (the runner's in-session rounds and ab's blocks on two targets): look,
 * stop when nothing is undecided or a budget is spent (count first, then wall time), else add a
 * batch of repetitions to what is undecided and look again.
 */
export async function lookLoop(p: LookLoopParams): Promise<{ n: number; stoppedBy: StopReason }> {
  const t0 = p.now();
  let n = p.start;
  while (n < p.maxRuns) {
    const ids = await p.undecided();
    if (ids.length === 0) return { n, stoppedBy: 'settled' };
    if ((p.now() - t0) / 1000 >= p.maxExtraSec) {
      p.onTimeStop?.(ids);
      return { n, stoppedBy: 'time' };
    }
    n += await p.add(ids, Math.min(p.batch, p.maxRuns - n), n);
    await p.onLook?.(ids, n, n >= p.maxRuns ? 'budget' : 'settled');
  }
  return { n, stoppedBy: 'budget' };
}
