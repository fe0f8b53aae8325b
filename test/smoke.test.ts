import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';

const database = await createTestDatabase();
afterAll(() => database.drop());

it('clones a migrated database', async () => {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const { rows } = await client.query('SELECT count(*)::int AS n FROM sqp.refresh_config');
  await client.end();
  expect(rows[0].n).toBe(8);
});
