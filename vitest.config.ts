import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run when it leaves anything of headgate's in /tmp (hg-*, headgate-*).
    globalSetup: ['test/helpers/tmp-check.ts'],
    // The machine has 2 cores: load-generating integration tests must never overlap, so every
    // file runs in one worker, one after another.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
