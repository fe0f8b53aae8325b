// What "success means equal" costs (src/runner/engine/target-identity.ts, migration 039), on
// sqp.asin_performance_data holding 1,000,000 SQP rows (BENCH_ROWS for a quick trial):
//  - the check of a run that may skip (checkTarget: one catalog statement), per skipped run;
//  - the recording of a publish (lockTarget: track_target, LOCK TABLE … ROW EXCLUSIVE, the
//    version row locked; identityAfterPublish: read back), per publish, in a transaction
//    rolled back so that every repetition measures the same thing;
//  - the trigger on a write: a single-row UPDATE with the statement trigger enabled and
//    disabled, alternating in blocks (a publish runs 1 to 3 statements; an outside writer pays
//    it once per statement, never per row), and one UPDATE of 100,000 rows both ways;
//  - for scale, what a scan of the rows would cost (a checksum of every row), the alternative
//    the trigger avoids.
// Targets: the check and the recording each ≤ 5 ms at 1M rows; the trigger ≤ 1 ms per statement.
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { describeTable, type TargetTable } from '../src/runner/engine/catalog.ts';
import { checkTarget, identityAfterPublish, lockTarget, type TargetIdentity } from '../src/runner/engine/target-identity.ts';
import { envCount, type Bench, type Figure } from './support.ts';
import { SQP_COLUMN_NAMES, sqpCopyText } from './sqp-fixture.ts';

const REPEATS = 201;
const STATEMENTS = 2_000;
const COPY_CHUNK = 100_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Milliseconds of each of `n` calls of `f`. */
async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return ms;
}

async function fill(client: pg.ClientBase, rows: number): Promise<void> {
  for (let from = 0; from < rows; from += COPY_CHUNK) {
    const text = sqpCopyText(from, Math.min(rows, from + COPY_CHUNK));
    await pipeline(Readable.from([text]), client.query(copyFrom(`COPY sqp.asin_performance_data (${SQP_COLUMN_NAMES.join(', ')}) FROM STDIN`)));
  }
  await client.query(`VACUUM ANALYZE sqp.asin_performance_data`);
}

/** What a publish adds, once: lock and read before, read after. */
async function recordOnce(client: pg.ClientBase, target: TargetTable, commit: boolean): Promise<TargetIdentity> {
  await client.query('BEGIN');
  await lockTarget(client, target, undefined);
  const identity = await identityAfterPublish(client, target);
  await client.query(commit ? 'COMMIT' : 'ROLLBACK');
  return identity;
}

/** µs per single-row UPDATE (by key) with the trigger enabled and disabled, in alternating blocks. */
async function triggerPerStatement(client: pg.ClientBase): Promise<{ on: number; off: number }> {
  const on: number[] = [];
  const off: number[] = [];
  const { rows: [key] } = await client.query(`SELECT asin, search_query, start_date FROM sqp.asin_performance_data LIMIT 1`);
  const update = `UPDATE sqp.asin_performance_data SET search_query_score = search_query_score + 1 WHERE asin = $1 AND search_query = $2 AND start_date = $3`;
  for (let b = 0; b < 10; b++) {
    const enabled = b % 2 === 0;
    await client.query(`ALTER TABLE sqp.asin_performance_data ${enabled ? 'ENABLE ALWAYS' : 'DISABLE'} TRIGGER sqp_refresh_target_version`);
    const ms = await timed(STATEMENTS / 10, () => client.query(update, [key.asin, key.search_query, key.start_date]));
    (enabled ? on : off).push(median(ms));
  }
  await client.query(`ALTER TABLE sqp.asin_performance_data ENABLE ALWAYS TRIGGER sqp_refresh_target_version`);
  return { on: median(on) * 1000, off: median(off) * 1000 };
}

async function bigUpdate(client: pg.ClientBase, enabled: boolean): Promise<number> {
  await client.query(`ALTER TABLE sqp.asin_performance_data ${enabled ? 'ENABLE ALWAYS' : 'DISABLE'} TRIGGER sqp_refresh_target_version`);
  // The first week: 100,000 rows (bench/sqp-fixture.ts: 250 queries × 400 ASINs a week).
  const [ms] = await timed(1, () => client.query(`UPDATE sqp.asin_performance_data SET search_query_score = search_query_score + 1
    WHERE start_date = (SELECT min(start_date) FROM sqp.asin_performance_data)`));
  await client.query(`ALTER TABLE sqp.asin_performance_data ENABLE ALWAYS TRIGGER sqp_refresh_target_version`);
  return ms!;
}

export const targetIdentityBench: Bench = {
  name: 'target-identity',
  description: 'success means equal: the untouched-target check and its recording at 1M rows',
  async run(ctx) {
    const rows = envCount('BENCH_ROWS', 1_000_000);
    const client = new pg.Client({ connectionString: ctx.databaseUrl });
    await client.connect();
    try {
      ctx.log(`filling sqp.asin_performance_data with ${rows.toLocaleString('en-US')} rows …`);
      await fill(client, rows);
      const target = (await describeTable(client, 'sqp', 'asin_performance_data'))!;
      const identity = await recordOnce(client, target, true);
      const previous = { targetIdentity: identity };
      const check = await checkTarget(client, target, previous);
      if (check.state !== 'untouched') throw new Error(`expected untouched, got ${JSON.stringify(check)}`);
      const checkMs = median(await timed(REPEATS, () => checkTarget(client, target, previous)));
      const recordMs = median(await timed(REPEATS, () => recordOnce(client, target, false)));
      ctx.log('trigger per statement …');
      const perStatement = await triggerPerStatement(client);
      const bigOn = await bigUpdate(client, true);
      const bigOff = await bigUpdate(client, false);
      ctx.log('checksum scan, for scale …');
      const [scanMs] = await timed(1, () => client.query(`SELECT count(*), sum(hashtext(t::text)::bigint) FROM sqp.asin_performance_data t`));
      const figures: Figure[] = [
        { id: 'target_check_ms', label: `check before a skip (${rows.toLocaleString('en-US')} rows), median of ${REPEATS}`, value: round(checkMs), unit: 'ms', target: '≤ 5 ms', pass: checkMs <= 5 },
        { id: 'target_record_ms', label: 'recording at a publish (lock before, read after), median', value: round(recordMs), unit: 'ms', target: '≤ 5 ms', pass: recordMs <= 5 },
        {
          id: 'target_trigger_us', label: 'trigger per writing statement (1-row UPDATE, on − off)', value: round(perStatement.on - perStatement.off), unit: 'µs',
          target: '≤ 1000 µs', pass: perStatement.on - perStatement.off <= 1000, note: `on ${round(perStatement.on)} µs, off ${round(perStatement.off)} µs`,
        },
        { id: 'target_trigger_big_update_ms', label: 'UPDATE of 100,000 rows (one week), trigger on / off', value: round(bigOn - bigOff), unit: 'ms', shown: `${Math.round(bigOn)} / ${Math.round(bigOff)} ms`, note: 'one statement: one version move' },
        { id: 'target_checksum_scan_ms', label: 'for scale: a checksum scan of every row (what the trigger avoids)', value: Math.round(scanMs!), unit: 'ms' },
      ];
      return figures;
    } finally {
      await client.end();
    }
  },
};

const round = (n: number) => Math.round(n * 100) / 100;
