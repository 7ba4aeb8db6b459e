import { defineSuite, freebsdKtls, httpVariantSession, ktlsTxSession, type RepetitionMeasurement, type SuiteContext } from '../../harness/engine/suite.js';
import type { VariantDef } from '../../harness/model/types.js';

/** The knob this suite switches (kern_mbuf.c: SYSCTL_PROC(_kern_ipc, OID_AUTO, mb_use_ext_pgs, ...)). */
export const EXT_PGS = 'kern.ipc.mb_use_ext_pgs';

/**
 * mbuf zone allocations per 4 KiB page of body when every page has its own mbuf: with
 * mb_use_ext_pgs=0 vn_sendfile (kern_sendfile.c) does `m0 = m_get(M_WAITOK, MT_DATA)` per page
 * (EXT_SFBUF), so fewer than one `mbuf` zone request per page sent is impossible without M_EXTPG.
 */
export const PAGES_PER_GB = 1e9 / 4096;

/**
 * "Clearly lower" between the variants: with M_EXTPG one mbuf carries up to MBUF_PEXT_MAX_PGS
 * pages (sys/sys/mbuf.h: 40 / sizeof(vm_paddr_t) = 5 on 64-bit), so sendfile's own mbuf
 * allocations drop about 5x; requiring half leaves room for TCP's and the headers' mbufs.
 */
export const EXT_PGS_MAX_RATIO = 0.5;

/** mbuf zone allocations (vmstat -z REQ delta of the `mbuf` zone, which M_EXTPG mbufs come from) per GB of body served. */
export function mbufRequestsPerGB(m: RepetitionMeasurement): Record<string, number> {
  const req = m.counters['uma.mbuf.req'];
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  if (req === undefined || gb <= 0) return {};
  return { mbuf_req_per_gb: req / gb };
}

/**
 * Whether a sendfile repetition ran with unmapped mbufs, from what the source allows:
 * - the knob read back during the repetition is 1 (writing 1 fails with EOPNOTSUPP where the
 *   platform has no direct map, and a restore could have raced it);
 * - mbuf zone requests per GB are below one per page sent (impossible with one mbuf per page),
 *   or, when sendfile-ext-pgs-0 ran in the same round, at most EXT_PGS_MAX_RATIO of its figure;
 *   only when the egress interface has MEXTPG on (egressMextpg not false).
 * Returns the failures (empty: proven).
 */
export function extPgsProof(o: { readBack: string; reqPerGB?: number; offReqPerGB?: number; egressMextpg?: boolean }): string[] {
  if (o.readBack !== '1') return [`${EXT_PGS} read back as "${o.readBack}" during the repetition, not 1: sendfile used one sf_buf mbuf per page`];
  // Without MEXTPG on the egress interface ip_output maps the data again (mb_unmapped_to_ext): no ratio to expect.
  if (o.egressMextpg === false) return [];
  if (o.reqPerGB === undefined) return ['mbuf zone requests per GB not readable (vmstat -z mbuf REQ or throughput missing)'];
  const per = o.reqPerGB.toFixed(0);
  if (o.offReqPerGB !== undefined) {
    return o.reqPerGB <= o.offReqPerGB * EXT_PGS_MAX_RATIO
      ? []
      : [`mbuf zone requests per GB ${per} not clearly below sendfile-ext-pgs-0's ${o.offReqPerGB.toFixed(0)} (at most ${EXT_PGS_MAX_RATIO}x expected with M_EXTPG)`];
  }
  return o.reqPerGB < PAGES_PER_GB ? [] : [`mbuf zone requests per GB ${per} not below one per page sent (${PAGES_PER_GB.toFixed(0)}): no sign of M_EXTPG mbufs`];
}

/** The latest mbuf_req_per_gb of the ext_pgs=0 sendfile variant, per suite run (variants interleave A B A B in one context). */
const offFigures = new WeakMap<SuiteContext, number>();

/** The knob value a variant asks for on FreeBSD, if any. */
const wanted = (v: VariantDef) => v.knobs?.freebsd?.[EXT_PGS];

/** unmapped-mbufs suite: the sendfile HTTP session with mb_use_ext_pgs set per variant (FreeBSD), plus the M_EXTPG proof. */
export default defineSuite({
  async prepare(ctx, variant) {
    // The server's address: toward it goes the client's traffic when the client runs on the target itself.
    let host: string | undefined;
    const startHttpServer: SuiteContext['startHttpServer'] = async (...a) => {
      const server = await ctx.startHttpServer(...a);
      host = server.host;
      return server;
    };
    // Everything else goes to ctx itself (bound: its methods keep their own state).
    const seen = new Proxy(ctx, {
      get: (t, k) => (k === 'startHttpServer' ? startHttpServer : typeof Reflect.get(t, k) === 'function' ? (Reflect.get(t, k) as (...x: unknown[]) => unknown).bind(t) : Reflect.get(t, k)),
    });
    const s = await httpVariantSession(seen, variant, mbufRequestsPerGB);
    // kTLS over M_EXTPG: a transmit session proves it (ktls_enable_tx returns ENXIO when mb_use_ext_pgs is 0).
    if (freebsdKtls(ctx, variant)) return ktlsTxSession(ctx, s);
    if (variant.tls || ctx.fingerprint.os !== 'freebsd' || wanted(variant) === undefined) return s;
    let egress: Awaited<ReturnType<SuiteContext['capability']>> | undefined;
    return {
      warmup: () => s.warmup(),
      async repetition(i) {
        const m = await s.repetition(i);
        egress ??= await ctx.capability(`egress-mextpg:${host ?? ''}`);
        const reqPerGB = m.metrics.mbuf_req_per_gb;
        if (wanted(variant) === '0') {
          if (reqPerGB !== undefined && egress.ok) offFigures.set(ctx, reqPerGB);
          return m;
        }
        const failures = extPgsProof({ readBack: await ctx.getKnob(EXT_PGS), reqPerGB, offReqPerGB: offFigures.get(ctx), egressMextpg: egress.ok });
        if (!egress.ok) m.notes.push(`mbuf requests per GB not checked for M_EXTPG: ${egress.reason ?? 'egress interface without MEXTPG'} (proof: ${EXT_PGS} read back and sendfile syscalls)`);
        if (failures.length) m.proofFailures = [...(m.proofFailures ?? []), ...failures];
        return m;
      },
    };
  },
});
