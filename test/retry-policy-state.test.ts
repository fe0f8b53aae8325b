// Whether a failed table is RETRYING or FAILED depends on the runners' retry policy
// (RUNNER_RETRY_MAX_ATTEMPTS): the graph judges it by the policy the service runs with, not
// by the default. One retryable failure: retrying under the default (3 attempts), failed when
// the service allows one attempt.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { finishAuditRow, startAuditRow } from '../src/runner/engine/audit-log.ts';
import { DEFAULT_RETRY } from '../src/runner/state/planner.ts';
import { startTestApp } from './support/app.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { execute } from './support/graphql.ts';
import { registerTestTable } from './support/refresh.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url);

const RetryHealth = graphql(`
  query RetryPolicyHealth {
    tableHealth { table state }
  }
`);

beforeAll(async () => {
  await pool.query(`CREATE TABLE sqp.rp_table (id int PRIMARY KEY)`);
  const configId = await registerTestTable(pool, {
    tableName: 'rp_table', nextRefreshAt: '1 hour',
    customSyncParams: { source: { type: 'postgres', query: 'SELECT 1 AS id' }, keyColumns: ['id'] },
  });
  // The audit row of one run that failed on a lost connection (a retry may help), as the engine writes it.
  const client = await pool.connect();
  try {
    const now = new Date();
    const runId = await startAuditRow(client, { configId, schema: 'sqp', table: 'rp_table', startedAt: now, metadata: {} });
    await finishAuditRow(client, runId, {
      status: 'failed', completedAt: now, rowsProcessed: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, executionTimeMs: 5,
      memoryUsedMb: 0, bigqueryJobId: null, errorMessage: 'connection lost', errorDetails: { reason: 'connectionLost', retryable: true }, metadata: { outcome: 'failed' },
    });
  } finally {
    client.release();
  }
});

afterAll(async () => {
  await pool.end();
  await database.drop();
});

const stateWith = async (retry?: typeof DEFAULT_RETRY) => {
  const app = await startTestApp(database.url, {}, retry ? { retry } : {});
  try {
    const { data, errors } = await execute(app.url, RetryHealth, {});
    expect(errors).toBeUndefined();
    return data!.tableHealth.find((h) => h.table === 'sqp.rp_table')!.state;
  } finally {
    await app.stop();
  }
};

it('judges a retryable failure by the retry policy the service runs with', async () => {
  expect(await stateWith()).toBe('RETRYING');
  expect(await stateWith({ ...DEFAULT_RETRY, maxAttempts: 1 })).toBe('FAILED');
});
