import { inputError } from '../core/errors.js';
import { LocalTarget } from './local.js';
import type { Target } from './target.js';

/** Target kinds this build can open; the lab kinds (ssh, netns, vagrant, qemu) come with the lab-targets work. */
export const TARGET_KINDS = ['local'] as const;

/** Opens a target by name ("local" is the default). Unknown names are input errors (exit 2). */
export async function openTarget(spec: string): Promise<Target> {
  if (spec === 'local') return new LocalTarget();
  throw inputError(`--target ${spec}: unknown target (this build supports: ${TARGET_KINDS.join(', ')})`);
}
