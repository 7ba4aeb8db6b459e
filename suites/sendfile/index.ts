import { defineSuite } from '../../harness/core/suite.js';

/** sendfile suite: one nginx per variant, closed-model HTTP load, every body verified. */
export default defineSuite({
  async prepare(ctx, variant) {
    const server = await ctx.startHttpServer(variant);
    const measure = (durationSec: number, label: string) => ctx.measureHttp(server, { durationSec, label, objects: variant.objects });
    return {
      async warmup() {
        if (ctx.options.warmupSec > 0) await measure(ctx.options.warmupSec, `${variant.id} warm-up`);
      },
      repetition: (i) => measure(ctx.options.durationSec, `${variant.id} #${i + 1}`),
    };
  },
});
