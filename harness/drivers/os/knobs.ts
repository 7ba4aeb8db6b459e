import { infraError } from '../../model/errors.js';

/**
 * Whether a knob reads back as written: the same words (whitespace aside), the same set of words
 * (tcp_allowed_congestion_control lists in registration order), or, for a /sys selector such as
 * queue/scheduler ("none [mq-deadline] kyber"), the bracketed choice.
 */
export function knobHolds(read: string, written: string): boolean {
  const norm = (x: string) => x.trim().split(/\s+/).filter(Boolean);
  const r = norm(read);
  const w = norm(written);
  if (r.join(' ') === w.join(' ')) return true;
  if (r.length === w.length && [...w].sort().join(' ') === [...r].sort().join(' ')) return true;
  const chosen = /\[([^\]]+)\]/.exec(read)?.[1];
  return chosen !== undefined && w.length === 1 && chosen === w[0];
}

/**
 * Exit 3 unless a knob reads back as written: a write the kernel accepted but did not apply (a
 * value clamped, a scheduler or algorithm silently ignored) would measure the old setting under
 * the new name.
 */
export function checkKnobTook(name: string, value: string, now: string): void {
  if (!knobHolds(now, value)) throw infraError(`${name}=${value} did not take: it reads ${JSON.stringify(now.trim())} after the write (the kernel refused, clamped or rewrote it)`);
}
