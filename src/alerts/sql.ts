// The delivery worker's statements, one function each: claim what is due, record an attempt's
// result, abandon a disabled destination's pending deliveries, and when the next one is due.
// Every time comes from the worker's clock (`now`), so tests drive time; the lease and the
// `claimed_attempt_id` guard are what make delivery at-least-once across replicas and crashes.
import type pg from 'pg';
import type { AlertFormat, AlertKind } from './alert.ts';

type Db = pg.Pool | pg.ClientBase;

/** An alert as stored: what its body is built from, on every attempt alike. */
export interface StoredAlert {
  eventId: string;
  kind: AlertKind;
  configId: number | null;
  tableSchema: string;
  tableName: string;
  runId: number | null;
  reason: string;
  occurredAt: Date;
}

/** A delivery this worker holds: its attempt (with the lease), its destination (secret included) and its alert. */
export interface ClaimedDelivery {
  deliveryId: number;
  attemptId: number;
  /** 1 for the first attempt. */
  attempt: number;
  startedAt: Date;
  /** When the delivery was queued (a delivery retried for a day is abandoned). */
  queuedAt: Date;
  destinationId: number;
  destinationName: string;
  url: string;
  secret: string;
  format: AlertFormat;
  alert: StoredAlert;
}

/** What one POST came to. `error` null: delivered (a 2xx answer). */
export interface AttemptResult {
  httpStatus: number | null;
  error: string | null;
  /** The start of the response body, truncated. */
  excerpt: string | null;
  durationMs: number;
}

/** Runs `fn` in a transaction on one client of the pool. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

// graphile-worker's getJobs: the due rows, oldest first, locked with SKIP LOCKED so replicas
// claiming at once take different rows; each claimed row gets an attempt (numbered after the
// ones before it) whose lease is also its next due time, so a claim whose worker dies is due
// again when the lease ends. Rows of a disabled destination are never claimed.
const CLAIM = `
  WITH due AS (
    SELECT d.id FROM sqp_refresh_work.alert_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1::timestamptz
      AND EXISTS (SELECT 1 FROM sqp_refresh_work.alert_destinations dest WHERE dest.id = d.destination_id AND dest.disabled_at IS NULL)
    ORDER BY d.next_attempt_at, d.id
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
  ), attempt AS (
    INSERT INTO sqp_refresh_work.alert_delivery_attempts (delivery_id, attempt, worker_name, started_at, claimed_until)
    SELECT due.id, (SELECT count(*) FROM sqp_refresh_work.alert_delivery_attempts a WHERE a.delivery_id = due.id) + 1,
           $2, $1::timestamptz, $1::timestamptz + $3::int * interval '1 millisecond'
    FROM due
    RETURNING id, delivery_id, attempt, started_at
  ), claimed AS (
    UPDATE sqp_refresh_work.alert_deliveries d
    SET claimed_attempt_id = attempt.id, next_attempt_at = $1::timestamptz + $3::int * interval '1 millisecond'
    FROM attempt WHERE d.id = attempt.delivery_id
    RETURNING d.id, d.alert_id, d.destination_id, d.created_at, attempt.id AS attempt_id, attempt.attempt, attempt.started_at
  )
  SELECT c.id AS "deliveryId", c.attempt_id AS "attemptId", c.attempt, c.started_at AS "startedAt", c.created_at AS "queuedAt",
         dest.id AS "destinationId", dest.name AS "destinationName", dest.url, dest.secret, dest.format,
         a.event_id::text AS "eventId", a.kind, a.config_id AS "configId", a.table_schema AS "tableSchema",
         a.table_name AS "tableName", a.run_id AS "runId", a.reason, a.occurred_at AS "occurredAt"
  FROM claimed c
  JOIN sqp_refresh_work.alerts a ON a.id = c.alert_id
  JOIN sqp_refresh_work.alert_destinations dest ON dest.id = c.destination_id
  ORDER BY c.id`;

/** Claims up to `limit` due deliveries for `workerName`, each with a new attempt leased for `leaseMs`. */
export async function claimDueDeliveries(db: Db, o: { now: Date; workerName: string; leaseMs: number; limit: number }): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<Omit<ClaimedDelivery, 'alert'> & StoredAlert>(CLAIM, [o.now, o.workerName, o.leaseMs, o.limit]);
  return rows.map(({ eventId, kind, configId, tableSchema, tableName, runId, reason, occurredAt, ...claim }) => ({
    ...claim,
    alert: { eventId, kind, configId, tableSchema, tableName, runId, reason, occurredAt },
  }));
}

const FINISH_ATTEMPT = `
  UPDATE sqp_refresh_work.alert_delivery_attempts
  SET finished_at = $2, duration_ms = $3, http_status = $4, error = $5, response_excerpt = $6
  WHERE id = $1`;

function finishAttempt(db: Db, c: ClaimedDelivery, r: AttemptResult, now: Date) {
  return db.query(FINISH_ATTEMPT, [c.attemptId, now, Math.round(r.durationMs), r.httpStatus, r.error, r.excerpt]);
}

/** The delivery's state changes only while this attempt still holds it (no other worker took over after its lease). */
const HELD = `id = $1 AND claimed_attempt_id = $2 AND status = 'pending'`;

/**
 * Records a delivered attempt: the attempt, the delivery (if this attempt still holds it) and the
 * destination healthy again. Returns whether the delivery's state was this attempt's to change.
 */
export async function recordDelivered(pool: pg.Pool, c: ClaimedDelivery, r: AttemptResult, now: Date): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    await finishAttempt(client, c, r, now);
    const { rowCount } = await client.query(
      `UPDATE sqp_refresh_work.alert_deliveries SET status = 'delivered', delivered_at = $3, claimed_attempt_id = NULL WHERE ${HELD}`,
      [c.deliveryId, c.attemptId, now],
    );
    await client.query(
      `UPDATE sqp_refresh_work.alert_destinations SET failing_since = NULL, last_error = NULL, last_success_at = $2 WHERE id = $1`,
      [c.destinationId, now],
    );
    return rowCount === 1;
  });
}

/** What became of a failed attempt's delivery. */
export interface FailureRecord {
  /** This attempt still held the delivery, so its result decided the delivery's state. */
  counted: boolean;
  /** The destination was disabled by this failure (its pending deliveries abandoned). */
  disabled: boolean;
  /** The delivery was abandoned (its destination disabled, or queued for giveUpAfterMs). */
  abandoned: boolean;
}

export interface FailurePolicy {
  now: Date;
  /** When this delivery is tried again (the worker's backoff). */
  retryAt: Date;
  /** A destination failing this long is disabled; a delivery queued this long is abandoned. */
  giveUpAfterMs: number;
}

/**
 * Records a failed attempt: the attempt, the destination failing (since its first failure in a
 * row; disabled, its pending deliveries abandoned, once that is `giveUpAfterMs` ago), and the
 * delivery retried at `retryAt` or, queued that long, abandoned. Lock order: destination, then deliveries.
 */
export async function recordFailed(pool: pg.Pool, c: ClaimedDelivery, r: AttemptResult, p: FailurePolicy): Promise<FailureRecord> {
  return inTransaction(pool, async (client) => {
    await finishAttempt(client, c, r, p.now);
    const { rows: [dest] } = await client.query<{ failing_since: Date | null; disabled_at: Date | null }>(
      `SELECT failing_since, disabled_at FROM sqp_refresh_work.alert_destinations WHERE id = $1 FOR UPDATE`,
      [c.destinationId],
    );
    if (!dest) return { counted: false, disabled: false, abandoned: false }; // deleted meanwhile, its deliveries with it
    const failingSince = dest.failing_since ?? c.startedAt;
    const disable = dest.disabled_at === null && p.now.getTime() - failingSince.getTime() >= p.giveUpAfterMs;
    await client.query(
      `UPDATE sqp_refresh_work.alert_destinations SET failing_since = $2, last_error = $3,
         disabled_at = CASE WHEN $4 THEN $5 ELSE disabled_at END, disabled_reason = CASE WHEN $4 THEN 'failing' ELSE disabled_reason END
       WHERE id = $1`,
      [c.destinationId, failingSince, r.error, disable, p.now],
    );
    if (disable) {
      await abandonPending(client, c.destinationId, `the destination failed every attempt for ${hours(p.giveUpAfterMs)} and was disabled`, p.now);
      return { counted: true, disabled: true, abandoned: true };
    }
    const giveUp = p.now.getTime() - c.queuedAt.getTime() >= p.giveUpAfterMs;
    const { rowCount } = giveUp
      ? await client.query(
          `UPDATE sqp_refresh_work.alert_deliveries SET status = 'abandoned', abandoned_at = $3, abandon_reason = $4, claimed_attempt_id = NULL WHERE ${HELD}`,
          [c.deliveryId, c.attemptId, p.now, `every attempt failed for ${hours(p.giveUpAfterMs)}`],
        )
      : await client.query(`UPDATE sqp_refresh_work.alert_deliveries SET next_attempt_at = $3, claimed_attempt_id = NULL WHERE ${HELD}`, [
          c.deliveryId,
          c.attemptId,
          p.retryAt,
        ]);
    return { counted: rowCount === 1, disabled: false, abandoned: giveUp && rowCount === 1 };
  });
}

const hours = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 1000)} s`);

/** Abandons a destination's pending deliveries (it was disabled): they are shown, not retried. */
export async function abandonPending(db: Db, destinationId: number, reason: string, now: Date): Promise<void> {
  await db.query(
    `UPDATE sqp_refresh_work.alert_deliveries SET status = 'abandoned', abandoned_at = $3, abandon_reason = $2, claimed_attempt_id = NULL
     WHERE destination_id = $1 AND status = 'pending'`,
    [destinationId, reason, now],
  );
}

/** When the next pending delivery of an enabled destination is due (a lease's end included); null: none. */
export async function nextDueAt(db: Db): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT min(d.next_attempt_at) AS at FROM sqp_refresh_work.alert_deliveries d
     JOIN sqp_refresh_work.alert_destinations dest ON dest.id = d.destination_id AND dest.disabled_at IS NULL
     WHERE d.status = 'pending'`,
  );
  return rows[0]?.at ?? null;
}
