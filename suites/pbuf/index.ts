import { defineSuite, diskReadPct, httpVariantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/** Sleeps waiting for memory: FreeBSD pbuf zones' SLEEP column, Linux direct-reclaim stalls. */
function allocSleeps(c: Record<string, number>): number | undefined {
  const keys = Object.keys(c).filter((k) => /^uma\..*pbuf\.sleep$/.test(k) || /^vmstat\.allocstall_/.test(k));
  return keys.length ? keys.reduce((a, k) => a + c[k], 0) : undefined;
}

/**
 * Disk read rate: sectors read on every disk but loop devices (Linux), or the devstat bytes read
 * on the disks under the objects filesystem (FreeBSD, `devstat.cold.bytes_read`). Pages sendfile
 * read are not used: they count reads an md(4) device or a cache served from RAM too (W1).
 */
function diskReadMBps(m: RepetitionMeasurement): number | undefined {
  const c = m.counters;
  const sectors = Object.keys(c).filter((k) => /^disk\.(?!loop).*\.sectors_read$/.test(k));
  const bytes = sectors.length ? sectors.reduce((a, k) => a + c[k] * 512, 0) : c['devstat.cold.bytes_read'];
  return bytes === undefined ? undefined : bytes / (m.durationMs / 1000) / 1e6;
}

/** pbuf suite: the sendfile suite's HTTP session at 64 connections with a cold cache, plus allocation and disk metrics. */
export default defineSuite({
  prepare: (ctx, variant) =>
    httpVariantSession(ctx, variant, (m) => {
      const out: Record<string, number> = { ...diskReadPct(m) };
      const sleeps = allocSleeps(m.counters);
      const mbps = diskReadMBps(m);
      if (sleeps !== undefined) out.alloc_sleeps = sleeps;
      if (mbps !== undefined) out.disk_read_mbps = mbps;
      return out;
    }),
});
