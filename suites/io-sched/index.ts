import path from 'node:path';
import { defineSuite, variantSession } from '../../harness/engine/suite.js';

/** Size of the default scratch loop device: large enough that reads miss the device's own caches. */
const SCRATCH_MIB = 1024;
const reader = { rw: 'randread' as const, bs: '4k', iodepth: 16 };
const writer = { rw: 'write' as const, bs: '1M', iodepth: 8 };

/** FreeBSD CAM device "ada0" -> its iosched sysctl prefix "kern.cam.ada.0.iosched". */
export function camIoschedPrefix(device: string): string {
  const m = /^(?:\/dev\/)?([a-z]+)(\d+)$/.exec(device);
  if (!m) throw new Error(`${device}: not a CAM disk name such as ada0 or da1`);
  return `kern.cam.${m[1]}.${m[2]}.iosched`;
}

/** io-sched suite: sets the variant's scheduler (restored after each repetition), then fio reader vs writer. */
export default defineSuite({
  // FreeBSD's scheduler lives in CAM; the scratch device would be md(4), which is GEOM, not CAM.
  async probe(ctx) {
    if (ctx.fingerprint.os === 'freebsd' && !ctx.options.blockDevice) {
      return { ok: false, reason: 'CAM I/O scheduler variants need a CAM disk named with --block-device (ada/da/nda): the scratch device would be md(4), which is not a CAM device, so no iosched sysctls' };
    }
    return { ok: true };
  },
  async prepare(ctx, variant) {
    const device = await ctx.blockDevice(SCRATCH_MIB);
    const apply = async () => {
      if (ctx.fingerprint.os === 'linux') {
        await ctx.setKnob(`/sys/block/${path.basename(device)}/queue/scheduler`, String(variant.params?.scheduler ?? 'none'));
      } else {
        const prefix = camIoschedPrefix(path.basename(device));
        for (const [k, v] of Object.entries(variant.params ?? {})) await ctx.setKnob(`${prefix}.${k}`, String(v));
      }
    };
    const measure = async (durationSec: number, label: string) => {
      await apply();
      return ctx.measureBlockIo({ device, durationSec, reader, writer, label });
    };
    return variantSession(ctx, variant, measure);
  },
});
