// Per-test-file databases: a clone of the migrated template, or an empty one.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrl } from './global-setup.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever is still connected to it. */
  drop(): Promise<void>;
}

/**
 * A pool on a test database. A test file's teardown drops its database WITH (FORCE), which
 * terminates (57P01) a connection the pool may still be closing; pg reports that through the
 * pool's 'error' event, an uncaught exception without a listener. That one is expected; any
 * other pool error is thrown, so it still fails the run.
 */
export function openTestPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (err: Error & { code?: string }) => {
    if (err.code !== '57P01') throw err;
  });
  return pool;
}

/** Runs one statement on the server's admin database (roles, databases). */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('adminUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function create(template: string): Promise<TestDatabase> {
  // Named after the template so that the global teardown finds whatever a test left behind.
  const name = `${inject('templateDatabase')}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  return {
    name,
    url: databaseUrl(inject('adminUrl'), name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** A fresh database with every migration applied (cloned from the template). */
export function createTestDatabase(): Promise<TestDatabase> {
  return create(inject('templateDatabase'));
}

/** A fresh, empty database (no sqp schema, no migrations). */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return create('template0');
}
