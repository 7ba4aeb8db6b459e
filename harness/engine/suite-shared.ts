import type { VariantDef } from '../model/types.js';
import type { RepetitionMeasurement, SuiteContext, VariantSession } from './suite.js';

// What more than one suite measures or proves the same way, behind the suite API (suite.ts
// re-exports it): a suite imports only harness/engine/suite and harness/model/types, never a
// sibling suite, so the sendfile/pbuf disk-read share and the kTLS transmit proof (ktls,
// unmapped-mbufs) live here once.

/**
 * Share of the bytes served that the kernel had to read from disk in the repetition: Linux
 * pgpgin (KiB); FreeBSD the devstat bytes read on the disks under the objects filesystem
 * (`devstat.cold.bytes_read`, cold variants only). Pages sendfile read (netstat -m) are not a
 * disk figure on FreeBSD: an md(4) or cached backing file serves them from RAM (W1).
 */
export function diskReadPct(m: RepetitionMeasurement): Record<string, number> {
  const c = m.counters;
  const readBytes = c['vmstat.pgpgin'] !== undefined ? c['vmstat.pgpgin'] * 1024 : c['devstat.cold.bytes_read'];
  const sentBytes = ((m.metrics.throughput_gbps ?? 0) * 1e9 * m.durationMs) / 1000 / 8;
  return readBytes === undefined || sentBytes <= 0 ? {} : { disk_read_pct: (100 * readBytes) / sentBytes };
}

/**
 * Counters only TLS transmit encryption in OCF moves (sys/opencrypto/ktls_ocf.c: the
 * ktls_ocf_*_encrypt functions; decryption has its own *_decrypts). 13.x kernels named them
 * *_crypts; the adapter reports tls10/tls11/tls13 *_crypts under these names (no receive path
 * used them there), but not tls12_*_crypts, which ktls_ocf_tls12_aead_decrypt also bumped.
 */
const OCF_ENCRYPTS = /^ktls\.ocf\.\w+_encrypts$/;
/** TLS 1.2 *_crypts of 13.x kernels: encryptions plus TLS 1.2 receive decryptions. */
const OCF_TLS12_CRYPTS = /^ktls\.ocf\.tls12_\w+_crypts$/;
/**
 * NIC and TOE session gauges (uipc_ktls.c ktls_try_ifnet / ktls_try_toe: "Active number of
 * ifnet|TOE TLS sessions using ..."): up only while such sessions exist. Head's ktls_try_ifnet
 * also counts receive tags here, which need IFCAP2_RXTLS4/6 (a NIC that also does TX TLS).
 */
const NIC_GAUGES = /^ktls\.(ifnet|toe)\.(cbc|gcm|chacha20)$/;

/** The sysctls behind NIC_GAUGES, sampled while the load runs (the closing snapshot may come after the sessions closed). */
export const NIC_GAUGE_SYSCTLS = ['ifnet', 'toe'].flatMap((n) =>
  ['cbc', 'gcm', 'chacha20'].map((c) => `kern.ipc.tls.${n}.${c}`),
);

/** Evidence of kTLS transmit, by path, from a repetition's counter deltas (and NIC gauges sampled mid-load). */
function txEvidence(c: Record<string, number>, requests?: number, midLoadNic = 0) {
  const moved = (re: RegExp) => Object.entries(c).filter(([k, v]) => re.test(k) && v > 0);
  const sw = moved(OCF_ENCRYPTS);
  // A server receives about one record per request; more TLS 1.2 crypts than twice that are encryptions.
  const tls12 = moved(OCF_TLS12_CRYPTS).filter(([, v]) => requests !== undefined && v > 2 * requests);
  const nic = moved(NIC_GAUGES);
  return { sw: [...sw, ...tls12], nic, midLoadNic };
}

const list = (e: [string, number][]) => e.map(([k, v]) => `${k.slice('ktls.'.length)} +${v}`).join(', ');

/**
 * Why a FreeBSD kTLS repetition does not prove transmit offload (empty: proven). offload_total
 * alone does not: head's ktls_enable_rx counts receive sessions in it too (uipc_ktls.c). Proof is
 * software encryption (an OCF *_encrypts counter moved) or a NIC/TOE session (ifnet.* or toe.*
 * gauge up across the repetition or while the load ran). Null counters (Linux): not applicable.
 */
export function ktlsTxProof(c: Record<string, number>, requests?: number, midLoadNic = 0): string[] {
  if (c['ktls.offload_total'] === undefined) return [];
  const e = txEvidence(c, requests, midLoadNic);
  if (e.sw.length || e.nic.length || e.midLoadNic > 0) return [];
  return [
    `no kTLS transmit session proven: offload_total +${c['ktls.offload_total']} but no OCF *_encrypts counter moved (software path) and no kern.ipc.tls.ifnet/toe session was active (NIC path); ktls_enable_rx also counts receive-only sessions in offload_total`,
  ];
}

/**
 * Which path carried a FreeBSD kTLS repetition's records, from its counter deltas (uipc_ktls.c,
 * ktls_ocf.c): software when OCF encrypted, NIC (ifnet) or TOE when their session gauges rose.
 * Null when there is no kTLS counter (Linux).
 */
export function ktlsPath(c: Record<string, number>, requests?: number, midLoadNic = 0): string | null {
  const installed = c['ktls.offload_total'];
  if (installed === undefined) return null;
  const e = txEvidence(c, requests, midLoadNic);
  if (e.sw.length) return `software (OCF: ${list(e.sw)}; ${installed} sessions)`;
  if (e.nic.length || e.midLoadNic > 0) {
    const switched = c['ktls.switch_to_ifnet'] ? `, ${c['ktls.switch_to_ifnet']} switched from software` : '';
    const seen = e.nic.length ? list(e.nic) : `${e.midLoadNic} ifnet/TOE sessions active mid-load`;
    return `NIC (ifnet TLS) or TOE: ${seen}; ${installed} sessions installed${switched}`;
  }
  if (installed > 0)
    return `none proven: ${installed} sessions installed, but no OCF encryption and no ifnet/TOE session (receive-only sessions count in offload_total too)`;
  const calls = c['ktls.enable_calls'] ?? 0;
  return calls > 0
    ? `none: ${calls} enable calls, 0 sessions installed (the kernel refused them: kern.ipc.mb_use_ext_pgs, cipher or backend)`
    : 'none: no kTLS enable calls';
}

/** Requests a repetition served (TLS 1.2 receive decryptions are at most about one per request). */
const requestsOf = (m: RepetitionMeasurement) =>
  m.metrics.requests_per_sec !== undefined ? (m.metrics.requests_per_sec * m.durationMs) / 1000 : undefined;

/** Sum of the NIC/TOE session gauges now (absent sysctls, e.g. toe.* without TCP_OFFLOAD, count 0). */
async function nicGauges(ctx: SuiteContext): Promise<number> {
  let sum = 0;
  for (const name of NIC_GAUGE_SYSCTLS) {
    const v = Number(await ctx.getKnob(name).catch(() => '0'));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/**
 * A FreeBSD kTLS variant's session with the transmit proof: each repetition's notes name the
 * path, and a repetition without transmit evidence gets a proof failure. The NIC gauges are
 * read before and halfway through the repetition, while the sessions are open.
 */
export function ktlsTxSession(ctx: SuiteContext, s: VariantSession): VariantSession {
  return {
    warmup: () => s.warmup(),
    async repetition(i) {
      const before = await nicGauges(ctx);
      let mid: number | undefined;
      let sampling: Promise<void> | undefined;
      const timer = setTimeout(
        () => {
          sampling = nicGauges(ctx).then(
            (v) => void (mid = v),
            () => {},
          );
        },
        (ctx.options.durationSec * 1000) / 2,
      );
      let m: RepetitionMeasurement;
      try {
        m = await s.repetition(i);
      } finally {
        clearTimeout(timer); // a repetition shorter than half its duration (an error) takes no sample
      }
      await sampling;
      const midLoadNic = mid !== undefined ? Math.max(0, mid - before) : 0;
      const p = ktlsPath(m.counters, requestsOf(m), midLoadNic);
      if (p) m.notes.push(`kTLS path: ${p}`);
      const failures = ktlsTxProof(m.counters, requestsOf(m), midLoadNic);
      if (failures.length) m.proofFailures = [...(m.proofFailures ?? []), ...failures];
      return m;
    },
  };
}

/** Whether a variant asks for kTLS on a FreeBSD target (where the transmit proof applies). */
export const freebsdKtls = (ctx: SuiteContext, v: VariantDef) =>
  ctx.fingerprint.os === 'freebsd' && v.tls?.ktls === true;
