import { inputError } from '../model/errors.js';

/** One shard of the work: index (1-based) of count. */
export interface Shard {
  index: number;
  count: number;
  /** The shards that gate part of this shard's target (recorded in run.json for merge). */
  targetShards?: number[];
  /** Every target of the sharded gate (recorded in run.json: merge then knows a target none of its runs covers). */
  targets?: string[];
}

/** Parses `--shard i/n` (1 <= i <= n). */
export function parseShard(spec: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw inputError(`--shard ${spec}: expected i/n with 1 <= i <= n, e.g. 2/3`);
  return { index, count };
}

/** Which shards (1-based) gate each target: one when targets are dealt whole, several when a target is split. */
export type TargetShards = Map<string, number[]>;

/** Every shard's suites per target: entry i-1 is shard i's map target -> suites. */
function dealAll(targets: string[], suites: string[], count: number): Map<string, string[]>[] {
  const out = Array.from({ length: count }, () => new Map<string, string[]>());
  if (targets.length >= count) {
    // At least one target per shard: whole targets are dealt round-robin, so each agent owns
    // disjoint hosts and no two agents ever gate (or deploy to, or reboot) the same box.
    targets.forEach((t, k) => out[k % count].set(t, [...suites]));
    return out;
  }
  // Fewer targets than shards: target x suite units round-robin. A target then serves several
  // shards; they take its lock one after the other (the gate waits: app/gate.ts SHARED_TARGET_WAIT_SEC).
  let k = 0;
  for (const t of targets) {
    for (const s of suites) {
      const m = out[k % count];
      m.set(t, [...(m.get(t) ?? []), s]);
      k++;
    }
  }
  return out;
}

/**
 * The suites each target runs in one shard. Every agent computes the same split from the same
 * command line and the shards together cover each target x suite unit exactly once: whole
 * targets per shard when there are at least as many targets as shards, else the units dealt
 * round-robin.
 */
export function shardWork(targets: string[], suites: string[], shard: Shard): Map<string, string[]> {
  return dealAll(targets, suites, shard.count)[shard.index - 1];
}

/** For each target, the shards that gate part of it (what `merge` must find for that target). */
export function targetShards(targets: string[], suites: string[], count: number): TargetShards {
  const all = dealAll(targets, suites, count);
  return new Map(targets.map((t) => [t, all.flatMap((m, i) => (m.has(t) ? [i + 1] : []))]));
}
