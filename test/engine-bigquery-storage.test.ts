// The BigQuery source's Storage Read path end to end: real refreshes into PostgreSQL with the
// official clients against the local REST and Storage Read test servers, which serve the same
// job results (the REST job's destination table is the Storage Read session's table). The same
// fixture of every type loaded both ways gives identical target rows (with the record batches
// ZSTD-compressed, as the source asks by default, and without compression); a stream failing with
// UNAVAILABLE is resumed at its offset; an expired session starts the load over; a session
// refused with PERMISSION_DENIED makes the read take the REST pages, logged once.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig as loadServiceConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { refreshTable, type RefreshOptions } from '../src/runner/engine/refresh-table.ts';
import { parseSyncParams } from '../src/runner/params/sync-params.ts';
import { createDecodePool } from '../src/runner/sources/decode/decode-pool.ts';
import { createSources } from '../src/runner/sources/registry.ts';
import type { BigQueryStorageSettings } from '../src/runner/sources/bigquery/bigquery.ts';
import { startBigQueryTestServer, testBigQuerySource, type BigQueryTestServer } from './support/bigquery-server.ts';
import { startBigQueryStorageTestServer, type BigQueryStorageTestServer } from './support/bigquery-storage-server.ts';
import { EVERY_TYPE_COLUMNS, EVERY_TYPE_FIELDS, everyTypeRows } from './support/bigquery-every-type.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { loadConfig, registerTestTable, tableChecksum } from './support/refresh.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 4);
const decodePool = createDecodePool({ threads: 1 });
let rest: BigQueryTestServer;
let storage: BigQueryStorageTestServer;
/** The service's log lines, as JSON. */
const logged: { msg: string; reason?: string; table?: string }[] = [];

const QUERY = 'SELECT * FROM `p.ds.every_type`';
const N = 2000;
const COLUMNS = EVERY_TYPE_FIELDS.map((f) => f.name);

function options(port = storage.port, settings: BigQueryStorageSettings | null = { apiEndpoint: storage.endpoint, port, insecure: true, maxStreams: 4 }): RefreshOptions {
  const logger = createLogger({ level: 'info', pretty: false }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  // Batches convert on a real decode worker, as in the service.
  const bigquery = testBigQuerySource(rest, { storage: settings, logger, decodePool });
  return { pool, sources: createSources({ targetUrl: database.url, bigquery }) };
}

const run = (table: string, port?: number, settings?: BigQueryStorageSettings | null) => loadConfig(pool, table).then((c) => refreshTable(c, options(port, settings)));

async function register(table: string, readApi: 'storage' | 'rest' | undefined): Promise<void> {
  await pool.query(`CREATE TABLE sqp.${table} (${EVERY_TYPE_COLUMNS})`);
  const source = { type: 'bigquery', query: QUERY, nulReplacement: '\uFFFD', ...(readApi ? { readApi } : {}) };
  await registerTestTable(pool, { tableName: table, customSyncParams: { source, pageSize: 300 } });
}

/** Every row of a table as PostgreSQL's text of the whole row, in id order. */
const rowTexts = async (table: string) => (await pool.query<{ t: string }>(`SELECT t::text FROM sqp.${table} t ORDER BY id`)).rows.map((r) => r.t);

const readRows = () => storage.requests.filter((r) => r.method === 'ReadRows');
const sessionRequests = () => storage.requests.filter((r) => r.method === 'CreateReadSession');

beforeAll(async () => {
  rest = await startBigQueryTestServer({ projectId: 'sqp-test' });
  storage = await startBigQueryStorageTestServer({ rowsPerResponse: 64, resultTables: (t) => rest.resultTable(t) });
  await register('via_rest', 'rest');
  await register('via_storage', 'storage');
  await register('via_default', undefined);
  await register('via_default_rest', undefined);
  for (const t of ['uncompressed', 'resumed', 'expired', 'stale', 'denied', 'unreachable', 'no_credentials', 'empty']) await register(t, 'storage');
  // The REST path's rows are the reference the Storage Read path is held to.
  rest.addQuery(QUERY, { schema: EVERY_TYPE_FIELDS, rows: everyTypeRows(N) });
  const reference = await run('via_rest');
  expect(reference).toMatchObject({ status: 'success', rowsProcessed: N });
});

beforeEach(() => {
  logged.length = 0;
});

afterAll(async () => {
  await decodePool.close();
  await storage?.close();
  await rest?.close();
  await pool.end();
  await database.drop();
});

describe('BigQuery Storage Read path', () => {
  it('loads every type into the same target rows as the REST path, byte for byte, its record batches ZSTD-compressed', async () => {
    const before = readRows().length;
    const sessions = sessionRequests().length;
    const result = await run('via_storage');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N, rowsInserted: N });
    expect(await rowTexts('via_storage')).toEqual(await rowTexts('via_rest'));
    expect(await tableChecksum(pool, 'sqp.via_storage', COLUMNS)).toEqual(await tableChecksum(pool, 'sqp.via_rest', COLUMNS));
    // Read as four Arrow streams of the job's result table, not as REST pages after the first answer;
    // the session asked for ZSTD (the default on this Node), and its batches came so.
    expect(sessionRequests().slice(sessions).map((r) => r.compression)).toEqual(['ZSTD']);
    expect(readRows().slice(before).map((r) => r.compression)).toEqual(['ZSTD', 'ZSTD', 'ZSTD', 'ZSTD']);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata).toMatchObject({ readApi: 'storage', readCompression: 'zstd' });
    const { rows: [restAudit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE table_name = 'via_rest'`);
    expect(restAudit.sync_metadata.readApi).toBe('rest');
  });

  it('with BIGQUERY_STORAGE_COMPRESSION=none, the session asks for no compression and loads the same rows', async () => {
    // The Storage Read settings as the service reads them from its environment.
    const env = { BIGQUERY_PROJECT_ID: 'sqp-test', BIGQUERY_STORAGE_API_ENDPOINT: `${storage.endpoint}:${storage.port}`, BIGQUERY_STORAGE_INSECURE: 'true' };
    expect(() => loadServiceConfig({ ...env, BIGQUERY_STORAGE_COMPRESSION: 'lz4' })).toThrow(/BIGQUERY_STORAGE_COMPRESSION/);
    const settings = loadServiceConfig({ ...env, BIGQUERY_STORAGE_COMPRESSION: 'none' }).bigquery!.storage!;
    const before = readRows().length;
    const sessions = sessionRequests().length;
    const result = await run('uncompressed', undefined, settings);
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N, rowsInserted: N });
    expect(await rowTexts('uncompressed')).toEqual(await rowTexts('via_rest'));
    expect(sessionRequests().slice(sessions).map((r) => [r.compression, r.request['readSession']])).toEqual([
      ['COMPRESSION_UNSPECIFIED', expect.not.objectContaining({ readOptions: expect.anything() })],
    ]);
    expect(readRows().slice(before).map((r) => r.compression)).toEqual(['COMPRESSION_UNSPECIFIED', 'COMPRESSION_UNSPECIFIED', 'COMPRESSION_UNSPECIFIED', 'COMPRESSION_UNSPECIFIED']);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata).toMatchObject({ readApi: 'storage', readCompression: 'none' });
  });

  it('a table that names no readApi reads through the Storage Read API where it is configured, and says nothing of it', async () => {
    const sessions = sessionRequests().length;
    const result = await run('via_default');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N });
    expect(await rowTexts('via_default')).toEqual(await rowTexts('via_rest'));
    expect(sessionRequests()).toHaveLength(sessions + 1);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata).toMatchObject({ readApi: 'storage', readCompression: 'zstd' });
    expect(audit.sync_metadata.readApiFallback).toBeUndefined();
    expect(logged.filter((l) => /Storage Read API not used/.test(l.msg))).toEqual([]);
  });

  it('where the Storage Read API is not configured (a BIGQUERY_API_ENDPOINT of its own alone), a table that names no readApi reads the REST pages and says nothing of it', async () => {
    expect(loadServiceConfig({ BIGQUERY_PROJECT_ID: 'p', BIGQUERY_API_ENDPOINT: rest.url }).bigquery!.storage).toBeNull();
    expect(loadServiceConfig({ BIGQUERY_PROJECT_ID: 'p' }).bigquery!.storage).toEqual({ insecure: false }); // Google's endpoint
    const sessions = sessionRequests().length;
    const result = await run('via_default_rest', undefined, null);
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N });
    expect(await rowTexts('via_default_rest')).toEqual(await rowTexts('via_rest'));
    expect(sessionRequests()).toHaveLength(sessions);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata.readApi).toBe('rest');
    expect(audit.sync_metadata.readApiFallback).toBeUndefined();
    expect(logged.filter((l) => /Storage Read API not used/.test(l.msg))).toEqual([]);
  });

  it('resumes a stream that fails mid-way with UNAVAILABLE at its offset: exact counts, target equals source', async () => {
    storage.failStreamAfter(1, 100);
    const before = readRows().length;
    const result = await run('resumed');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N, rowsInserted: N, rowsUpdated: 0 });
    expect(await rowTexts('resumed')).toEqual(await rowTexts('via_rest'));
    const calls = readRows().slice(before).map((r) => [r.request['offset'], r.code, r.rows]);
    expect(calls.filter(([, code]) => code === 14)).toEqual([['0', 14, 100]]);
    expect(calls.filter(([offset]) => offset === '100')).toEqual([['100', 0, N / 4 - 100]]);
    expect(calls.reduce((sum, [, , rows]) => sum + (rows as number), 0)).toBe(N); // no row read twice
  });

  it('an expired session fails its load as expired; the next run starts over and ends with the target equal to the source', async () => {
    const pause = storage.pauseStreamsAfter(200);
    const first = run('expired');
    await pause.reached(4);
    storage.expireSessions();
    pause.release();
    const failed = await first;
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.errorDetails).toMatchObject({ reason: 'sessionExpired', expired: true, retryable: true, code: 9 });
    const { rows: checkpoints } = await pool.query(`SELECT status FROM sqp.refresh_checkpoints WHERE table_name = 'expired'`);
    expect(checkpoints.map((c) => c.status)).toEqual(['expired']);

    const sessions = sessionRequests().length;
    const again = await run('expired');
    expect(again.errorMessage).toBeNull();
    expect(again).toMatchObject({ status: 'success', resumed: false, rowsProcessed: N, rowsInserted: N });
    expect(await rowTexts('expired')).toEqual(await rowTexts('via_rest'));
    expect(sessionRequests()).toHaveLength(sessions + 1);
  });

  it('a load paused for longer than its session lives starts over in the next run, which succeeds (no failed run, no read of the old session)', async () => {
    const pause = storage.pauseStreamsAfter(200);
    const stop = new AbortController();
    const first = loadConfig(pool, 'stale').then((c) => refreshTable(c, { ...options(), shutdownSignal: stop.signal }));
    await pause.reached(4);
    stop.abort();
    pause.release();
    const paused = await first;
    expect(paused).toMatchObject({ status: 'warning', outcome: 'paused' });
    expect(paused.rowsProcessed).toBeGreaterThan(0);

    const sessions = sessionRequests().length;
    const reads = readRows().length;
    // Seven hours on: the checkpoint's session (6 h) has expired.
    const later = new Date(Date.now() + 7 * 3_600_000);
    const again = await loadConfig(pool, 'stale').then((c) => refreshTable(c, { ...options(), now: () => later }));
    expect(again.errorMessage).toBeNull();
    expect(again).toMatchObject({ status: 'success', resumed: false, rowsProcessed: N, rowsInserted: N });
    expect(await rowTexts('stale')).toEqual(await rowTexts('via_rest'));
    expect(sessionRequests()).toHaveLength(sessions + 1);
    expect(readRows().slice(reads).map((r) => r.request['offset'] ?? '0')).toEqual(['0', '0', '0', '0']);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [again.runId]);
    expect(audit.sync_metadata.restartedLoad).toEqual({ reason: 'sourceExpired' });
  });

  it('PERMISSION_DENIED on the session: the read takes the REST pages, says why once in the log, and the audit row says rest', async () => {
    storage.denySessions(1);
    const result = await run('denied');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ status: 'success', rowsProcessed: N });
    expect(await rowTexts('denied')).toEqual(await rowTexts('via_rest'));
    const told = logged.filter((l) => /Storage Read API not used/.test(l.msg));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ reason: 'permissionDenied', table: 'sqp.denied' });
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata).toMatchObject({ readApi: 'rest', readApiFallback: 'permissionDenied' });
  });

  it('a Storage Read API that cannot be reached: the read takes the REST pages, logged once, audit says why', async () => {
    const result = await run('unreachable', 9); // nothing listens on the discard port
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ rowsProcessed: N });
    expect(await rowTexts('unreachable')).toEqual(await rowTexts('via_rest'));
    expect(logged.filter((l) => /Storage Read API not used/.test(l.msg)).map((l) => l.reason)).toEqual(['unavailable']);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata).toMatchObject({ readApi: 'rest', readApiFallback: 'unavailable' });
  });

  it('a client that cannot start (no Google credentials on this machine): each read takes the REST pages, logged, and none is failed by the one before', async () => {
    expect(process.env.GOOGLE_APPLICATION_CREDENTIALS).toBeUndefined();
    const settings = { apiEndpoint: storage.endpoint, port: storage.port }; // not insecure: the client asks for Google's credentials
    const source = options(storage.port, settings);
    for (let i = 0; i < 2; i++) {
      const result = await loadConfig(pool, 'no_credentials').then((c) => refreshTable(c, source));
      expect(result.errorMessage).toBeNull();
      expect(result).toMatchObject({ status: 'success', rowsProcessed: N });
      const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
      expect(audit.sync_metadata).toMatchObject({ readApi: 'rest', readApiFallback: 'unavailable' });
    }
    expect(await rowTexts('no_credentials')).toEqual(await rowTexts('via_rest'));
    const told = logged.filter((l) => /Storage Read API not used/.test(l.msg));
    expect(told.map((l) => l.reason)).toEqual(['unavailable', 'unavailable']);
    expect(JSON.stringify(told)).toMatch(/did not start: .*credentials/);
  });

  it('an empty result (a session without streams) loads an empty target', async () => {
    const EMPTY = 'SELECT * FROM `p.ds.every_type` WHERE FALSE';
    rest.addQuery(EMPTY, { schema: EVERY_TYPE_FIELDS, rows: [] });
    await pool.query(`UPDATE sqp.refresh_config SET custom_sync_params = jsonb_set(custom_sync_params, '{source,query}', to_jsonb($1::text)) WHERE table_name = 'empty'`, [EMPTY]);
    const before = readRows().length;
    const result = await run('empty');
    expect(result.errorMessage).toBeNull();
    expect(result).toMatchObject({ rowsProcessed: 0, rowsInserted: 0 });
    expect(readRows().length).toBe(before);
    const { rows: [audit] } = await pool.query(`SELECT sync_metadata FROM sqp.refresh_audit_log WHERE id = $1`, [result.runId]);
    expect(audit.sync_metadata.readApi).toBe('storage');
  });

  it('refuses a readApi it does not know, naming the path', () => {
    expect(() => parseSyncParams({ source: { type: 'bigquery', query: QUERY, readApi: 'arrow' } })).toThrow(/source\.readApi/);
  });
});
