import { defineSuite, diskReadPct, httpVariantSession } from '../../harness/engine/suite.js';

/** sendfile suite: one nginx per variant, closed-model HTTP load (hot or cold cache), every body verified. */
export default defineSuite({
  prepare: (ctx, variant) => httpVariantSession(ctx, variant, diskReadPct),
});
