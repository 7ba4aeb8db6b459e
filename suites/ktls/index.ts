import { defineSuite, httpVariantSession } from '../../harness/engine/suite.js';

/** ktls suite: HTTPS per variant (user-space TLS or kTLS), measured by the load generator or a real browser. */
export default defineSuite({
  prepare: (ctx, variant) => httpVariantSession(ctx, variant),
});
