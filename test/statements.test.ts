// How many statements a runner pass sends for a one-page refresh before its first COPY: the
// config read once, no repeated checkpoint expiry. Counted on the pool (as Pothos' tests count
// queries), so a change that adds round trips to the hot path shows here.
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../src/db.ts';
import { createTestDatabase } from './support/db.ts';
import { buildTestRunner, registerTestTable } from './support/refresh.ts';

const database = await createTestDatabase();
const statements: string[] = [];
const db = openDatabase(database.url, { max: 4, onStatement: (s) => statements.push(s.replace(/\s+/g, ' ').trim()) });
afterAll(async () => {
  await db.close();
  await database.drop();
});

it('a one-page refresh sends a bounded number of statements before its first COPY', async () => {
  await db.pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await db.pool.query(`CREATE TABLE sqp.one_page (id int PRIMARY KEY, v int)`);
  await registerTestTable(db.pool, {
    tableName: 'one_page', isEnabled: true, nextRefreshAt: '-1 minute',
    customSyncParams: { source: { type: 'postgres', query: 'SELECT g AS id, g AS v FROM generate_series(1, 50) g' }, pageSize: 100 },
  });
  const runner = buildTestRunner(db.pool, database.url, { workerName: 'count' });
  statements.length = 0;
  await runner.tick();
  const first = statements.findIndex((s) => s.startsWith('COPY'));
  expect(first).toBeGreaterThan(0);
  const before = statements.slice(0, first);
  console.log(`statements before the first COPY of a one-page refresh (runner pass): ${before.length}\n${before.map((s) => `  ${s.slice(0, 120)}`).join('\n')}`);
  expect(before.filter((s) => s.includes('sqp.expire_checkpoints()')).length).toBeLessThanOrEqual(1);
  expect(before.length).toBeLessThanOrEqual(21);
  await runner.stop();
});
