// The alerts open now: the episodes table-alerts.ts tells once each, read back for people (the
// graph's openAlerts, the status page). An episode is open until what ends it, by the same rules
// table-alerts.ts uses to decide an episode was told:
//   TABLE_FAILED   until a TABLE_RECOVERED of the table follows it: it is the table's newest
//                  failure-or-recovery alert, by id (failureOpen's rule);
//   TABLE_LATE,    until the table next succeeds: its newest alert of the kind occurred after the
//   TABLE_BLOCKED  table's latest success (alertNewEpisodes' rule), the success as the read model
//                  has it: migration 038's table_state exposes refresh_config.last_refresh_at as
//                  it is (the engine writes it with each success), so that column is read here,
//                  not derived again from the audit log.
// A TABLE_RECOVERED only closes. An unregistered table's alerts (config_id set to NULL) are closed.
// Whether the table is late or blocked at this very moment is tableHealth's verdict, not redone
// here: an episode told stays open until the success that ends it (disabling a table does not).
import type pg from 'pg';
import type { AlertKind } from './alert.ts';

/** An open episode: the alert that opened it, and where its deliveries stand. */
export interface OpenAlert {
  alertId: number;
  eventId: string;
  kind: Exclude<AlertKind, 'table_recovered'>;
  configId: number;
  tableSchema: string;
  tableName: string;
  /** The run it is about (the failed run); null for a late or blocked table. */
  runId: number | null;
  reason: string;
  /** When it opened: the alert's occurred_at. */
  since: Date;
  /** Its deliveries, one per destination subscribed when it was written, by status. */
  deliveries: { pending: number; delivered: number; abandoned: number };
}

// One statement. The alerts table holds one row per episode (never per pass), so each table's
// newest alert of each kind is a small sort. The column, not the view: table_state would read
// pg_locks and four lateral subqueries per late table only to hand back this column (20,000 open
// episodes over 10,000 tables: 0.7 s through the view, 0.25 s here). Newest first.
const OPEN_ALERTS = `
  WITH failure AS (
    SELECT DISTINCT ON (a.config_id) a.*
    FROM sqp_refresh_work.alerts a
    WHERE a.config_id IS NOT NULL AND a.kind IN ('table_failed', 'table_recovered')
    ORDER BY a.config_id, a.id DESC
  ), episode AS (
    SELECT DISTINCT ON (a.config_id, a.kind) a.*
    FROM sqp_refresh_work.alerts a
    WHERE a.config_id IS NOT NULL AND a.kind IN ('table_late', 'table_blocked')
    ORDER BY a.config_id, a.kind, a.occurred_at DESC, a.id DESC
  ), open AS (
    SELECT f.* FROM failure f WHERE f.kind = 'table_failed'
    UNION ALL
    SELECT e.* FROM episode e
    JOIN sqp.refresh_config c ON c.id = e.config_id
    WHERE e.occurred_at > COALESCE(c.last_refresh_at, '-infinity')
  )
  SELECT o.id AS "alertId", o.event_id::text AS "eventId", o.kind, o.config_id AS "configId",
         o.table_schema AS "tableSchema", o.table_name AS "tableName", o.run_id AS "runId", o.reason, o.occurred_at AS since,
         count(d.id) FILTER (WHERE d.status = 'pending')::int AS pending,
         count(d.id) FILTER (WHERE d.status = 'delivered')::int AS delivered,
         count(d.id) FILTER (WHERE d.status = 'abandoned')::int AS abandoned
  FROM open o
  LEFT JOIN sqp_refresh_work.alert_deliveries d ON d.alert_id = o.id
  GROUP BY o.id, o.event_id, o.kind, o.config_id, o.table_schema, o.table_name, o.run_id, o.reason, o.occurred_at
  ORDER BY o.occurred_at DESC, o.id DESC`;

type Row = Omit<OpenAlert, 'deliveries'> & OpenAlert['deliveries'];

/** Every alert whose episode is still open (failed and not recovered; late or blocked and not succeeded since), newest first. */
export async function readOpenAlerts(db: pg.Pool | pg.ClientBase): Promise<OpenAlert[]> {
  const { rows } = await db.query<Row>(OPEN_ALERTS);
  return rows.map(({ pending, delivered, abandoned, ...alert }) => ({ ...alert, deliveries: { pending, delivered, abandoned } }));
}
