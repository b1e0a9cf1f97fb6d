import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on our machines: more forks only fight over PostgreSQL and the CPU.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
