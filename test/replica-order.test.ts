// Parents before dependents on any number of replicas: 2 and 3 service processes
// (`sqp-refresh start`) start together on a fresh database, five times each, with every seed
// table due at once and the demo source to create. From the audit log: every table refreshed
// from a source that had rows; no hard dependent's run started before, or overlapped, its
// parent's successful run; no table ran twice at once; nothing is left due or running.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { eventually } from './support/until.ts';

const root = path.resolve(import.meta.dirname, '..');
const SEED_TABLES = 8;
const ROUNDS = Number(process.env.ORDER_ROUNDS ?? 5);

function startReplica(url: string, name: string): { child: ChildProcess; output: string[]; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: 'false', WORKER_NAME: name, DEMO_WEEKS: '3', RUNNER_SCHEDULE: '*/5 * * * * *' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${output.join('')}`)));
    const look = () => (output.join('').includes('GraphiQL is ready') ? resolve() : setTimeout(look, 50));
    look();
  });
  return { child, output, ready };
}

interface Run { id: number; table: string; status: string; start: Date; end: Date | null; rows: number; worker: string }

async function round(replicas: number): Promise<void> {
  const database = await createTestDatabase();
  const pool = openTestPool(database.url, 2);
  const started = Array.from({ length: replicas }, (_, i) => startReplica(database.url, `order-${replicas}-${i}`));
  try {
    await Promise.all(started.map((s) => s.ready));
    // Done: every seed table has a success, nothing is due or running.
    await eventually(async () => {
      const { rows: [s] } = await pool.query(
        `SELECT (SELECT count(DISTINCT table_name) FROM sqp.refresh_audit_log WHERE status = 'success')::int AS done,
                (SELECT count(*) FROM sqp.refresh_audit_log WHERE status = 'running')::int AS running,
                (SELECT count(*) FROM sqp.refresh_config WHERE is_enabled AND custom_sync_params <> '{}' AND next_refresh_at <= now())::int AS due`);
      return s.done === SEED_TABLES && s.running === 0 && s.due === 0;
    }, 90_000, `${replicas} replicas to refresh every seed table`);

    const { rows: runs } = await pool.query<Run>(
      `SELECT id, table_name AS table, status, refresh_started_at AS start, refresh_completed_at AS "end", rows_processed AS rows, sync_metadata->>'worker' AS worker
       FROM sqp.refresh_audit_log ORDER BY id`);
    const { rows: edges } = await pool.query<{ parent: string; dependent: string }>(
      `SELECT p.table_name AS parent, d.table_name AS dependent FROM sqp.refresh_dependencies e
       JOIN sqp.refresh_config p ON p.id = e.parent_config_id JOIN sqp.refresh_config d ON d.id = e.dependent_config_id
       WHERE coalesce(e.dependency_type, 'hard') = 'hard'`);
    expect(edges.length).toBeGreaterThanOrEqual(5);
    const of = (t: string) => runs.filter((r) => r.table === t);
    const overlaps = (a: Run, b: Run) => a.start < (b.end ?? new Date(8.64e15)) && b.start < (a.end ?? new Date(8.64e15));
    const problems: string[] = [];
    for (const e of edges) {
      const firstParentSuccess = of(e.parent).find((r) => r.status === 'success');
      for (const d of of(e.dependent)) {
        if (!firstParentSuccess || d.start < firstParentSuccess.end!) problems.push(`${e.dependent} #${d.id} (${d.worker}) started before ${e.parent} first succeeded`);
        for (const p of of(e.parent)) if (overlaps(d, p)) problems.push(`${e.dependent} #${d.id} (${d.worker}) overlapped ${e.parent} #${p.id} (${p.worker})`);
      }
    }
    for (const t of new Set(runs.map((r) => r.table))) {
      const list = of(t);
      for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) if (overlaps(list[i]!, list[j]!)) problems.push(`${t} ran twice at once: #${list[i]!.id}, #${list[j]!.id}`);
    }
    expect(problems).toEqual([]);
    // The demo source was created once and read complete: the loaded tables hold what it holds.
    const { rows: [n] } = await pool.query(
      `SELECT (SELECT count(*) FROM sqp_demo.asin_performance_data)::int AS source, (SELECT count(*) FROM sqp.asin_performance_data)::int AS target,
              (SELECT count(*) FROM sqp_demo.daily_sqp_data)::int AS daily_source, (SELECT count(*) FROM sqp.daily_sqp_data)::int AS daily_target`);
    expect(n.source).toBeGreaterThan(0);
    expect(n).toEqual({ source: n.source, target: n.source, daily_source: n.daily_source, daily_target: n.daily_source });
    expect(runs.filter((r) => r.status === 'success' && r.table.endsWith('_summary') && r.rows === 0)).toEqual([]);
    for (const s of started) expect(s.child.exitCode).toBe(null);
  } finally {
    await Promise.all(started.map((s) => new Promise((resolve) => {
      if (s.child.exitCode !== null) return resolve(null);
      s.child.once('exit', resolve);
      s.child.kill('SIGTERM');
    })));
    await pool.end();
    await database.drop();
  }
}

describe('replicas refresh parents before dependents', () => {
  for (const replicas of [2, 3]) {
    it(`${replicas} processes started together, five times: order kept, every table once at a time, nothing left`, async () => {
      for (let i = 0; i < ROUNDS; i++) await round(replicas);
    }, 600_000);
  }
});
