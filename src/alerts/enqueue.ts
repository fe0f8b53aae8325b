// The outbox's one writer. Called inside the transaction of the state change an alert reports
// (a run's finish, the planner's verdict), so it does nothing but INSERT: the alert, one delivery
// per enabled destination subscribed to its kind, and a NOTIFY that PostgreSQL sends only if the
// transaction commits. A change that rolls back alerts nobody; one that commits cannot lose its
// alert. Delivery happens later, on any replica (delivery.ts).
import type pg from 'pg';
import { scrubSecrets } from '../logger.ts';
import { CHANNELS } from '../subscriptions/listener.ts';
import type { AlertInput } from './alert.ts';

/** Longest reason stored: an error message can be long; a webhook body should not be. */
const MAX_REASON = 2000;

// One statement, one round trip: the alert, its deliveries (none when no destination wants this
// kind), and pg_notify only when there is something to deliver (data-modifying CTEs always run;
// the CASE keeps an install without destinations from waking every replica for nothing).
const ENQUEUE = `
  WITH alert AS (
    INSERT INTO sqp_refresh_work.alerts (kind, config_id, table_schema, table_name, run_id, reason, occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id, event_id
  ), deliveries AS (
    INSERT INTO sqp_refresh_work.alert_deliveries (alert_id, destination_id)
    SELECT alert.id, d.id FROM alert
    JOIN sqp_refresh_work.alert_destinations d ON d.disabled_at IS NULL AND $1 = ANY (d.events)
    RETURNING id
  )
  SELECT alert.event_id::text AS "eventId",
         CASE WHEN EXISTS (SELECT 1 FROM deliveries) THEN pg_notify($8, '') END AS notified
  FROM alert`;

/**
 * Writes an alert to the outbox, one delivery per enabled destination subscribed to its kind;
 * call it on the connection (and inside the transaction) of the state change. Returns its event id.
 */
export async function enqueueAlert(db: pg.Pool | pg.ClientBase, alert: AlertInput): Promise<string> {
  // The reason goes to other parties: a connection string or token quoted by an error stays here.
  // A NUL (which text cannot hold) would fail the caller's transaction, the state change with it.
  const reason = scrubSecrets(alert.reason).replaceAll('\0', '').slice(0, MAX_REASON);
  const { rows } = await db.query<{ eventId: string }>(ENQUEUE, [
    alert.kind,
    alert.configId,
    alert.tableSchema,
    alert.tableName,
    alert.runId ?? null,
    reason,
    alert.at,
    CHANNELS.alerts,
  ]);
  return rows[0]!.eventId;
}
