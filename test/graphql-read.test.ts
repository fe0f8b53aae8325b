// The read graph over real HTTP against a real PostgreSQL: the seeded graph, filters,
// pagination, node lookups, argument errors, and a constant statement count.
import { readFile } from 'node:fs/promises';
import { buildSchema, printSchema } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTestDatabase } from './support/db.ts';
import { execute, executeRaw } from './support/graphql.ts';
import { graphql } from './generated/index.ts';

const database = await createTestDatabase();
let server: TestApp;
let sql: pg.Client;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  // History for asin_performance_data: an older failed run and a newer successful one with
  // two quality metrics; an active checkpoint for weekly_summary.
  await sql.query(`
    INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at,
      refresh_completed_at, status, rows_processed, rows_inserted, rows_updated, rows_deleted, execution_time_ms,
      memory_used_mb, error_message, bigquery_job_id)
    SELECT id, table_schema, table_name, now() - interval '2 days', now() - interval '2 days' + interval '5 s',
      'failed', 0, 0, 0, 0, 5000, 12.5, 'rateLimitExceeded', 'job_old'
    FROM sqp.refresh_config WHERE table_name = 'asin_performance_data';
    INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at,
      refresh_completed_at, status, rows_processed, rows_inserted, rows_updated, rows_deleted, execution_time_ms,
      memory_used_mb, bigquery_job_id)
    SELECT id, table_schema, table_name, now() - interval '1 day', now() - interval '1 day' + interval '9 s',
      'success', 1000, 900, 100, 0, 9000, 40.25, 'job_new'
    FROM sqp.refresh_config WHERE table_name = 'asin_performance_data';
    INSERT INTO sqp.refresh_data_quality (audit_log_id, metric_name, metric_value, expected_value, threshold_min, threshold_max, is_within_threshold)
    SELECT max(id), 'row_count_match', 1000, 1000, 0.99, 1.01, true FROM sqp.refresh_audit_log WHERE status = 'success';
    INSERT INTO sqp.refresh_data_quality (audit_log_id, metric_name, metric_value, expected_value, threshold_min, threshold_max, is_within_threshold)
    SELECT max(id), 'freshness_days', 9, 0, 0, 7, false FROM sqp.refresh_audit_log WHERE status = 'success';
    INSERT INTO sqp.refresh_checkpoints (function_name, table_schema, table_name, checkpoint_data, last_processed_row, total_rows, status)
    VALUES ('worker-a', 'sqp', 'weekly_summary', '{"pageToken":"p3"}', 9007199254740993, 9007199254740999, 'active');
    UPDATE sqp.refresh_config SET is_enabled = false WHERE table_name = 'yearly_summary';
    -- Due as the runner sees it (src/runner/state/due.ts): overdue, and configured.
    UPDATE sqp.refresh_config SET next_refresh_at = now() - interval '1 hour',
      custom_sync_params = '{"source": {"type": "postgres", "query": "SELECT 1"}}'
    WHERE table_name IN ('daily_sqp_data', 'weekly_summary');
  `);
  server = await startTestApp(database.url);
});

afterAll(async () => {
  await server?.stop();
  await sql?.end();
  await database.drop();
});

const ConfigsQuery = graphql(`
  query Configs($first: Int, $after: String, $filter: RefreshConfigFilter) {
    refreshConfigs(first: $first, after: $after, filter: $filter) {
      edges {
        cursor
        node {
          id
          tableSchema
          tableName
          priority
          isEnabled
          nextRefreshAt
          dependencies
          parents { tableName }
          dependents { tableName }
          latestRun { status bigqueryJobId }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

describe('refreshConfigs', () => {
  it('returns the seeded graph ordered by priority, then next refresh', async () => {
    const { data, errors } = await execute(server.url, ConfigsQuery, { first: 20 });
    expect(errors).toBeUndefined();
    const nodes = data!.refreshConfigs.edges.map((e) => e.node);
    expect(nodes.map((n) => n.tableName)).toEqual([
      'daily_sqp_data', // 90, overdue
      'asin_performance_data', // 90
      'weekly_summary', // 80, overdue
      'search_performance_summary',
      'monthly_summary',
      'quarterly_summary',
      'yearly_summary',
      'search_query_performance', // 70
    ]);
    const asin = nodes.find((n) => n.tableName === 'asin_performance_data')!;
    expect(asin.dependents.map((d) => d.tableName)).toEqual(['search_performance_summary', 'weekly_summary', 'monthly_summary']);
    expect(asin.latestRun).toEqual({ status: 'SUCCESS', bigqueryJobId: 'job_new' });
    const weekly = nodes.find((n) => n.tableName === 'weekly_summary')!;
    expect(weekly.parents).toEqual([{ tableName: 'asin_performance_data' }]);
    expect(weekly.dependencies).toEqual(['asin_performance_data']);
    expect(weekly.latestRun).toBeNull();
  });

  it('filters by enabled, due, schema and search', async () => {
    const names = async (filter: Record<string, unknown>) => {
      const { data, errors } = await execute(server.url, ConfigsQuery, { first: 50, filter });
      expect(errors).toBeUndefined();
      return data!.refreshConfigs.edges.map((e) => e.node.tableName).sort();
    };
    expect(await names({ isEnabled: false })).toEqual(['yearly_summary']);
    expect(await names({ due: true })).toEqual(['daily_sqp_data', 'weekly_summary']);
    expect(await names({ due: false })).toHaveLength(6);
    expect(await names({ search: 'SUMMARY', isEnabled: true })).toEqual([
      'monthly_summary', 'quarterly_summary', 'search_performance_summary', 'weekly_summary',
    ]);
    expect(await names({ tableSchema: 'public' })).toEqual([]);
  });

  it('pages with first/after without gaps or repeats', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: Awaited<ReturnType<typeof execute<any, any>>> = await execute(server.url, ConfigsQuery, { first: 3, after });
      const conn = res.data!.refreshConfigs;
      seen.push(...conn.edges.map((e: { node: { tableName: string } }) => e.node.tableName));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
  });

  it('refuses invalid arguments with errors that say what is wrong', async () => {
    const negative = await executeRaw(server.url, '{ refreshConfigs(first: -1) { edges { cursor } } }');
    expect(negative.body.errors?.[0]?.message).toMatch(/first/i);
    expect(negative.body.data?.refreshConfigs ?? null).toBeNull();

    const huge = await executeRaw(server.url, 'query ($n: Int) { refreshConfigs(first: $n) { edges { cursor } } }', { n: 10000 });
    expect(huge.body.errors?.[0]?.message).toMatch(/first/i);
    expect(huge.body.errors?.[0]?.message).toMatch(/100/);
    console.log('first: 10000 →', huge.body.errors?.[0]?.message);

    // Written literally, the page size counts in the query's cost, which is refused first.
    const hugeLiteral = await executeRaw(server.url, '{ refreshConfigs(first: 10000) { edges { node { tableName } } } }');
    expect(hugeLiteral.body.errors?.[0]?.message).toMatch(/cost limit/i);

    const badEnum = await executeRaw(server.url, '{ refreshRuns(filter: { status: DONE }) { edges { cursor } } }');
    expect(badEnum.status).toBe(400);
    expect(badEnum.body.errors?.[0]?.message).toMatch(/RefreshStatus/);

    const unknownField = await executeRaw(server.url, '{ refreshConfigs(filter: { colour: "red" }) { edges { cursor } } }');
    expect(unknownField.body.errors?.[0]?.message).toMatch(/colour/);
  });
});

const OneConfigQuery = graphql(`
  query OneConfig($tableSchema: String!, $tableName: String!) {
    refreshConfig(tableSchema: $tableSchema, tableName: $tableName) {
      id
      tableName
      runs(first: 10) {
        edges {
          node {
            id
            status
            rowsProcessed
            memoryUsedMb
            errorMessage
            config { tableName }
            qualityMetrics { metricName metricValue thresholdMax isWithinThreshold }
          }
        }
      }
    }
  }
`);

describe('refreshConfig, refreshRuns, checkpoints, quality, node', () => {
  it('returns one config with its runs newest first and their quality metrics', async () => {
    const { data, errors } = await execute(server.url, OneConfigQuery, { tableSchema: 'sqp', tableName: 'asin_performance_data' });
    expect(errors).toBeUndefined();
    const runs = data!.refreshConfig!.runs.edges.map((e) => e.node);
    expect(runs.map((r) => r.status)).toEqual(['SUCCESS', 'FAILED']);
    expect(runs[0]).toMatchObject({ rowsProcessed: 1000, memoryUsedMb: 40.25, config: { tableName: 'asin_performance_data' } });
    expect(runs[0]!.qualityMetrics).toEqual([
      { metricName: 'row_count_match', metricValue: 1000, thresholdMax: 1.01, isWithinThreshold: true },
      { metricName: 'freshness_days', metricValue: 9, thresholdMax: 7, isWithinThreshold: false },
    ]);
    expect(runs[1]!.errorMessage).toBe('rateLimitExceeded');

    const missing = await execute(server.url, OneConfigQuery, { tableSchema: 'sqp', tableName: 'nope' });
    expect(missing.data!.refreshConfig).toBeNull();
  });

  const RunsQuery = graphql(`
    query Runs($filter: RefreshRunFilter) {
      refreshRuns(first: 10, filter: $filter) { edges { node { id tableName status } } }
    }
  `);

  it('filters runs by status, table and time', async () => {
    const failed = await execute(server.url, RunsQuery, { filter: { status: 'FAILED' } });
    expect(failed.data!.refreshRuns.edges.map((e) => e.node.status)).toEqual(['FAILED']);
    const since = new Date(Date.now() - 36 * 3600_000).toISOString();
    const recent = await execute(server.url, RunsQuery, { filter: { since, tableName: 'asin_performance_data' } });
    expect(recent.data!.refreshRuns.edges.map((e) => e.node.status)).toEqual(['SUCCESS']);
    const none = await execute(server.url, RunsQuery, { filter: { tableName: 'weekly_summary' } });
    expect(none.data!.refreshRuns.edges).toEqual([]);
  });

  const CheckpointsAndMetrics = graphql(`
    query CheckpointsAndMetrics($status: CheckpointStatus, $within: Boolean) {
      refreshCheckpoints(filter: { status: $status }) {
        edges { node { id tableName functionName status lastProcessedRow totalRows checkpointData } }
      }
      qualityMetrics(filter: { isWithinThreshold: $within }) {
        edges { node { id metricName run { tableName } } }
      }
    }
  `);

  it('lists checkpoints and quality metrics with exact 64-bit row numbers', async () => {
    const { data, errors } = await execute(server.url, CheckpointsAndMetrics, { status: 'ACTIVE', within: false });
    expect(errors).toBeUndefined();
    expect(data!.refreshCheckpoints.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({
        tableName: 'weekly_summary',
        functionName: 'worker-a',
        status: 'ACTIVE',
        lastProcessedRow: '9007199254740993',
        totalRows: '9007199254740999',
        checkpointData: { pageToken: 'p3' },
      }),
    ]);
    expect(data!.qualityMetrics.edges.map((e) => e.node.metricName)).toEqual(['freshness_days']);
    const completed = await execute(server.url, CheckpointsAndMetrics, { status: 'COMPLETED', within: true });
    expect(completed.data!.refreshCheckpoints.edges).toEqual([]);
    expect(completed.data!.qualityMetrics.edges.map((e) => e.node.metricName)).toEqual(['row_count_match']);
  });

  const NodeQuery = graphql(`
    query NodeLookup($id: ID!) {
      node(id: $id) {
        __typename
        id
        ... on RefreshConfig { tableName }
        ... on RefreshRun { status }
        ... on RefreshCheckpoint { tableName }
        ... on QualityMetric { metricName }
        ... on RefreshDependency { parent { tableName } dependent { tableName } dependencyType }
      }
    }
  `);

  it('resolves every type through node(id)', async () => {
    const ids = await execute(server.url, graphql(`
      query Ids {
        refreshConfig(tableSchema: "sqp", tableName: "weekly_summary") {
          id
          parentDependencies { id }
        }
        refreshRuns(first: 1) { edges { node { id } } }
        refreshCheckpoints { edges { node { id } } }
        qualityMetrics(first: 1) { edges { node { id } } }
      }
    `));
    const d = ids.data!;
    const lookups = [
      [d.refreshConfig!.id, { __typename: 'RefreshConfig', tableName: 'weekly_summary' }],
      [d.refreshConfig!.parentDependencies[0]!.id, {
        __typename: 'RefreshDependency',
        parent: { tableName: 'asin_performance_data' },
        dependent: { tableName: 'weekly_summary' },
        dependencyType: 'HARD',
      }],
      [d.refreshRuns.edges[0]!.node.id, { __typename: 'RefreshRun', status: 'SUCCESS' }],
      [d.refreshCheckpoints.edges[0]!.node.id, { __typename: 'RefreshCheckpoint', tableName: 'weekly_summary' }],
      [d.qualityMetrics.edges[0]!.node.id, { __typename: 'QualityMetric' }],
    ] as const;
    for (const [id, expected] of lookups) {
      const { data, errors } = await execute(server.url, NodeQuery, { id });
      expect(errors).toBeUndefined();
      expect(data!.node).toMatchObject({ id, ...expected });
    }
  });
});

describe('efficiency', () => {
  it('lists 100 configs with latestRun, parents and dependents in a constant number of statements', async () => {
    // 92 more configs in a chain, each with two runs: 100 in all. One statement of plain SQL, not
    // registerTable: the configs only need to be listed (their tables need not exist, nor be in
    // a data schema), and 92 registrations and their edges through the commands would be slow.
    await sql.query(`
      INSERT INTO sqp.refresh_config (table_schema, table_name, priority, next_refresh_at)
      SELECT 'bench', 't' || lpad(i::text, 3, '0'), 50, now() + i * interval '1 minute' FROM generate_series(1, 92) i;
      INSERT INTO sqp.refresh_dependencies (parent_config_id, dependent_config_id)
      SELECT p.id, d.id FROM sqp.refresh_config p JOIN sqp.refresh_config d
        ON p.table_schema = 'bench' AND d.table_schema = 'bench' AND d.table_name > p.table_name
       AND d.table_name <= 't' || lpad((substr(p.table_name, 2)::int + 2)::text, 3, '0');
      INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, status)
      SELECT id, table_schema, table_name, now() - g * interval '1 hour', 'success'
      FROM sqp.refresh_config, generate_series(1, 2) g WHERE table_schema = 'bench';
    `);
    const count = async (first: number) => {
      server.statements.length = 0;
      const { data, errors } = await execute(server.url, ConfigsQuery, { first });
      expect(errors).toBeUndefined();
      expect(data!.refreshConfigs.edges).toHaveLength(first);
      return server.statements.length;
    };
    const ten = await count(10);
    const hundred = await count(100);
    expect(hundred).toBe(ten);
    expect(hundred).toBeLessThanOrEqual(8);
    console.log(`statements for 100 configs with latestRun, parents, dependents: ${hundred}`);
  });
});

describe('contract', () => {
  it('schema.graphql is what the code builds (run `npm run codegen` when this fails)', async () => {
    const committed = await readFile(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(printSchema(buildSchema(committed))).toBe(printSchema(schema));
  });
});
