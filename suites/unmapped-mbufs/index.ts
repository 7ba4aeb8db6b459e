import { defineSuite, freebsdKtls, httpVariantSession, ktlsTxSession, type RepetitionMeasurement, type SuiteContext } from '../../harness/engine/suite.js';
import type { VariantDef } from '../../harness/model/types.js';

/** The knob this suite switches (kern_mbuf.c: SYSCTL_PROC(_kern_ipc, OID_AUTO, mb_use_ext_pgs, ...)). */
export const EXT_PGS = 'kern.ipc.mb_use_ext_pgs';

/**
 * mbuf zone allocations (vmstat -z REQ delta of the `mbuf` zone) per GB of body served. Informational,
 * not a proof: the zone is machine-wide. Besides sendfile's mbufs (with mb_use_ext_pgs=0 one
 * `m0 = m_get(M_WAITOK, MT_DATA)` per page, kern_sendfile.c vn_sendfile; with 1 one
 * mb_alloc_ext_pgs -> `m = m_get(how, MT_DATA)` per MBUF_PEXT_MAX_PGS pages, kern_mbuf.c) it counts
 * TCP's copy of every segment sent (tcp_output.c tcp_m_copym: `n = m_get(M_NOWAIT, m->m_type)`
 * per referenced mbuf) and one header mbuf per frame received on iflib and cxgbe NICs (iflib.c
 * _iflib_fl_refill: `m = m_gethdr(M_NOWAIT, MT_NOINIT)`; t4_sge.c refill_fl:
 * `sd->m = m_gethdr(M_NOWAIT, MT_NOINIT)`), so the client's ACK rate alone can move it past any
 * per-page threshold on a kernel where M_EXTPG works.
 */
export function mbufRequestsPerGB(m: RepetitionMeasurement): Record<string, number> {
  const req = m.counters['uma.mbuf.req'];
  const gb = ((m.metrics.throughput_gbps ?? 0) * m.durationMs) / 1000 / 8;
  if (req === undefined || gb <= 0) return {};
  return { mbuf_req_per_gb: req / gb };
}

/**
 * Whether a sendfile repetition ran with unmapped mbufs. vn_sendfile (sys/kern/kern_sendfile.c)
 * decides per call: `if ((mb_use_ext_pgs && pr->pr_protocol == IPPROTO_TCP) || tls != NULL) {
 * use_ext_pgs = true; ... max_pgs = MBUF_PEXT_MAX_PGS;`. The load is HTTP over TCP (nginx,
 * `sendfile on`; the manifest requires netstat-m.sendfile-syscalls to grow), so the knob read back
 * during the repetition decides it: `1` means mb_use_ext_pgs was true (kern_mbuf.c
 * sysctl_mb_use_ext_pgs: `if (extpg != 0 && !PMAP_HAS_DMAP) error = EOPNOTSUPP; else
 * mb_use_ext_pgs = extpg != 0;`, so a write of 1 that did not take reads back 0).
 * No counter moves with M_EXTPG alone (no zone of their own since the page array moved into the
 * mbuf, no sfstat field, no netstat -m line; kern_mbuf.c's only counter is kern.ipc.num_snd_tags),
 * so none is part of the proof. Returns the failures (empty: proven).
 */
export function extPgsProof(o: { readBack: string }): string[] {
  const v = o.readBack.trim();
  return v === '1' ? [] : [`${EXT_PGS} read back as "${v}" during the repetition, not 1: vn_sendfile used one sf_buf mbuf per page on this TCP connection (no M_EXTPG)`];
}

/**
 * The note on how far M_EXTPG mbufs went, per load source: with MEXTPG on the egress interface
 * they reach the driver; with it off ip_output/ip6_output map each page again
 * (mb_unmapped_to_ext: per page `m_new = m_get(M_NOWAIT, MT_DATA)` and `sf_buf_alloc`) before the
 * driver. That is the NIC's capability, not the kernel under test failing: sendfile and the socket
 * buffer still carry M_EXTPG mbufs, so it is a note (M_EXTPG not engaged end to end), never a
 * proof failure.
 */
export function egressNote(checks: { why: string; ok: boolean; reason?: string }[]): string {
  const parts = checks.map((c) => `${c.why}; ${c.reason ?? 'egress interface not checked'}`).join(' | ');
  return checks.length && checks.every((c) => c.ok)
    ? `M_EXTPG engaged end to end, sendfile to the driver: ${parts}`
    : `M_EXTPG not shown end to end (a note, not a proof failure: sendfile and the socket buffer carry unmapped mbufs whatever the NIC, and ip_output maps them again before a driver without MEXTPG): ${parts}`;
}

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
    let egress: string | undefined;
    return {
      warmup: () => s.warmup(),
      async repetition(i) {
        const m = await s.repetition(i);
        if (wanted(variant) === '0') return m;
        const failures = extPgsProof({ readBack: await ctx.getKnob(EXT_PGS) });
        // The interface toward each load source: from --client, or the ssh peer only when the load takes the ssh session's path.
        if (egress === undefined) {
          const checks: { why: string; ok: boolean; reason?: string }[] = [];
          for (const p of ctx.loadPeers(host ?? '')) {
            if (p.via === 'unknown') {
              checks.push({ why: p.why, ok: false });
              continue;
            }
            const c = await ctx.capability(`egress-mextpg:${p.via === 'ssh-peer' ? 'ssh-peer' : p.address}`);
            checks.push({ why: p.why, ok: c.ok, reason: c.reason });
          }
          egress = egressNote(checks);
        }
        m.notes.push(egress);
        if (failures.length) m.proofFailures = [...(m.proofFailures ?? []), ...failures];
        return m;
      },
    };
  },
});
