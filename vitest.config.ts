import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships CJS (index.js) and ESM (index.mjs); Node loads the CJS one for Pothos
  // and yoga, so our code must get the same instance or schemas come from two realms.
  resolve: { alias: { graphql: 'graphql/index.js' } },
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
