// Whether a target is exactly as its last publish left it: the proof a run needs before it may
// skip reading (write.ts), and what the publish records for the next run (publish.ts).
//
// A target's identity is (version, relfilenode). Migration 039 gives every target table a
// statement-level trigger, enabled ALWAYS (session_replication_role = replica does not skip it),
// that moves the table's version in sqp_refresh_work.target_versions in the writer's own
// transaction on every INSERT, UPDATE, DELETE and TRUNCATE — one row update per statement,
// whatever the rows. relfilenode changes with TRUNCATE, VACUUM FULL, CLUSTER and a table created
// again, triggers or not. The publish records both after its own writes; a run is `untouched`
// only when both are still the same and the trigger is still there, exactly ours and enabled.
// Anything else reads: `touched` reads everything (a read since the watermark cannot bring back
// deleted rows), `untracked` (the trigger cannot see every write, or this role may not install
// it) and `unrecorded` (the last publish predates 039) read as they always did, never skipping.
//
// The price: ~0.15 ms per writing statement (bench/target-identity.ts), and two transactions
// writing one target at once take turns on its version row (the service writes a target from
// one run at a time; outside writers are the exception this exists to catch).
//
// What it cannot see (README, "Success means equal"): a table owner who disables the trigger,
// edits rows and enables it again (TRUNCATE is still seen: relfilenode); writes that bypass SQL
// (a file-level restore, pg_resetwal); rows of sqp_refresh_work.target_versions written by hand.
import type pg from 'pg';
import type { TargetTable } from './catalog.ts';
import type { RunMetadata } from './run-metadata.ts';

export type TargetIdentity = NonNullable<RunMetadata['targetIdentity']>;
type TouchedReason = NonNullable<RunMetadata['targetTouched']>['reason'];

/** What a run knows of its target before it reads (see the header). */
export type TargetCheck =
  | { state: 'untouched' }
  | { state: 'touched'; reason: TouchedReason }
  | { state: 'unrecorded' }
  | { state: 'untracked'; reason: string };

/** How the publish found the target, with the counter row locked (lockTarget). */
export type PublishTracking = { tracked: false; reason: string } | { tracked: true; touched: TouchedReason | null };

/** Why a table cannot be tracked (migration 039's target_tracking_gap and track_target), for the audit row. */
const UNTRACKED: Record<string, string> = {
  partitioned: 'a partitioned table: its partitions are written directly, out of sight of a trigger on it',
  inheritance: 'a table with a parent or children: a statement on one of them fires only its own triggers',
  replicated: 'a logical replication subscriber: its apply worker fires no statement trigger',
  noTrigger: 'its change trigger sqp_refresh_target_version is missing',
  triggerNotAlways: 'its change trigger is disabled (or not enabled ALWAYS)',
  triggerChanged: 'a trigger named sqp_refresh_target_version that is not the one migration 039 installs',
  notOwner: "this role does not own the table, so it may not install the change trigger (its owner may, given USAGE ON SCHEMA sqp_refresh_work: SELECT sqp_refresh_work.track_target(schema, table))",
  missing: 'the table does not exist',
};

/** The audit row's words for an untracked target: the reason's code and what it means. */
export function untrackedFact(reason: string): { reason: string; message: string } {
  const message = UNTRACKED[reason];
  return message ? { reason, message: `${message}; it is read on every run` } : { reason: 'error', message: `could not install the change trigger (${reason}); it is read on every run` };
}

interface IdentityRow {
  gap: string | null;
  relfilenode: string;
  version: string | null;
}

// One statement, no scan: the catalog row, the trigger's state and the version row. The same
// text with `FOR UPDATE OF v` (an inner join then: the row exists once track_target ran) locks
// the version row, so that no writer's statement can end between the publish's reads and its commit.
const IDENTITY_SQL = (lock: boolean) => `
  SELECT sqp_refresh_work.target_tracking_gap(c.oid) AS gap, c.relfilenode::text AS relfilenode, v.version::text AS version
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  ${lock ? 'JOIN' : 'LEFT JOIN'} sqp_refresh_work.target_versions v ON v.table_schema = n.nspname AND v.table_name = c.relname
  WHERE n.nspname = $1 AND c.relname = $2${lock ? ' FOR UPDATE OF v' : ''}`;

async function readIdentity(client: pg.ClientBase, target: TargetTable, lock = false): Promise<IdentityRow | null> {
  return (await client.query<IdentityRow>(IDENTITY_SQL(lock), [target.schema, target.name])).rows[0] ?? null;
}

/** How the target now compares with what the last publish recorded. */
function compare(now: IdentityRow | null, previous: RunMetadata | undefined): TargetCheck {
  const recorded = previous?.targetIdentity;
  if (previous?.targetTouched?.repair === 'nextRun') return { state: 'touched', reason: 'notRepaired' };
  const gap = now ? now.gap : 'missing';
  // The trigger went away (or was disabled) since the identity was recorded: writes meanwhile may not have moved the version.
  if (gap !== null) return recorded ? { state: 'touched', reason: 'trackingLost' } : { state: 'untracked', reason: gap };
  if (!recorded) return { state: 'unrecorded' };
  if (now!.relfilenode !== recorded.relfilenode) return { state: 'touched', reason: 'rewritten' };
  // A missing version row (sqp_refresh_work emptied) is a change too: the recorded one was never null.
  if (now!.version !== recorded.version) return { state: 'touched', reason: 'edited' };
  return { state: 'untouched' };
}

/** Before a read: whether the target is as the last successful publish recorded it. No lock, no scan. */
export async function checkTarget(client: pg.ClientBase, target: TargetTable, previous: RunMetadata | undefined): Promise<TargetCheck> {
  return compare(await readIdentity(client, target), previous);
}

/**
 * Inside the publish transaction, before its first read of the target: makes the target tracked
 * where this role may (installs the trigger the first time), then waits for writers holding
 * the table (a TRUNCATE in progress) and locks its version row. From here to the commit every
 * other writer's statement waits at its trigger, so the identity recorded at the end is exactly
 * what this publish left; a writer whose rows this publish also writes may be cancelled as a
 * deadlock instead (PostgreSQL picks one of the two; the publish's rows win when it is the writer).
 */
export async function lockTarget(client: pg.ClientBase, target: TargetTable, previous: RunMetadata | undefined): Promise<PublishTracking> {
  const { rows: [t] } = await client.query<{ outcome: string }>(`SELECT sqp_refresh_work.track_target($1, $2) AS outcome`, [target.schema, target.name]);
  const outcome = t!.outcome;
  if (outcome !== 'tracked' && outcome !== 'installed') return { tracked: false, reason: outcome };
  await client.query(`LOCK TABLE ${target.qualified} IN ROW EXCLUSIVE MODE`);
  const check = compare(await readIdentity(client, target, true), previous);
  // Just installed while an identity was recorded: the trigger was gone meanwhile, writes may be unseen.
  if (outcome === 'installed' && previous?.targetIdentity) return { tracked: true, touched: 'trackingLost' };
  return { tracked: true, touched: check.state === 'touched' ? check.reason : null };
}

/** At the end of the publish (version row still locked): the identity to record, its own writes included. */
export async function identityAfterPublish(client: pg.ClientBase, target: TargetTable): Promise<TargetIdentity> {
  const row = await readIdentity(client, target);
  return { version: row!.version!, relfilenode: row!.relfilenode };
}
