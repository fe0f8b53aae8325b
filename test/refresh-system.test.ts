/**
 * The refresh system's own behaviour in the database (031_create_daily_refresh_system): the
 * auto-registration of new sqp tables, checkpoints, timestamps and the dependency graph, on a
 * migrated database of this file's own. Configs and edges are written with plain SQL on purpose
 * (not registerTable, addRefreshDependency): what is tested is what the database's triggers and
 * constraints do with any write, whoever sends it.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';

const database = await createTestDatabase();
const db = new pg.Client({ connectionString: database.url });
await db.connect();
afterAll(async () => {
  await db.end();
  await database.drop();
});

const { rows: roleRows } = await db.query<{ rolsuper: boolean }>(
  `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`,
);
/** The template was migrated by the server's role; the event trigger exists only if it is superuser. */
const isSuperuser = roleRows[0]!.rolsuper;

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return client;
}

/** The error a statement fails with (it must fail, with a PostgreSQL error). */
async function pgError(promise: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof pg.DatabaseError) return error;
    throw error;
  }
  throw new Error('expected the statement to fail');
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) x`, params);
  return rows[0]!.n;
}

async function configsNamed(pattern: string) {
  const { rows } = await db.query<{
    table_schema: string;
    table_name: string;
    is_enabled: boolean;
    priority: number;
    refresh_frequency_hours: number;
    due_in_about_a_day: boolean;
  }>(
    `SELECT table_schema, table_name, is_enabled, priority, refresh_frequency_hours,
            abs(extract(epoch FROM next_refresh_at - (now() + interval '24 hours'))) < 120 AS due_in_about_a_day
     FROM sqp.refresh_config WHERE table_name LIKE $1 ORDER BY id`,
    [pattern],
  );
  return rows;
}

it('the cloned database has the refresh system, with the seed\'s eight tables registered', async () => {
  const { rows } = await db.query<{ n: number; with_dependencies: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE cardinality(dependencies) > 0)::int AS with_dependencies
     FROM sqp.refresh_config`,
  );
  expect(rows).toEqual([{ n: 8, with_dependencies: 3 }]);
});

describe('auto-registration of new sqp tables (event trigger)', () => {
  it('exists exactly when the migrating role is superuser', async () => {
    const n = await count(
      `SELECT 1 FROM pg_event_trigger WHERE evtname = 'auto_register_refresh_tables' AND evtenabled <> 'D'`,
    );
    expect(n).toBe(isSuperuser ? 1 : 0);
  });

  it.skipIf(!isSuperuser)('registers a new table once, under its bare name, with priority 100 every 24 hours', async () => {
    await db.query(`CREATE TABLE sqp.auto_reg_plain (id INTEGER PRIMARY KEY, label TEXT)`);
    const expected = {
      table_schema: 'sqp',
      table_name: 'auto_reg_plain',
      is_enabled: true,
      priority: 100,
      refresh_frequency_hours: 24,
      due_in_about_a_day: true,
    };
    expect(await configsNamed('%auto_reg_plain%')).toEqual([expected]);

    // Dropped and created again: still one registration.
    await db.query(`DROP TABLE sqp.auto_reg_plain`);
    await db.query(`CREATE TABLE sqp.auto_reg_plain (id BIGSERIAL PRIMARY KEY, other TEXT)`);
    expect(await configsNamed('%auto_reg_plain%')).toEqual([expected]);
  });

  it.skipIf(!isSuperuser)('registers a table made by CREATE TABLE AS', async () => {
    await db.query(`CREATE TABLE sqp.auto_reg_ctas AS SELECT 1 AS x, 'a'::text AS y`);
    expect(await configsNamed('%auto_reg_ctas%')).toEqual([
      {
        table_schema: 'sqp',
        table_name: 'auto_reg_ctas',
        is_enabled: true,
        priority: 100,
        refresh_frequency_hours: 24,
        due_in_about_a_day: true,
      },
    ]);
  });

  it.skipIf(!isSuperuser)('registers nothing when one of the refresh system\'s own tables is created again', async () => {
    const before = await count(`SELECT * FROM sqp.refresh_config`);
    // Each inside a transaction that is rolled back, so that the rest of this file keeps them
    // (CASCADE: the read model's views of migration 037 depend on them).
    for (const table of ['refresh_data_quality', 'refresh_audit_log', 'refresh_dependencies', 'refresh_checkpoints']) {
      await db.query('BEGIN');
      try {
        await db.query(`DROP TABLE sqp.${table} CASCADE`);
        await db.query(`CREATE TABLE sqp.${table} (id SERIAL PRIMARY KEY, note TEXT)`);
        expect(await count(`SELECT * FROM sqp.refresh_config`), table).toBe(before);
      } finally {
        await db.query('ROLLBACK');
      }
    }
    expect(await count(`SELECT * FROM sqp.refresh_config WHERE table_name LIKE '%refresh\\_%'`)).toBe(0);
  });

  it.skipIf(!isSuperuser)('registers nothing for a table in another schema', async () => {
    const before = await count(`SELECT * FROM sqp.refresh_config`);
    await db.query(`CREATE SCHEMA IF NOT EXISTS elsewhere`);
    await db.query(`CREATE TABLE elsewhere.auto_reg_other (id INTEGER)`);
    await db.query(`CREATE TABLE elsewhere.auto_reg_other_ctas AS SELECT 1 AS x`);
    expect(await count(`SELECT * FROM sqp.refresh_config`)).toBe(before);
    expect(await configsNamed('%auto_reg_other%')).toEqual([]);
  });
});

describe('checkpoints', () => {
  async function insertCheckpoint(
    fn: string,
    table: string,
    status: string,
    expiresAt = `now() + interval '1 hour'`,
  ): Promise<number> {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, status, expires_at)
       VALUES ($1, 'sqp', $2, '{"page": 1}', $3, ${expiresAt}) RETURNING id`,
      [fn, table, status],
    );
    return rows[0]!.id;
  }
  async function statusOf(id: number): Promise<string> {
    const { rows } = await db.query<{ status: string }>(`SELECT status FROM sqp.refresh_checkpoints WHERE id = $1`, [id]);
    return rows[0]!.status;
  }

  it('allows one active checkpoint per function and table, beside any number of completed ones', async () => {
    await insertCheckpoint('cp_unique', 'weekly_summary', 'active');
    const error = await pgError(insertCheckpoint('cp_unique', 'weekly_summary', 'active'));
    expect(error.code).toBe('23505');
    expect(error.constraint).toBe('uq_checkpoints_one_active');

    await insertCheckpoint('cp_unique', 'weekly_summary', 'completed');
    await insertCheckpoint('cp_unique', 'weekly_summary', 'completed');
    await insertCheckpoint('cp_unique', 'weekly_summary', 'expired');
    // Another function, or another table, has its own active checkpoint.
    await insertCheckpoint('cp_unique_other', 'weekly_summary', 'active');
    await insertCheckpoint('cp_unique', 'monthly_summary', 'active');
    const { rows } = await db.query(
      `SELECT function_name, table_name, status, count(*)::int AS n FROM sqp.refresh_checkpoints
       WHERE function_name LIKE 'cp\\_unique%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    expect(rows).toEqual([
      { function_name: 'cp_unique', table_name: 'monthly_summary', status: 'active', n: 1 },
      { function_name: 'cp_unique', table_name: 'weekly_summary', status: 'active', n: 1 },
      { function_name: 'cp_unique', table_name: 'weekly_summary', status: 'completed', n: 2 },
      { function_name: 'cp_unique', table_name: 'weekly_summary', status: 'expired', n: 1 },
      { function_name: 'cp_unique_other', table_name: 'weekly_summary', status: 'active', n: 1 },
    ]);
  });

  it('moves updated_at on every update', async () => {
    const id = await insertCheckpoint('cp_touch', 'weekly_summary', 'active');
    const inserted = await db.query(
      `SELECT updated_at = created_at AS same FROM sqp.refresh_checkpoints WHERE id = $1`,
      [id],
    );
    expect(inserted.rows).toEqual([{ same: true }]);
    // A later statement is a later transaction: CURRENT_TIMESTAMP has moved on.
    const updated = await db.query(
      `UPDATE sqp.refresh_checkpoints SET last_processed_row = 500, total_rows = 1000 WHERE id = $1
       RETURNING updated_at > created_at AS moved, updated_at = now() AS is_now`,
      [id],
    );
    expect(updated.rows).toEqual([{ moved: true, is_now: true }]);
    // Even when the writer sets it itself.
    const forced = await db.query(
      `UPDATE sqp.refresh_checkpoints SET updated_at = '2001-01-01' WHERE id = $1 RETURNING updated_at = now() AS is_now`,
      [id],
    );
    expect(forced.rows).toEqual([{ is_now: true }]);
  });

  it('sqp.expire_checkpoints() marks active checkpoints past their expiry as expired and counts them', async () => {
    const future = await insertCheckpoint('cp_expire', 'monthly_summary', 'active');
    const completedPast = await insertCheckpoint('cp_expire', 'yearly_summary', 'completed', `now() - interval '1 day'`);
    // Inserted last: any insert would expire it (the trigger of the next test).
    const past = await insertCheckpoint('cp_expire', 'weekly_summary', 'active', `now() - interval '1 minute'`);
    expect(await statusOf(past)).toBe('active');

    const first = await db.query(`SELECT sqp.expire_checkpoints() AS n`);
    expect(first.rows).toEqual([{ n: 1 }]);
    expect(await statusOf(past)).toBe('expired');
    expect(await statusOf(future)).toBe('active');
    expect(await statusOf(completedPast)).toBe('completed');
    const second = await db.query(`SELECT sqp.expire_checkpoints() AS n`);
    expect(second.rows).toEqual([{ n: 0 }]);

    // The key is free again.
    await insertCheckpoint('cp_expire', 'weekly_summary', 'active');
  });

  it('a new checkpoint expires the stale active one that would block it', async () => {
    const stale = await insertCheckpoint('cp_resume', 'weekly_summary', 'active', `now() - interval '5 minutes'`);
    expect(await statusOf(stale)).toBe('active');
    const fresh = await insertCheckpoint('cp_resume', 'weekly_summary', 'active');
    expect(await statusOf(stale)).toBe('expired');
    expect(await statusOf(fresh)).toBe('active');
    // A live active checkpoint still blocks.
    const error = await pgError(insertCheckpoint('cp_resume', 'weekly_summary', 'active'));
    expect(error.code).toBe('23505');
  });
});

describe('refresh_config', () => {
  it('moves updated_at on every update', async () => {
    const { rows } = await db.query<{ id: number; same: boolean }>(
      `INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ('sqp', 'cfg_touch')
       RETURNING id, updated_at = created_at AS same`,
    );
    expect(rows[0]!.same).toBe(true);
    const updated = await db.query(
      `UPDATE sqp.refresh_config SET priority = 5 WHERE id = $1
       RETURNING updated_at > created_at AS moved, updated_at = now() AS is_now`,
      [rows[0]!.id],
    );
    expect(updated.rows).toEqual([{ moved: true, is_now: true }]);
  });
});

describe('dependencies: the array and the edges never disagree', () => {
  async function addConfig(name: string, schema = 'sqp'): Promise<number> {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO sqp.refresh_config (table_schema, table_name) VALUES ($1, $2) RETURNING id`,
      [schema, name],
    );
    return rows[0]!.id;
  }
  /** The dependent's array, as stored. */
  async function arrayOf(name: string, schema = 'sqp'): Promise<string[] | null> {
    const { rows } = await db.query<{ dependencies: string[] | null }>(
      `SELECT dependencies FROM sqp.refresh_config WHERE table_schema = $1 AND table_name = $2`,
      [schema, name],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!.dependencies;
  }
  /** The dependent's parents, from the edges (schema-qualified). */
  async function parentsOf(name: string, schema = 'sqp'): Promise<string[]> {
    const { rows } = await db.query<{ parent: string }>(
      `SELECT p.table_schema || '.' || p.table_name AS parent
       FROM sqp.refresh_dependencies e
       JOIN sqp.refresh_config p ON p.id = e.parent_config_id
       JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
       WHERE d.table_schema = $1 AND d.table_name = $2 ORDER BY 1`,
      [schema, name],
    );
    return rows.map((r) => r.parent);
  }
  function addEdge(parent: string, dependent: string, client: pg.ClientBase = db) {
    return client.query(
      `INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
       SELECT p.id, d.id FROM sqp.refresh_config p, sqp.refresh_config d
       WHERE p.table_schema = 'sqp' AND p.table_name = $1 AND d.table_schema = 'sqp' AND d.table_name = $2`,
      [parent, dependent],
    );
  }
  function deleteEdge(parent: string, dependent: string) {
    return db.query(
      `DELETE FROM sqp.refresh_dependencies e USING sqp.refresh_config p, sqp.refresh_config d
       WHERE p.id = e.parent_config_id AND d.id = e.dependent_config_id
       AND p.table_schema = 'sqp' AND p.table_name = $1 AND d.table_schema = 'sqp' AND d.table_name = $2`,
      [parent, dependent],
    );
  }
  function writeArray(name: string, dependencies: string[] | null) {
    return db.query(`UPDATE sqp.refresh_config SET dependencies = $2 WHERE table_schema = 'sqp' AND table_name = $1`, [
      name,
      dependencies,
    ]);
  }

  it('an inserted edge adds the parent\'s bare name to the array; a deleted one removes it', async () => {
    await addConfig('dep_edge');
    expect(await arrayOf('dep_edge')).toEqual([]);
    const inserted = await addEdge('weekly_summary', 'dep_edge');
    expect(inserted.rowCount).toBe(1);
    expect(await arrayOf('dep_edge')).toEqual(['weekly_summary']);
    await addEdge('asin_performance_data', 'dep_edge');
    expect(await arrayOf('dep_edge')).toEqual(['asin_performance_data', 'weekly_summary']);
    await deleteEdge('weekly_summary', 'dep_edge');
    expect(await arrayOf('dep_edge')).toEqual(['asin_performance_data']);
    await deleteEdge('asin_performance_data', 'dep_edge');
    expect(await arrayOf('dep_edge')).toEqual([]);
  });

  it('writing the array replaces the edges; sqp.x is normalised to x; a parent elsewhere is spelled schema.x', async () => {
    await addConfig('dep_write');
    await addConfig('dep_write_parent', 'elsewhere_cfg');
    await addEdge('asin_performance_data', 'dep_write');

    await writeArray('dep_write', ['weekly_summary']);
    expect(await parentsOf('dep_write')).toEqual(['sqp.weekly_summary']);
    expect(await arrayOf('dep_write')).toEqual(['weekly_summary']);

    await writeArray('dep_write', ['sqp.monthly_summary', 'weekly_summary', 'elsewhere_cfg.dep_write_parent']);
    expect(await parentsOf('dep_write')).toEqual([
      'elsewhere_cfg.dep_write_parent',
      'sqp.monthly_summary',
      'sqp.weekly_summary',
    ]);
    expect(await arrayOf('dep_write')).toEqual(['elsewhere_cfg.dep_write_parent', 'monthly_summary', 'weekly_summary']);

    // Same edges, other spelling: the array is put back in canonical form.
    await writeArray('dep_write', ['sqp.weekly_summary', 'elsewhere_cfg.dep_write_parent', 'sqp.monthly_summary']);
    expect(await arrayOf('dep_write')).toEqual(['elsewhere_cfg.dep_write_parent', 'monthly_summary', 'weekly_summary']);

    const { rows } = await db.query(
      `SELECT DISTINCT e.dependency_type FROM sqp.refresh_dependencies e
       JOIN sqp.refresh_config d ON d.id = e.dependent_config_id WHERE d.table_name = 'dep_write'`,
    );
    expect(rows).toEqual([{ dependency_type: 'hard' }]);

    await writeArray('dep_write', []);
    expect(await parentsOf('dep_write')).toEqual([]);
    expect(await arrayOf('dep_write')).toEqual([]);
    await writeArray('dep_write', null);
    expect(await arrayOf('dep_write')).toEqual([]);
  });

  it('a config inserted with dependencies gets its edges', async () => {
    await db.query(
      `INSERT INTO sqp.refresh_config (table_schema, table_name, dependencies)
       VALUES ('sqp', 'dep_born', '{sqp.weekly_summary,daily_sqp_data}')`,
    );
    expect(await parentsOf('dep_born')).toEqual(['sqp.daily_sqp_data', 'sqp.weekly_summary']);
    expect(await arrayOf('dep_born')).toEqual(['daily_sqp_data', 'weekly_summary']);
  });

  it('an unknown name is refused, naming it, and nothing changes', async () => {
    await addConfig('dep_unknown');
    await writeArray('dep_unknown', ['weekly_summary']);
    const error = await pgError(writeArray('dep_unknown', ['monthly_summary', 'no_such_table_anywhere']));
    expect(error.message).toContain('no_such_table_anywhere');
    expect(error.code).toBe('23503');
    expect(await arrayOf('dep_unknown')).toEqual(['weekly_summary']);
    expect(await parentsOf('dep_unknown')).toEqual(['sqp.weekly_summary']);
    // A name of another schema is not found in sqp.
    const other = await pgError(writeArray('dep_unknown', ['elsewhere_cfg.weekly_summary']));
    expect(other.message).toContain('elsewhere_cfg.weekly_summary');
    expect(await parentsOf('dep_unknown')).toEqual(['sqp.weekly_summary']);
  });

  it('renaming a parent renames it in its dependents\' arrays', async () => {
    await addConfig('dep_ren_parent');
    await addConfig('dep_ren_child1');
    await addConfig('dep_ren_child2');
    await addEdge('dep_ren_parent', 'dep_ren_child1');
    await addEdge('dep_ren_parent', 'dep_ren_child2');
    await addEdge('weekly_summary', 'dep_ren_child2');
    await db.query(`UPDATE sqp.refresh_config SET table_name = 'dep_ren_parent_v2' WHERE table_name = 'dep_ren_parent'`);
    expect(await arrayOf('dep_ren_child1')).toEqual(['dep_ren_parent_v2']);
    expect(await arrayOf('dep_ren_child2')).toEqual(['dep_ren_parent_v2', 'weekly_summary']);
    // Moved to another schema: the dependents spell it schema.name.
    await db.query(`UPDATE sqp.refresh_config SET table_schema = 'moved_cfg' WHERE table_name = 'dep_ren_parent_v2'`);
    expect(await arrayOf('dep_ren_child1')).toEqual(['moved_cfg.dep_ren_parent_v2']);
  });

  it('deleting a parent config removes its edges and its name from the dependents\' arrays', async () => {
    await addConfig('dep_del_parent');
    await addConfig('dep_del_child');
    await addEdge('dep_del_parent', 'dep_del_child');
    await addEdge('daily_sqp_data', 'dep_del_child');
    expect(await arrayOf('dep_del_child')).toEqual(['daily_sqp_data', 'dep_del_parent']);
    await db.query(`DELETE FROM sqp.refresh_config WHERE table_name = 'dep_del_parent'`);
    expect(await parentsOf('dep_del_child')).toEqual(['sqp.daily_sqp_data']);
    expect(await arrayOf('dep_del_child')).toEqual(['daily_sqp_data']);
  });

  it('a table cannot depend on itself, by edge or by array', async () => {
    const id = await addConfig('dep_self');
    const edge = await pgError(
      db.query(`INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id) VALUES ($1, $1)`, [id]),
    );
    // The cycle trigger runs first and calls it the shortest cycle; the CHECK constraint is
    // the backstop for whoever disables the trigger.
    expect(edge.code).toBe('23514');
    expect(edge.message).toContain('sqp.dep_self -> sqp.dep_self');
    await db.query('BEGIN');
    try {
      await db.query('ALTER TABLE sqp.refresh_dependencies DISABLE TRIGGER refresh_dependencies_no_cycle');
      const constraint = await pgError(
        db.query(`INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id) VALUES ($1, $1)`, [id]),
      );
      expect(constraint.code).toBe('23514');
      expect(constraint.constraint).toBe('refresh_dependencies_no_self_edge');
    } finally {
      await db.query('ROLLBACK');
    }
    const array = await pgError(writeArray('dep_self', ['dep_self']));
    expect(array.code).toBe('23514');
    expect(await arrayOf('dep_self')).toEqual([]);
    expect(await parentsOf('dep_self')).toEqual([]);
  });

  it('a cycle is refused, with its path in the message', async () => {
    await addConfig('cyc_a');
    await addConfig('cyc_b');
    await addConfig('cyc_c');
    await addEdge('cyc_a', 'cyc_b');
    await addEdge('cyc_b', 'cyc_c');

    const error = await pgError(addEdge('cyc_c', 'cyc_a'));
    expect(error.code).toBe('23514');
    expect(error.message).toContain('sqp.cyc_c -> sqp.cyc_a -> sqp.cyc_b -> sqp.cyc_c');
    expect(error.message).toMatch(/(sqp\.cyc_[abc]) -> .* -> \1/);

    // The same cycle through the array, and through an updated edge.
    const viaArray = await pgError(writeArray('cyc_a', ['cyc_c']));
    expect(viaArray.message).toContain('sqp.cyc_c -> sqp.cyc_a -> sqp.cyc_b -> sqp.cyc_c');
    const viaUpdate = await pgError(
      db.query(
        `UPDATE sqp.refresh_dependencies SET parent_config_id = (SELECT id FROM sqp.refresh_config WHERE table_name = 'cyc_c')
         WHERE parent_config_id = (SELECT id FROM sqp.refresh_config WHERE table_name = 'cyc_a')`,
      ),
    );
    expect(viaUpdate.code).toBe('23514');

    expect(await parentsOf('cyc_a')).toEqual([]);
    expect(await parentsOf('cyc_b')).toEqual(['sqp.cyc_a']);
    expect(await parentsOf('cyc_c')).toEqual(['sqp.cyc_b']);
    expect(await arrayOf('cyc_a')).toEqual([]);
  });

  it('two concurrent transactions adding A→B and B→A: one commits, the other is refused', async () => {
    await addConfig('conc_a');
    await addConfig('conc_b');
    const first = await connect();
    const second = await connect();
    try {
      const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await first.query('BEGIN');
      await second.query('BEGIN');
      await addEdge('conc_a', 'conc_b', first);
      const secondInsert = pgError(addEdge('conc_b', 'conc_a', second));
      // The second must be waiting for the first (the trigger serialises writers) before the
      // first commits; otherwise it could not see the first's edge.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const { rows } = await db.query<{ wait_event_type: string | null; wait_event: string | null }>(
          `SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = $1`,
          [secondPid],
        );
        if (rows[0]?.wait_event_type === 'Lock') break;
        if (Date.now() > deadline) throw new Error(`the second insert never waited: ${JSON.stringify(rows)}`);
      }
      await first.query('COMMIT');
      const error = await secondInsert;
      expect(error.code).toBe('23514');
      expect(error.message).toContain('sqp.conc_b -> sqp.conc_a -> sqp.conc_b');
      await second.query('ROLLBACK');
    } finally {
      await first.end();
      await second.end();
    }
    expect(await parentsOf('conc_a')).toEqual([]);
    expect(await parentsOf('conc_b')).toEqual(['sqp.conc_a']);
    expect(await arrayOf('conc_b')).toEqual(['conc_a']);
  });

  // Fixed in 031 (found by this test): the cycle check
  // serialises writers with an advisory lock, which only helps READ COMMITTED transactions,
  // whose next statement takes a new snapshot. A REPEATABLE READ transaction keeps the snapshot
  // it took before the other writer committed, does not see its edge, and closes the cycle.
  it('a REPEATABLE READ transaction cannot close a cycle with an edge committed after its snapshot', async () => {
    await addConfig('rr_a');
    await addConfig('rr_b');
    const second = await connect();
    try {
      await second.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await second.query('SELECT count(*) FROM sqp.refresh_dependencies'); // takes the snapshot
      await addEdge('rr_a', 'rr_b'); // committed by another session
      let outcome: string;
      try {
        await addEdge('rr_b', 'rr_a', second);
        await second.query('COMMIT');
        outcome = 'committed';
      } catch (error) {
        outcome = error instanceof pg.DatabaseError ? (error.code ?? 'no code') : String(error);
      }
      expect(['23514', '40001']).toContain(outcome);
    } finally {
      await second.query('ROLLBACK').catch(() => undefined);
      await second.end();
      // Leave no cycle behind for the other tests.
      await deleteEdge('rr_b', 'rr_a');
      await deleteEdge('rr_a', 'rr_b');
    }
  });

  // Fixed in 031 (found by this test): when a config's
  // table_schema changes, refresh_config_dependencies_written compares the OLD array (spelled
  // relative to the old schema) with the edges spelled relative to the NEW schema, finds them
  // different and "writes" the old array again, now read relative to the new schema. A bare
  // name then means a table of the new schema: the move fails, or silently re-points the edge.
  it('moving a dependent to another schema keeps its edges (no same-named table there)', async () => {
    await addConfig('mv_parent');
    await addConfig('mv_child');
    await addEdge('mv_parent', 'mv_child');
    await db.query(`UPDATE sqp.refresh_config SET table_schema = 'mv_elsewhere' WHERE table_name = 'mv_child'`);
    expect(await parentsOf('mv_child', 'mv_elsewhere')).toEqual(['sqp.mv_parent']);
    expect(await arrayOf('mv_child', 'mv_elsewhere')).toEqual(['sqp.mv_parent']);
  });

  it('moving a dependent to another schema keeps its edges (a same-named table there)', async () => {
    await addConfig('mv2_parent');
    await addConfig('mv2_parent', 'mv2_elsewhere');
    await addConfig('mv2_child');
    await addEdge('mv2_parent', 'mv2_child');
    await db.query(`UPDATE sqp.refresh_config SET table_schema = 'mv2_elsewhere' WHERE table_name = 'mv2_child'`);
    expect(await parentsOf('mv2_child', 'mv2_elsewhere')).toEqual(['sqp.mv2_parent']);
    expect(await arrayOf('mv2_child', 'mv2_elsewhere')).toEqual(['sqp.mv2_parent']);
  });

  it('after 50 random operations (seeded), every array equals the names derived from the edges', async () => {
    const random = mulberry32(20250905);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    interface Cfg {
      schema: string;
      name: string;
    }
    let serial = 0;
    const live: Cfg[] = [];
    const newConfig = async (dependencies: string[] = []): Promise<Cfg> => {
      const cfg = { schema: random() < 0.2 ? 'rnd_other' : 'sqp', name: `rnd_${serial++}` };
      await db.query(`INSERT INTO sqp.refresh_config (table_schema, table_name, dependencies) VALUES ($1, $2, $3)`, [
        cfg.schema,
        cfg.name,
        dependencies,
      ]);
      live.push(cfg);
      return cfg;
    };
    for (let i = 0; i < 6; i++) await newConfig();
    const idOf = (c: Cfg) =>
      `(SELECT id FROM sqp.refresh_config WHERE table_schema = '${c.schema}' AND table_name = '${c.name}')`;
    /** How `of` spells `parent` in its array (randomly with a redundant schema). */
    const spell = (parent: Cfg, of: Cfg) =>
      parent.schema !== of.schema || random() < 0.3 ? `${parent.schema}.${parent.name}` : parent.name;
    const randomParents = (of: Cfg) =>
      [...live, { schema: 'sqp', name: 'weekly_summary' }].filter(() => random() < 0.3).map((p) => spell(p, of));

    const operations: Record<string, () => Promise<unknown>> = {
      insertEdge: () =>
        db.query(`INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id, dependency_type)
                  VALUES (${idOf(pick(live))}, ${idOf(pick(live))}, '${pick(['hard', 'soft'])}')`),
      deleteEdge: () =>
        db.query(`DELETE FROM sqp.refresh_dependencies WHERE id = (
                    SELECT e.id FROM sqp.refresh_dependencies e JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
                    WHERE d.table_name LIKE 'rnd\\_%' ORDER BY e.id OFFSET ${Math.floor(random() * 4)} LIMIT 1)`),
      moveEdge: () =>
        db.query(`UPDATE sqp.refresh_dependencies SET parent_config_id = ${idOf(pick(live))} WHERE id = (
                    SELECT e.id FROM sqp.refresh_dependencies e JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
                    WHERE d.table_name LIKE 'rnd\\_%' ORDER BY e.id OFFSET ${Math.floor(random() * 4)} LIMIT 1)`),
      writeArray: () => {
        const of = pick(live);
        return db.query(`UPDATE sqp.refresh_config SET dependencies = $1 WHERE id = ${idOf(of)}`, [randomParents(of)]);
      },
      rename: async () => {
        const cfg = pick(live);
        const name = `rnd_${serial++}`;
        await db.query(`UPDATE sqp.refresh_config SET table_name = $1 WHERE id = ${idOf(cfg)}`, [name]);
        cfg.name = name;
      },
      deleteConfig: async () => {
        if (live.length < 4) return newConfig();
        const cfg = pick(live);
        await db.query(`DELETE FROM sqp.refresh_config WHERE id = ${idOf(cfg)}`);
        live.splice(live.indexOf(cfg), 1);
      },
      insertConfig: () => {
        const parents = live.filter(() => random() < 0.3);
        return newConfig(parents.map((p) => `${p.schema}.${p.name}`));
      },
    };
    const kinds = Object.keys(operations);
    const outcomes: Record<string, number> = {};
    for (let step = 0; step < 50; step++) {
      const kind = pick(kinds);
      let outcome = `${kind} ok`;
      try {
        await operations[kind]!();
      } catch (error) {
        // Only the refusals the schema promises: self-edge/cycle (23514), duplicate edge (23505).
        if (!(error instanceof pg.DatabaseError) || !['23514', '23505'].includes(error.code ?? '')) throw error;
        outcome = `${kind} refused ${error.code}`;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    const succeeded = Object.entries(outcomes)
      .filter(([k]) => k.endsWith(' ok'))
      .reduce((n, [, v]) => n + v, 0);
    expect(succeeded, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(25);
    expect(await count(`SELECT 1 FROM sqp.refresh_dependencies e JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
                        WHERE d.table_name LIKE 'rnd\\_%'`)).toBeGreaterThan(0);

    const { rows: disagreements } = await db.query(`
      SELECT c.table_schema || '.' || c.table_name AS config, c.dependencies AS array, x.from_edges
      FROM sqp.refresh_config c
      CROSS JOIN LATERAL (
        SELECT ARRAY(
          SELECT CASE WHEN p.table_schema = c.table_schema THEN p.table_name
                      ELSE p.table_schema || '.' || p.table_name END
          FROM sqp.refresh_dependencies e JOIN sqp.refresh_config p ON p.id = e.parent_config_id
          WHERE e.dependent_config_id = c.id ORDER BY 1) AS from_edges
      ) x
      WHERE c.dependencies IS NULL OR ARRAY(SELECT unnest(c.dependencies) ORDER BY 1) <> x.from_edges`);
    expect(disagreements).toEqual([]);

    // And the graph is still acyclic.
    const cycles = await count(`
      WITH RECURSIVE reach(origin, id, seen) AS (
        SELECT parent_config_id, dependent_config_id, ARRAY[parent_config_id] FROM sqp.refresh_dependencies
        UNION ALL
        SELECT r.origin, e.dependent_config_id, r.seen || r.id
        FROM reach r JOIN sqp.refresh_dependencies e ON e.parent_config_id = r.id
        WHERE NOT r.id = ANY (r.seen))
      SELECT 1 FROM reach WHERE id = origin`);
    expect(cycles).toBe(0);
  });
});

/** A small seeded PRNG (mulberry32): the same 50 operations on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
