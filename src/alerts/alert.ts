// alerts/ — someone is told. What an alert is (this file); when a table's state change is told,
// once per episode (table-alerts.ts), and which episodes are open (open-alerts.ts); the outbox an
// alert is written to in the transaction of the state change it reports (enqueue.ts); the webhook
// destinations an admin manages (destinations.ts); the body, its signature and headers
// (payload.ts); one signed POST (post.ts); the delivery worker any replica runs and the step that
// starts it (delivery.ts, its SQL in sql.ts). Tables: migration 040_alerts.
// May import: pg, node built-ins, src/errors.ts, src/logger.ts, the channels of
// src/subscriptions/listener.ts and the retry doubling of src/runner/state/planner.ts. Never the
// engine, the scheduler or the graph: the engine calls enqueueAlert, the graph reads the tables.

/** What happened to a table, as stored (the graph shows them upper-case: TABLE_FAILED, …). */
export const ALERT_KINDS = ['table_failed', 'table_recovered', 'table_late', 'table_blocked', 'backfill_failed'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** The body a destination receives: the JSON event, or Slack's `{ "text": … }`. */
export const ALERT_FORMATS = ['json', 'slack'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/** An alert as its caller reports it (enqueueAlert). */
export interface AlertInput {
  kind: AlertKind;
  configId: number;
  tableSchema: string;
  tableName: string;
  /** The run the alert is about (the failed run, the run that recovered); none for a late table. */
  runId?: number | null;
  /** Why, for people: the error, the breached check, the failed parent, how late. */
  reason: string;
  /** When the state changed. */
  at: Date;
}

/** A destination now: receiving, failing since some time, or disabled (by an admin or after a day of failures). */
export type DestinationState = 'healthy' | 'failing' | 'disabled';

/** A destination's state from its row: disabled wins over failing. */
export function destinationState(d: { disabledAt: Date | null; failingSince: Date | null }): DestinationState {
  if (d.disabledAt) return 'disabled';
  return d.failingSince ? 'failing' : 'healthy';
}

/** How one attempt ended; `lost`: its worker never reported and its lease has passed (killed, or cut off). */
export type AttemptOutcome = 'in_flight' | 'succeeded' | 'failed' | 'lost';

/** An attempt's outcome from its row: a finished attempt succeeded when it recorded no error. */
export function attemptOutcome(a: { finishedAt: Date | null; error: string | null; claimedUntil: Date }, now: Date): AttemptOutcome {
  if (a.finishedAt) return a.error === null ? 'succeeded' : 'failed';
  return a.claimedUntil.getTime() > now.getTime() ? 'in_flight' : 'lost';
}
