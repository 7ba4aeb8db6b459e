import cliProgress from 'cli-progress';

/** Progress of a long run: a live bar on a terminal, plain log lines in CI or when piped. */
export interface Progress {
  start(total: number): void;
  /** More steps than planned (adaptive repetitions). */
  extend(more: number): void;
  /** A repetition or warm-up began. */
  step(label: string): void;
  /** Live numbers during a load. */
  tick(rateGbps: number, requests: number): void;
  /** A repetition finished. */
  done(summary: string): void;
  log(line: string): void;
  stop(): void;
}

/** Creates the progress display that fits the output stream (quiet: only log lines). */
export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream; prefix?: string } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  // With a prefix (several targets at once) lines, not a bar: bars of parallel runs would fight.
  const tty = !!stream.isTTY && !process.env.CI && !opts.quiet && !opts.prefix;
  const p = opts.prefix ?? '';
  if (!tty) {
    let n = 0;
    let total = 0;
    return {
      start: (t) => (total = t),
      extend: (k) => (total += k),
      step: () => {},
      tick: () => {},
      done: (s) => !opts.quiet && stream.write(`${p}[${++n}/${total}] ${s}\n`),
      log: (l) => !opts.quiet && stream.write(`${p}${l}\n`),
      stop: () => {},
    };
  }
  // MultiBar (with one bar) because its log() prints above the bar without being overwritten.
  const multi = new cliProgress.MultiBar(
    { format: ' {bar} {value}/{total} | {label} | {rate} Gb/s | {reqs} req', hideCursor: true, clearOnComplete: true, stream },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let label = '';
  return {
    start: (t) => (bar = multi.create(t, 0, { label: 'starting', rate: '-', reqs: 0 })),
    extend: (k) => bar?.setTotal(bar.getTotal() + k),
    step: (l) => {
      label = l;
      bar?.update({ label, rate: '-', reqs: 0 });
    },
    tick: (rate, reqs) => bar?.update({ label, rate: rate.toFixed(2), reqs }),
    done: (s) => {
      multi.log(s + '\n');
      bar?.increment(1, { label: s });
    },
    log: (l) => {
      multi.log(l + '\n');
      multi.update(); // MultiBar prints logged lines on its next redraw; force one
    },
    stop: () => multi.stop(),
  };
}
