// The staging table is UNLOGGED (no WAL for rows that are written once and published once).
// That is safe only because a resume checks the staged rows against its checkpoint: a
// PostgreSQL crash resets unlogged tables to empty. This test crashes a PostgreSQL server of
// its own (SIGKILL of the postmaster: an immediate stop, then crash recovery) in the middle of
// a load, and asserts the next run notices, loads again and publishes nothing short.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/embedded-postgres.ts';
import { migrate } from '../src/migrate.ts';
import { refreshTable } from '../src/runner/engine/refresh-table.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import { freePort } from './support/global-setup.ts';
import { loadConfig, registerTestTable, tableChecksum } from './support/refresh.ts';
import { openTestPool } from './support/db.ts';

const dir = path.join(os.tmpdir(), `sqp-refresh-crash-${randomBytes(4).toString('hex')}`);
const port = await freePort();
let server: EmbeddedDatabase | null = null;

afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

it('a PostgreSQL crash mid-load empties the unlogged staging table; the resume sees it, loads again and ends equal', async () => {
  server = await startEmbeddedPostgres({ dir, port, persistent: true });
  await migrate(server.url);
  let pool = openTestPool(server.url, 3);
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE SCHEMA src; CREATE TABLE src.crash (id int PRIMARY KEY, v int); INSERT INTO src.crash SELECT g, g * 3 FROM generate_series(1, 5000) g`);
  // A server of its own (not the tests' template): the source role its superuser's queries run as.
  await pool.query(`CREATE ROLE sqp_refresh_source NOLOGIN; GRANT USAGE ON SCHEMA src TO sqp_refresh_source; GRANT SELECT ON src.crash TO sqp_refresh_source`);
  await pool.query(`CREATE TABLE sqp.crash (id int PRIMARY KEY, v int)`);
  await registerTestTable(pool, { tableName: 'crash', isEnabled: true, customSyncParams: { source: { type: 'postgres', query: 'SELECT id, v FROM src.crash' }, pageSize: 500 } });
  const sources = () => (createSources({ targetUrl: server!.url }));

  // A load paused after 3 pages (a shutdown): 1,500 rows staged, the checkpoint says so.
  const shutdown = new AbortController();
  const paused = await refreshTable(await loadConfig(pool, 'crash'), {
    pool, sources: sources(), shutdownSignal: shutdown.signal,
    emit: (e) => { if (e.type === 'run:progress' && e.page === 3) shutdown.abort(); },
  });
  expect(paused).toMatchObject({ outcome: 'paused', rowsProcessed: 1500 });
  const { rows: [c] } = await pool.query(`SELECT id FROM sqp.refresh_config WHERE table_name = 'crash'`);
  expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.stage_${c.id}`)).rows[0].n).toBe(1500);

  // Crash: SIGKILL the postmaster (no shutdown checkpoint), then start it again (crash recovery).
  await pool.end();
  const postmaster = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(postmaster, 'SIGKILL');
  await new Promise<void>((resolve) => {
    const gone = () => { try { process.kill(postmaster, 0); setTimeout(gone, 50); } catch { resolve(); } };
    gone();
  });
  server = await startEmbeddedPostgres({ dir, port, persistent: true });
  pool = openTestPool(server.url, 3);
  try {
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.stage_${c.id}`)).rows[0].n).toBe(0); // unlogged: reset
    const resumed = await refreshTable(await loadConfig(pool, 'crash'), { pool, sources: sources() });
    expect(resumed).toMatchObject({ status: 'success', outcome: 'completed', resumed: false, rowsProcessed: 5000, rowsInserted: 5000 });
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [resumed.runId]);
    expect(audit.sync_metadata.restartedLoad).toEqual({ reason: 'stagedRows', staged: 0, checkpointRows: 1500 });
    expect(await tableChecksum(pool, 'sqp.crash', ['id', 'v'])).toEqual(await tableChecksum(pool, 'src.crash', ['id', 'v']));
  } finally {
    await pool.end();
  }
}, 120_000);
