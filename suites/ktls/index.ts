import { defineSuite, freebsdKtls, httpVariantSession, ktlsTxSession } from '../../harness/engine/suite.js';

/** ktls suite: HTTPS per variant (user-space TLS or kTLS), measured by the load generator or a real browser. */
export default defineSuite({
  async prepare(ctx, variant) {
    const s = await httpVariantSession(ctx, variant);
    return freebsdKtls(ctx, variant) ? ktlsTxSession(ctx, s) : s;
  },
});
