import { inputError } from '../model/errors.js';

/** One shard of the work: index (1-based) of count. */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `--shard i/n` (1 <= i <= n). */
export function parseShard(spec: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw inputError(`--shard ${spec}: expected i/n with 1 <= i <= n, e.g. 2/3`);
  return { index, count };
}

/**
 * The suites each target runs in one shard. The work units are target x suite pairs in a fixed
 * order (targets as given, suites as selected); unit k belongs to shard (k mod n) + 1, so every
 * agent computes the same split from the same command line, and the shards together cover each
 * unit exactly once.
 */
export function shardWork(targets: string[], suites: string[], shard: Shard): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let k = 0;
  for (const t of targets) {
    for (const s of suites) {
      if (k % shard.count === shard.index - 1) out.set(t, [...(out.get(t) ?? []), s]);
      k++;
    }
  }
  return out;
}
