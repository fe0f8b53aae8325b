// The event log's statements (migration 042), one exported function each: append a batch, read
// what follows an id, the newest id (of all, or of one run), prune a batch. Ids are bigints in
// commit order, carried as decimal strings (JavaScript numbers lose bigints' precision) and
// compared as BigInt. Each statement is a single one, so the pooled connection (which may be a
// transaction pooler) serves them all; the append's lock is transaction-level for that reason.
import type pg from 'pg';
import type { LoggedEvent, RefreshEvent } from './events.ts';

type Db = Pick<pg.Pool, 'query'>;

/** Which events a reader wants; every field given must hold. */
export interface EventFilter {
  tableSchema?: string | null;
  tableName?: string | null;
  runId?: number | null;
}

/** Whether an event matches a filter (the live half of what readEventsAfter's WHERE says). */
export function matchesFilter(event: RefreshEvent, f: EventFilter): boolean {
  if (f.tableSchema && event.tableSchema !== f.tableSchema) return false;
  if (f.tableName && event.tableName !== f.tableName) return false;
  if (f.runId != null && (!('runId' in event) || event.runId !== f.runId)) return false;
  return true;
}

const MAX_ID = 2n ** 63n - 1n;

/** Whether `value` is an event id as the log writes them (a decimal bigint). */
export function isEventId(value: string): boolean {
  return /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_ID;
}

/** Whether id `a` comes after id `b` in the log. */
export function isAfter(a: string, b: string): boolean {
  return BigInt(a) > BigInt(b);
}

/** Thrown by a replay asked for events after an id the log no longer keeps (pruned by retention). */
export class EventsExpiredError extends Error {
  override name = 'EventsExpiredError';
  constructor(
    readonly after: string,
    /** Every event up to this id may be gone. */
    readonly prunedThrough: string,
  ) {
    super(`events after ${after} are no longer kept (the log keeps events after ${prunedThrough})`);
  }
}

/**
 * Appends events in the order given, in one transaction (migration 042's append_refresh_events:
 * the log's lock, the ids, the NOTIFY); resolves with the highest id. `batch` names a writer's
 * batch so that sending it again after a lost connection appends nothing (then: null).
 */
export async function appendEvents(db: Db, events: RefreshEvent[], batch?: { writer: string; seq: number }): Promise<string | null> {
  const { rows } = await db.query<{ last: string | null }>('SELECT sqp_refresh_work.append_refresh_events($1::jsonb, $2, $3) AS last', [
    JSON.stringify(events),
    batch?.writer ?? null,
    batch?.seq ?? null,
  ]);
  return rows[0]?.last ?? null;
}

/**
 * Logs the end (run:finished, from its audit row) of every run started since `since` that ended
 * more than `quietSeconds` ago and whose end is not in the log: its process died (or lost the
 * database) between its commit and its event (migration 042's sweep). Resolves with how many.
 */
export async function logUntoldRunEnds(db: Db, since: Date, quietSeconds: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT sqp_refresh_work.log_untold_run_ends($1, make_interval(secs => $2)) AS n`, [since, quietSeconds]);
  return rows[0]!.n;
}

/**
 * Appends events as appendEvents does and resolves with those appended, each with its id (an end
 * of a run already logged is left out, migration 042; a batch appended already gives none).
 */
export async function appendEventsWithIds(db: Db, events: RefreshEvent[], batch?: { writer: string; seq: number }): Promise<LoggedEvent[]> {
  const { rows } = await db.query<{ n: string; id: string }>('SELECT n, id FROM sqp_refresh_work.append_refresh_events_ids($1::jsonb, $2, $3)', [
    JSON.stringify(events),
    batch?.writer ?? null,
    batch?.seq ?? null,
  ]);
  return rows.map((r) => ({ ...events[Number(r.n) - 1]!, id: r.id }) as LoggedEvent);
}

interface EventRow {
  id: string;
  type: RefreshEvent['type'];
  config_id: number;
  table_schema: string;
  table_name: string;
  run_id: number | null;
  payload: Record<string, unknown>;
}

/** An event from its row: the filtered columns and the rest (payload) put back together. */
function eventOf(row: EventRow): LoggedEvent {
  return {
    ...row.payload,
    id: row.id,
    type: row.type,
    configId: row.config_id,
    tableSchema: row.table_schema,
    tableName: row.table_name,
    ...(row.run_id === null ? {} : { runId: row.run_id }),
  } as LoggedEvent;
}

/** A page of the log: the events read, and the horizon (highest pruned id) seen by the same statement. */
export interface EventPage {
  events: LoggedEvent[];
  prunedThrough: string;
}

/**
 * The events after `after` that match `filter`, oldest first, at most `limit`, with the horizon
 * read in the same statement (one snapshot): when the horizon is past `after`, events the caller
 * asked for may be gone, and the page says so rather than skip them silently.
 */
export async function readEventsAfter(db: Db, after: string, filter: EventFilter, limit: number): Promise<EventPage> {
  // The horizon row always exists, so the LEFT JOIN returns it even when no event follows.
  const { rows } = await db.query<EventRow & { pruned_through: string }>(
    `SELECT h.pruned_through::text, e.id::text, e.type, e.config_id, e.table_schema, e.table_name, e.run_id, e.payload
     FROM sqp_refresh_work.refresh_event_horizon h
     LEFT JOIN LATERAL (
       SELECT * FROM sqp_refresh_work.refresh_events
       WHERE id > $1::bigint
         AND ($2::text IS NULL OR table_schema = $2) AND ($3::text IS NULL OR table_name = $3) AND ($4::int IS NULL OR run_id = $4)
       ORDER BY id LIMIT $5
     ) e ON true`,
    [after, filter.tableSchema ?? null, filter.tableName ?? null, filter.runId ?? null, limit],
  );
  return { prunedThrough: rows[0]?.pruned_through ?? '0', events: rows.filter((r) => r.id !== null).map(eventOf) };
}

/** The id of the newest event in the log; '0' when it is empty. */
export async function latestEventId(db: Db): Promise<string> {
  const { rows } = await db.query<{ id: string | null }>('SELECT max(id)::text AS id FROM sqp_refresh_work.refresh_events');
  return rows[0]?.id ?? '0';
}

/** The id of the newest event of one run; null when the log holds none. */
export async function latestRunEventId(db: Db, runId: number): Promise<string | null> {
  const { rows } = await db.query<{ id: string | null }>('SELECT max(id)::text AS id FROM sqp_refresh_work.refresh_events WHERE run_id = $1', [runId]);
  return rows[0]?.id ?? null;
}

/**
 * Deletes up to `limit` of the oldest events written before `before` and moves the horizon, in
 * one transaction; resolves with how many went, or -1 when another replica is pruning.
 */
export async function pruneEventBatch(db: Db, before: Date, limit: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>('SELECT sqp_refresh_work.prune_refresh_events($1, $2) AS deleted', [before, limit]);
  return rows[0]?.deleted ?? 0;
}
