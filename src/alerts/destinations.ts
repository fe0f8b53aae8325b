// Webhook destinations, managed by an admin (the graph's mutations call these). Everything is
// validated before anything is written, so a refusal writes nothing; names are unique as people
// read them (the database's index decides, under any concurrency); the secret is write-only:
// stored for signing, never returned, never in an error.
import type pg from 'pg';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { ALERT_FORMATS, ALERT_KINDS, type AlertFormat, type AlertKind } from './alert.ts';
import { abandonPending, inTransaction } from './sql.ts';

/** NUL (which text cannot hold), line breaks and the other control characters. */
const CONTROL = /[\u0000-\u001f\u007f]/;
const NO_CONTROL = 'must not contain control characters (NUL, line breaks, …)';

/** Why a webhook URL is refused, or null: absolute http(s) with a host, no credentials, no fragment. */
function webhookUrlProblem(raw: string): string | null {
  if (raw.length > 2048) return 'must be at most 2048 characters';
  if (/\s/.test(raw) || CONTROL.test(raw)) return 'must not contain spaces or control characters';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL, such as https://hooks.example.com/sqp';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be http or https, not ${url.protocol.slice(0, -1)}`;
  // A password in the URL would be readable by every admin and logged by proxies: the signature
  // (with the write-only secret) is how a receiver knows the sender.
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  if (!url.hostname) return 'must name a host';
  if (raw.includes('#')) return 'must not have a fragment (#…): it is never sent';
  return null;
}

const Name = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters').refine((s) => !CONTROL.test(s), NO_CONTROL);
const Url = z.string().superRefine((s, ctx) => {
  const problem = webhookUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
// Never echoed back: the messages below say what is wrong with it, never what it is.
const Secret = z.string().min(16, 'must be at least 16 characters').max(1024, 'must be at most 1024 characters').refine((s) => !CONTROL.test(s), NO_CONTROL);
const Events = z
  .array(z.enum(ALERT_KINDS))
  .min(1, 'must name at least one kind (leave it out for every kind)')
  .transform((kinds) => [...new Set(kinds)]);

const CreateInput = z.object({ name: Name, url: Url, secret: Secret, format: z.enum(ALERT_FORMATS).nullish(), events: Events.nullish() });
const UpdateInput = z.object({
  name: Name.nullish(),
  url: Url.nullish(),
  secret: Secret.nullish(),
  format: z.enum(ALERT_FORMATS).nullish(),
  events: Events.nullish(),
  enabled: z.boolean().nullish(),
});

export interface DestinationInput {
  name: string;
  url: string;
  secret: string;
  /** Default json. */
  format?: AlertFormat | null;
  /** Default every kind. */
  events?: AlertKind[] | null;
}

/** What an update may change; fields left out (or null) keep their value. `enabled: true` also clears a failing streak. */
export type DestinationChanges = { [K in keyof DestinationInput]?: DestinationInput[K] | null } & { enabled?: boolean | null };

function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, '');
  return parsed.data;
}

/**
 * A write's error as the caller may see it: a duplicate name becomes a ConflictError; anything
 * else loses PostgreSQL's `detail`, which for a refused row quotes the row, secret included.
 */
function writeError(error: unknown, name: string | null | undefined): unknown {
  const e = error as { code?: string; constraint?: string; detail?: string };
  if (e.code === '23505' && e.constraint === 'alert_destinations_name') {
    return new ConflictError('name', `name: a destination named "${name}" exists already`);
  }
  if (e && typeof e === 'object' && 'detail' in e) delete e.detail;
  return error;
}

/** Creates a webhook destination; returns its id. */
export async function createAlertDestination(pool: pg.Pool, input: DestinationInput): Promise<number> {
  const d = parse(CreateInput, input);
  try {
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO sqp_refresh_work.alert_destinations (name, url, secret, format, events) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [d.name, d.url, d.secret, d.format ?? 'json', d.events ?? [...ALERT_KINDS]],
    );
    return rows[0]!.id;
  } catch (error) {
    throw writeError(error, d.name);
  }
}

// Enabling clears what a disable left (a failing streak, its last error); disabling (by an admin)
// keeps them, and abandons the pending deliveries below, as a day of failures does.
const UPDATE = `
  UPDATE sqp_refresh_work.alert_destinations SET
    name = coalesce($2, name),
    url = coalesce($3, url),
    secret = coalesce($4, secret),
    format = coalesce($5, format),
    events = coalesce($6::text[], events),
    disabled_at = CASE WHEN $7::boolean THEN NULL WHEN NOT $7::boolean THEN coalesce(disabled_at, now()) ELSE disabled_at END,
    disabled_reason = CASE WHEN $7::boolean THEN NULL WHEN NOT $7::boolean THEN coalesce(disabled_reason, 'admin') ELSE disabled_reason END,
    failing_since = CASE WHEN $7::boolean AND disabled_at IS NOT NULL THEN NULL ELSE failing_since END,
    last_error = CASE WHEN $7::boolean AND disabled_at IS NOT NULL THEN NULL ELSE last_error END,
    updated_at = now()
  WHERE id = $1
  RETURNING disabled_at IS NOT NULL AS disabled`;

/** Changes a destination; fields left out keep their value. Disabling abandons its pending deliveries. */
export async function updateAlertDestination(pool: pg.Pool, id: number, changes: DestinationChanges): Promise<number> {
  const d = parse(UpdateInput, changes);
  try {
    await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ disabled: boolean }>(UPDATE, [
        id,
        d.name ?? null,
        d.url ?? null,
        d.secret ?? null,
        d.format ?? null,
        d.events ?? null,
        d.enabled ?? null,
      ]);
      if (!rows[0]) throw new NotFoundError('id', String(id), `id: alert destination ${id} does not exist`);
      if (rows[0].disabled) await abandonPending(client, id, 'the destination was disabled', new Date());
    });
    return id;
  } catch (error) {
    throw writeError(error, d.name);
  }
}

/** Deletes a destination with its deliveries and their attempts (the alerts stay); returns its name. */
export async function deleteAlertDestination(pool: pg.Pool, id: number): Promise<string> {
  const { rows } = await pool.query<{ name: string }>(`DELETE FROM sqp_refresh_work.alert_destinations WHERE id = $1 RETURNING name`, [id]);
  if (!rows[0]) throw new NotFoundError('id', String(id), `id: alert destination ${id} does not exist`);
  return rows[0].name;
}
