import type { Target } from './target.js';

/** SMBIOS system UUIDs that firmware ships unset or as a template: they identify nothing. */
const PLACEHOLDER = /^(0{8}-0{4}-0{4}-0{4}-0{12}|f{8}-f{4}-f{4}-f{4}-f{12}|03000200-0400-0500-0006-000700080009)$/i;

/**
 * The machine's DMI/SMBIOS system UUID, which no kernel under test chooses: Linux
 * /sys/class/dmi/id/product_uuid (root-readable), FreeBSD `kenv -q smbios.system.uuid` (set by
 * the loader from SMBIOS). Lower-case; undefined where unreadable, absent or a placeholder.
 */
export async function readHardwareId(t: Target): Promise<string | undefined> {
  const os = await t.os();
  const raw =
    os.family === 'freebsd'
      ? (await t.exec(['kenv', '-q', 'smbios.system.uuid'], { allowFail: true })).stdout
      : ((await t.readFileIfExists('/sys/class/dmi/id/product_uuid').catch(() => null)) ?? '');
  const id = raw.trim().toLowerCase();
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) && !PLACEHOLDER.test(id) ? id : undefined;
}
