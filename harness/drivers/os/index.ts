import { infraError } from '../../model/errors.js';
import type { Target } from '../targets/target.js';
import type { OsAdapter } from './adapter.js';
import { FreeBSDAdapter } from './freebsd.js';
import { LinuxAdapter } from './linux.js';

/** Picks the adapter for an OS name as reported by uname -s or Node's os.platform(). */
export function adapterFor(osName: string, target: Target): OsAdapter {
  const n = osName.trim().toLowerCase();
  if (n === 'linux') return new LinuxAdapter(target);
  if (n === 'freebsd') return new FreeBSDAdapter(target);
  throw infraError(`target ${target.name}: unsupported OS "${osName.trim()}" (headgate supports Linux and FreeBSD)`);
}
