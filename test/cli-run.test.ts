// `sqp-refresh run <schema.table>` end to end against real PostgreSQL, as a user runs it.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { runCli } from './support/cli.ts';

const database = await createTestDatabase();
afterAll(() => database.drop());

function cli(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { DATABASE_URL: database.url, ...env });
}

describe('sqp-refresh run', () => {
  it('refreshes one table from the demo source, shows progress and exits 0', async () => {
    const { code, stdout, stderr } = await cli(['run', 'sqp.search_query_performance']);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/sqp\.search_query_performance: success \(completed\) — 5200 rows read, 5200 inserted, 0 updated, 0 deleted/);
    expect(stderr).toMatch(/100\.0%\s+5,200\/5,200 rows/);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows: [n] } = await client.query(`SELECT (SELECT count(*) FROM sqp.search_query_performance)::int AS target, (SELECT count(*) FROM sqp_demo.search_query_performance)::int AS source`);
    await client.end();
    expect(n.target).toBe(n.source);
  });

  it('exits 1 with the reason when the refresh fails, 1 for an unknown table, 2 for a malformed name', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`UPDATE sqp.refresh_config SET custom_sync_params = '{"source":{"type":"postgres"}}' WHERE table_name = 'daily_sqp_data'`);
    await client.end();
    const failed = await cli(['run', 'sqp.daily_sqp_data']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/source\.query: required/);
    const unknown = await cli(['run', 'sqp.no_such_table']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not registered/);
    const malformed = await cli(['run', 'no-dot']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/expected <schema\.table>/);
  });

  it('prints usage with --help and exits 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/run <schema\.table>/);
  });
});
