import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup-env.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2 cores: more workers than that only adds contention on the one PostgreSQL.
    maxWorkers: 2,
    pool: 'forks',
  },
});
