// Applies prisma/migrations/*/migration.sql in order and keeps Prisma's `_prisma_migrations`
// bookkeeping exactly as `prisma migrate deploy` does (same table, sha256 checksum of the
// file, started/finished times, applied step count), so either tool sees the other's work.
// We own this runner because Prisma's schema engine cannot be downloaded on every machine.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { connectSession, type SessionLimits } from './database/connection.ts';

/** The advisory lock id `prisma migrate` itself takes, so the two never run at once. */
const PRISMA_MIGRATE_LOCK_ID = 72707369;

export const MIGRATIONS_DIR = fileURLToPath(new URL('../prisma/migrations/', import.meta.url));

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

/** A migration problem an operator must resolve by hand; the message says how. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Reads the migration folders, sorted by name (their numeric prefixes give the order). */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

const CREATE_BOOKKEEPING = `
  CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"            VARCHAR(64) NOT NULL,
    "finished_at"         TIMESTAMPTZ,
    "migration_name"      VARCHAR(255) NOT NULL,
    "logs"                TEXT,
    "rolled_back_at"      TIMESTAMPTZ,
    "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`;

interface AppliedRow {
  id: string;
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

export interface MigrateOptions {
  dir?: string;
  /** Receives each NOTICE the migrations raise (e.g. "may not create event triggers"). */
  onNotice?: (message: string) => void;
  onApplied?: (name: string, ms: number) => void;
  /** Set on the migrating session over the role's defaults (a role's statement_timeout must not cut a migration). */
  sessionLimits?: SessionLimits;
}

/** Applies every pending migration; refuses to go on after a failed or edited one. */
export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(options.dir);
  // A lost connection fails the statement in flight, not the process.
  const client = await connectSession(databaseUrl, { applicationName: 'sqp-refresh migrate', limits: options.sessionLimits });
  client.on('notice', (n) => options.onNotice?.(n.message ?? String(n)));
  try {
    // Session-level lock: a second process starting at the same moment waits here, then
    // finds everything applied.
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_ID]);
    await client.query(CREATE_BOOKKEEPING);
    const { rows } = await client.query<AppliedRow>(
      `SELECT id, migration_name, checksum, finished_at, rolled_back_at, logs
       FROM "_prisma_migrations" WHERE rolled_back_at IS NULL ORDER BY started_at`,
    );
    assertHealthy(rows, migrations);

    const done = new Set(rows.filter((r) => r.finished_at).map((r) => r.migration_name));
    const result: MigrateResult = { applied: [], alreadyApplied: [...done] };
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      const started = Date.now();
      await applyOne(client, m);
      result.applied.push(m.name);
      options.onApplied?.(m.name, Date.now() - started);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

function assertHealthy(rows: AppliedRow[], migrations: Migration[]): void {
  const failed = rows.find((r) => !r.finished_at);
  if (failed) {
    throw new MigrationError(
      `Migration ${failed.migration_name} failed earlier and was not resolved:\n${failed.logs ?? '(no log)'}\n` +
        `Its changes were rolled back. Fix the migration, then mark it rolled back with ` +
        `\`npx sqp-refresh migrate --resolve-rolled-back ${failed.migration_name}\` ` +
        `(or \`prisma migrate resolve --rolled-back ${failed.migration_name}\`) and migrate again.`,
    );
  }
  const byName = new Map(migrations.map((m) => [m.name, m]));
  for (const row of rows) {
    const local = byName.get(row.migration_name);
    if (!local) {
      throw new MigrationError(
        `Migration ${row.migration_name} is applied to the database but missing from prisma/migrations. ` +
          `Restore it, or use a build of sqp-refresh that has it.`,
      );
    }
    if (local.checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${row.migration_name} was edited after it was applied ` +
          `(checksum ${row.checksum.slice(0, 12)}… in the database, ${local.checksum.slice(0, 12)}… on disk). ` +
          `Applied migrations must not change: restore the file and put the change in a new migration.`,
      );
    }
  }
}

async function applyOne(client: pg.Client, m: Migration): Promise<void> {
  const id = randomUUID();
  // The whole file and its bookkeeping commit together or not at all.
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), 0)`,
      [id, m.checksum, m.name],
    );
    await client.query(m.sql);
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    // Record the failure as Prisma does, so that neither tool goes on until it is resolved.
    const message = error instanceof Error ? error.message : String(error);
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, logs, applied_steps_count)
       VALUES ($1, $2, $3, now(), $4, 0)`,
      [id, m.checksum, m.name, `${message}\n`],
    );
    throw new MigrationError(`Migration ${m.name} failed and was rolled back: ${message}`);
  }
}

/** Marks a failed migration as rolled back (like `prisma migrate resolve --rolled-back`). */
export async function resolveRolledBack(databaseUrl: string, name: string): Promise<boolean> {
  const client = await connectSession(databaseUrl, { applicationName: 'sqp-refresh migrate' });
  try {
    const res = await client.query(
      `UPDATE "_prisma_migrations" SET rolled_back_at = now()
       WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`,
      [name],
    );
    return (res.rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

/** Names of migrations on disk that the database has not applied (for /ready). */
export async function pendingMigrations(client: pg.ClientBase | pg.Pool, dir?: string): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const exists = await client.query(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS ok`);
  if (!exists.rows[0]?.ok) return migrations.map((m) => m.name);
  const { rows } = await client.query<{ migration_name: string }>(
    `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const done = new Set(rows.map((r) => r.migration_name));
  return migrations.filter((m) => !done.has(m.name)).map((m) => m.name);
}
