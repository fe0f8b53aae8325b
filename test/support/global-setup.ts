// Once per test run: find a PostgreSQL server (TEST_DATABASE_URL, DATABASE_URL, or an embedded
// one started here), build a migrated template database, and hand both to the test files.
// Each test file then clones its own database from the template (test/support/db.ts).
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/embedded-postgres.ts';
import { migrate } from '../../src/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!adminUrl) {
    const dir = path.join(os.tmpdir(), `sqp-refresh-test-${process.pid}-${randomBytes(3).toString('hex')}`);
    const embedded = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
    adminUrl = embedded.url;
    stopEmbedded = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const templateDatabase = `sqp_refresh_tpl_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  await admin.end();
  await migrate(databaseUrl(adminUrl, templateDatabase));
  // The tests' role is a superuser, so postgres source queries run as the source role
  // (src/runner/sources/postgres/source-role.ts): it exists on this server, and may read what a
  // test creates in its own database (default privileges, copied with the template).
  const template = new pg.Client({ connectionString: databaseUrl(adminUrl, templateDatabase) });
  await template.connect();
  await template.query(`DO $$ BEGIN CREATE ROLE sqp_refresh_source NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
  await template.query(`ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO sqp_refresh_source`);
  await template.query(`GRANT USAGE ON SCHEMA sqp TO sqp_refresh_source`); // a test's own functions there
  await template.query(`ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO sqp_refresh_source`);
  await template.end();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [templateDatabase, `${templateDatabase}_%`],
    );
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await client.end();
    await stopEmbedded?.();
  };
}
