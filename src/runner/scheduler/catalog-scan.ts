// The catalog scan: where migration 031's event trigger could not be created (the role is not
// superuser), the runner registers the tables created in the data schema itself, on every pass
// (FIX 5, migration 036). One statement, so it stays cheap at 10,000 tables.
import type pg from 'pg';

/** A table the scan registered. */
export interface RegisteredTable {
  tableSchema: string;
  tableName: string;
}

/**
 * Registers the tables of the data schemas that appeared since the previous scan, exactly as the
 * event trigger would (sqp.register_created_table, which the trigger calls too); returns them.
 * Does nothing where the trigger exists.
 */
export async function registerCreatedTables(db: pg.Pool | pg.ClientBase): Promise<RegisteredTable[]> {
  // Written as one statement of anti-joins on oids, so a pass costs one round trip and one
  // sequential read of pg_class (it has no index on relnamespace), whatever the table count.
  // - `scan`: the trigger, in any state, owns registration where it exists (a disabled trigger
  //   is an operator's choice, not a gap to fill); then nothing below reads or writes.
  //   to_regprocedure, not a ::regprocedure cast: a dropped function must not fail every pass.
  // - `present`/`gone`/`appeared`: a table is new the first time it is seen (by oid, as the
  //   trigger sees a CREATE TABLE once): a renamed table, or one whose config was deleted, is
  //   not registered again. Replicas scanning at once insert the same oid once (the primary
  //   key), so only one of them registers it.
  // - the register function skips the refresh system's own tables and registered ones.
  const { rows } = await db.query<RegisteredTable>(
    `WITH scan AS (
       SELECT NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtfoid = to_regprocedure('sqp.auto_register_table_for_refresh()')) AS active
     ), present AS (
       SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE (SELECT active FROM scan) AND n.nspname = ANY (sqp.refresh_data_schemas()) AND c.relkind IN ('r', 'p')
     ), gone AS (
       DELETE FROM sqp_refresh_work.catalog_scan_seen s
       WHERE (SELECT active FROM scan) AND NOT EXISTS (SELECT 1 FROM present p WHERE p.oid = s.relid)
     ), appeared AS (
       INSERT INTO sqp_refresh_work.catalog_scan_seen (relid)
       SELECT p.oid FROM present p WHERE NOT EXISTS (SELECT 1 FROM sqp_refresh_work.catalog_scan_seen s WHERE s.relid = p.oid)
       ON CONFLICT DO NOTHING
       RETURNING relid
     )
     SELECT n.nspname AS "tableSchema", c.relname AS "tableName"
     FROM appeared a JOIN pg_class c ON c.oid = a.relid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE sqp.register_created_table(a.relid)
     ORDER BY 1, 2`,
  );
  return rows;
}
