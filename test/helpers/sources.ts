import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Every .ts file under dir, recursively (the source checks read harness/ with it). */
export function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
