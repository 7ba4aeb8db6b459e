import { openTarget } from '../drivers/targets/index.js';
import { discoverSuites } from '../engine/discovery.js';
import { variantApplies } from '../engine/plan.js';

/**
 * `suites`: every suite with its variants and metrics, and whether each variant can run on the
 * target (with the reason when it cannot), probed on the open target.
 */
export async function suitesOnTarget(targetSpec: string, inventory: string | undefined) {
  const target = await openTarget(targetSpec, inventory);
  try {
    const os = await target.os();
    const suites = [];
    for (const { manifest: m } of await discoverSuites()) {
      const variants = [];
      for (const v of m.variants) {
        const c = await variantApplies(m, v, os, target);
        variants.push({
          id: v.id,
          description: v.description,
          default: v.default !== false,
          runnable: c.ok,
          reason: c.reason,
        });
      }
      suites.push({ id: m.id, title: m.title, feature: m.feature, variants, metrics: m.metrics });
    }
    return { os: os.family, suites };
  } finally {
    await target.close();
  }
}
