import { defineSuite, httpVariantSession, type RepetitionMeasurement } from '../../harness/engine/suite.js';

/**
 * Which path carried a FreeBSD kTLS repetition's records, from its counter deltas (uipc_ktls.c,
 * ktls_ocf.c). ktls_enable_tx prefers TOE, then the NIC (ifnet), then software; only software
 * sessions encrypt through OCF (the ocf.*_encrypts counters). So sessions installed
 * (offload_total) with no OCF encryption mean the NIC or a TOE encrypted them; no session
 * with enable calls means the kernel refused them. Null when there is no kTLS counter (Linux).
 */
export function ktlsPath(c: Record<string, number>): string | null {
  const installed = c['ktls.offload_total'];
  if (installed === undefined) return null;
  const ocf = Object.entries(c).filter(([k, v]) => /^ktls\.ocf\.\w+_encrypts$/.test(k) && v > 0);
  const sw = ocf.map(([k, v]) => `${k.slice('ktls.'.length)} +${v}`).join(', ');
  if (installed > 0 && ocf.length) return `software (OCF: ${sw}; ${installed} sessions)`;
  if (installed > 0) {
    const switched = c['ktls.switch_to_ifnet'] ? `, ${c['ktls.switch_to_ifnet']} switched from software` : '';
    return `NIC (ifnet TLS) or TOE: ${installed} sessions installed, no OCF encryption${switched}`;
  }
  const calls = c['ktls.enable_calls'] ?? 0;
  return calls > 0 ? `none: ${calls} enable calls, 0 sessions installed (the kernel refused them: kern.ipc.mb_use_ext_pgs, cipher or backend)` : 'none: no kTLS enable calls';
}

/** Adds the kTLS path to a repetition's notes (the run record keeps it with the evidence). */
function notePath(m: RepetitionMeasurement): Record<string, number> {
  const p = ktlsPath(m.counters);
  if (p) m.notes.push(`kTLS path: ${p}`);
  return {};
}

/** ktls suite: HTTPS per variant (user-space TLS or kTLS), measured by the load generator or a real browser. */
export default defineSuite({
  prepare: (ctx, variant) => httpVariantSession(ctx, variant, variant.tls?.ktls ? notePath : undefined),
});
