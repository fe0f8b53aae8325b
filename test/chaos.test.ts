// Chaos: two service processes (`sqp-refresh start`) on one database refresh a 200,000-row
// postgres-source table while the test terminates their connections at random (the run's,
// the source's, the LISTEN one, idle pool ones) at least ten times. Every process must stay
// alive and answer /health throughout, the target must end equal to the source, the audit log
// must tell each interrupted run, and each replica must end with exactly one LISTEN connection.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { forceRefresh } from '../src/commands/refresh.ts';
import { graphql } from './generated/index.ts';
import { execute } from './support/graphql.ts';
import { subscribeWs } from './support/live.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { registerTestTable, tableChecksum } from './support/refresh.ts';
import { eventually } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const ROWS = 200_000;
const read = createToken('dashboard', 'read');
const operate = createToken('tooling', 'operate');

interface Replica {
  name: string;
  child: ChildProcess;
  url: string;
  output: string[];
}
const replicas: Replica[] = [];

function startReplica(name: string): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: {
      ...process.env, DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: 'false', WORKER_NAME: name,
      API_TOKENS: `${read.entry},${operate.entry}`, RUNNER_SCHEDULE: '*/2 * * * * *', RUNNER_RETRY_MAX_ATTEMPTS: '100', RUNNER_RETRY_BASE_SECONDS: '0.1', RUNNER_RETRY_MAX_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const replica: Replica = { name, child, url: '', output: [] };
  replicas.push(replica);
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        replica.output.push(line);
        const m = /GraphiQL is ready at (http:\/\/\S+?)"/.exec(line);
        if (m) {
          replica.url = m[1]!;
          resolve(replica);
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => replica.output.push(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${replica.output.join('\n')}`)));
  });
}

beforeAll(async () => {
  await pool.query(`UPDATE sqp.refresh_config SET is_enabled = false`);
  await pool.query(`CREATE SCHEMA src; CREATE TABLE src.chaos (id int PRIMARY KEY, asin text NOT NULL, v bigint NOT NULL)`);
  await pool.query(`INSERT INTO src.chaos SELECT g, 'B0' || lpad(g::text, 8, '0'), g * 7 FROM generate_series(1, ${ROWS}) g`);
  await pool.query(`CREATE TABLE sqp.chaos (id int PRIMARY KEY, asin text NOT NULL, v bigint NOT NULL)`);
  await registerTestTable(pool, {
    tableName: 'chaos', isEnabled: true, nextRefreshAt: '30 days',
    customSyncParams: { source: { type: 'postgres', query: 'SELECT id, asin, v FROM src.chaos' }, pageSize: 2000, quality: { rowCountChange: { min: -1, max: 1000 } } },
  });
  await Promise.all([startReplica('chaos-a'), startReplica('chaos-b')]);
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => new Promise((resolve) => {
    if (r.child.exitCode !== null) return resolve(null);
    r.child.once('exit', resolve);
    r.child.kill('SIGTERM');
  })));
  await pool.end();
  await database.drop();
});

const Events = graphql(`subscription ChaosEvents($filter: RefreshEventFilter) { refreshEvents(filter: $filter) { __typename } }`);
const Force = graphql(`mutation ChaosForce($input: ForceRefreshInput!) { forceRefresh(input: $input) { __typename } }`);

type Kind = 'run' | 'source' | 'listen' | 'pool';

/** Terminates one random backend of a kind; true when there was one. */
async function terminateOne(kind: Kind): Promise<boolean> {
  const where: Record<Kind, string> = {
    run: `pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('sqp.chaos')::oid)`,
    source: `application_name = 'sqp-refresh source'`,
    listen: `application_name = 'sqp-refresh listen'`,
    pool: `application_name IN ('sqp-refresh', 'sqp-refresh session') AND state = 'idle' AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')`,
  };
  const { rows } = await pool.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM (
       SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where[kind]}
       ORDER BY random() LIMIT 1) one`,
  );
  return rows[0]?.ok === true;
}

it('survives ten or more random connection losses: processes alive, /health always up, target equal to source', async () => {
  const started = Date.now();
  const healthFailures: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const r of replicas) {
        try {
          const res = await fetch(new URL('/health', r.url), { signal: AbortSignal.timeout(2000) });
          if (res.status !== 200) healthFailures.push(`${r.name}: ${res.status}`);
        } catch (err) {
          healthFailures.push(`${r.name}: ${(err as Error).message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const hits: Record<Kind, number> = { run: 0, source: 0, listen: 0, pool: 0 };
  const total = () => Object.values(hits).reduce((a, b) => a + b, 0);
  const force = () => forceRefresh({ pool, dailyByteBudget: null, requestedBy: 'chaos', waitMs: 0 }, { tableSchema: 'sqp', tableName: 'chaos', cascade: false, mode: null, dryRun: false });
  const running = async () => (await pool.query(`SELECT count(*)::int AS n FROM sqp.refresh_audit_log WHERE table_name = 'chaos' AND status = 'running'`)).rows[0].n > 0;

  await force();
  // Interrupt until at least ten connections were cut, each kind at least once where it can be.
  const kinds: Kind[] = ['run', 'source', 'listen', 'pool'];
  for (let i = 0; total() < 10 || hits.run === 0 || hits.source === 0 || hits.listen === 0 || hits.pool === 0; i++) {
    if (i > 400) throw new Error(`too few interruptions landed: ${JSON.stringify(hits)}`);
    const kind = kinds[Math.floor(Math.random() * kinds.length)]!;
    if ((kind === 'run' || kind === 'source') && !(await running())) {
      // Nothing to interrupt: ask for another refresh (a request is never lost, see below).
      if (!(await pool.query(`SELECT 1 FROM sqp_refresh_work.refresh_requests`)).rowCount) await force();
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    if (await terminateOne(kind)) hits[kind]++;
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 250));
  }
  // One more refresh after the storm; it and every retry must end in success.
  const last = await force();
  await eventually(async () => {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM sqp.refresh_audit_log WHERE table_name = 'chaos' AND status = 'success' AND sync_metadata->'requestIds' @> to_jsonb($1::bigint)`, [last.requestId]);
    return rows[0].n === 1 && !(await running());
  }, 120_000, 'the last forced refresh to succeed');
  polling = false;
  await poller;

  // The processes lived, and answered /health all along.
  for (const r of replicas) expect({ name: r.name, exitCode: r.child.exitCode }).toEqual({ name: r.name, exitCode: null });
  expect(healthFailures).toEqual([]);
  // The target equals the source: same rows, same values, nothing doubled (count + checksum).
  expect(await tableChecksum(pool, 'sqp.chaos', ['id', 'asin', 'v'])).toEqual(await tableChecksum(pool, 'src.chaos', ['id', 'asin', 'v']));
  // Every request was used; nothing is left due or running.
  expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.refresh_requests`)).rows[0].n).toBe(0);
  // The audit log tells each interrupted run: failed, retryable, with its reason; and resumes.
  const { rows: runs } = await pool.query(
    `SELECT status, error_details, sync_metadata FROM sqp.refresh_audit_log WHERE table_name = 'chaos' ORDER BY id`);
  const failed = runs.filter((r) => r.status === 'failed');
  expect(failed.length).toBeGreaterThanOrEqual(1);
  expect(failed.length).toBeLessThanOrEqual(hits.run + hits.source);
  for (const f of failed) expect(f.error_details).toMatchObject({ retryable: true });
  const resumes = runs.filter((r) => r.sync_metadata.resumedFromCheckpoint === true).length;
  // Each process logged each loss of its LISTEN connection, and has exactly one again.
  const listenLost = replicas.reduce((n, r) => n + r.output.filter((l) => l.includes('LISTEN connection lost')).length, 0);
  expect(listenLost).toBeGreaterThanOrEqual(hits.listen);
  await eventually(async () => (await pool.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqp-refresh listen'`)).rows[0].n === 2, 20_000, 'one LISTEN connection per replica');

  // After every kind of loss, events still cross replicas: forced on A, seen live on B.
  const [a, b] = replicas as [Replica, Replica];
  await eventually(async () => /^sqp_refresh_subscribers 0$/m.test(await (await fetch(new URL('/metrics', b.url))).text()), 10_000, 'B serving');
  const sub = subscribeWs(b.url.replace(/^http/, 'ws'), Events, { filter: { tableName: 'chaos' } }, { authorization: `Bearer ${read.token}` }, (i) => i.refreshEvents.__typename === 'RunFinished');
  await sub.ready;
  await eventually(async () => /^sqp_refresh_subscribers 1$/m.test(await (await fetch(new URL('/metrics', b.url))).text()), 10_000, 'the subscription registered on B');
  const forcedOnA = await execute(a.url, Force, { input: { tableSchema: 'sqp', tableName: 'chaos', cascade: false } }, { authorization: `Bearer ${operate.token}` });
  expect(forcedOnA.data!.forceRefresh.__typename).toBe('ForceRefreshPayload');
  const seenOnB = (await sub.results).map((e) => e.refreshEvents.__typename);
  expect(seenOnB[0]).toBe('RunStarted');
  expect(seenOnB.at(-1)).toBe('RunFinished');

  console.log(`chaos: ${total()} connections terminated ${JSON.stringify(hits)}, ${runs.length} runs (${failed.length} interrupted, ${resumes} resumed), ${ROWS} rows, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 300_000);
