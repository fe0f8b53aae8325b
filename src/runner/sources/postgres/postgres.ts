// The `postgres` source: a query against a PostgreSQL database (the target's or another),
// streamed with a server-side cursor in key order. Resuming adds `WHERE (keys) > (last key)`,
// so a run continues exactly after the last committed page. The query runs as the source role
// where source-role.ts says so.
import type pg from 'pg';
import { connectSession, type SessionLimits } from '../../../database/connection.ts';
import { isConnectionLoss, isRetryableSqlState } from '../../engine/refresh-failures.ts';
import { quoteIdent } from '../../engine/catalog.ts';
import { bindNamedParams } from '../named-params.ts';
import { assumeSourceRole, type SourceRole } from './source-role.ts';
import { SourceError, type OpenReadRequest, type PagedSource, type SourcePage, type SourceRead, type TextValue } from '../source.ts';

/** Every value as PostgreSQL's own text output: exact, and valid COPY input as it is. */
const asText = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

export interface PostgresOpenRequest extends OpenReadRequest {
  source: { query: string };
}

/** pg's `queryMode: 'extended'` (in pg 8.12+, not yet in @types/pg). */
const extended = (config: pg.QueryConfig): pg.QueryConfig => ({ ...config, queryMode: 'extended' }) as pg.QueryConfig;

/** A source reading from the database at `databaseUrl`, its queries run as `role` where the connection's user is privileged (source-role.ts). */
export function createPostgresSource(databaseUrl: string, role: SourceRole, limits?: SessionLimits): PagedSource & { open(r: PostgresOpenRequest): Promise<SourceRead> } {
  return {
    async open(request: PostgresOpenRequest): Promise<SourceRead> {
      // TLS as the URL says (src/database/connection.ts), and the service's own limits: the
      // count and the cursor's transaction outlive a role's short statement_timeout and
      // idle_in_transaction_session_timeout (it is idle while each page is copied). A lost
      // connection fails the FETCH in flight (the run ends retryable and resumes from its
      // checkpoint).
      const client = await connectSession(databaseUrl, { applicationName: 'sqp-refresh source', limits }).catch((error: unknown) => {
        throw sourceError(error);
      });
      try {
        const keys = request.keyColumns;
        const bound = bindNamedParams(request.source.query, request.params);
        const lastKey = (request.resume?.lastKey as string[] | undefined) ?? null;
        const values = [...bound.values];
        const bind = (v: unknown) => `$${values.push(v)}`;
        const where: string[] = [];
        // A backfill's window: the bounds take the column's own type (text parameters).
        const w = request.window;
        if (w) where.push(`src.${quoteIdent(w.column)} >= ${bind(w.from)} AND src.${quoteIdent(w.column)} < ${bind(w.to)}`);
        if (lastKey) where.push(`(${keys.map((k) => `src.${quoteIdent(k)}`).join(', ')}) > (${lastKey.map((v) => bind(v)).join(', ')})`);
        const sql = `SELECT src.* FROM (${bound.text}) src ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${keys.map((k) => `src.${quoteIdent(k)}`).join(', ')}`;
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        // Before the query's first statement, and LOCAL: it ends with this transaction.
        await assumeSourceRole(client, role);
        // The extended protocol, always (pg uses the simple one when there are no values): it
        // runs exactly one statement, so an admin-written query cannot end the READ ONLY
        // transaction with `; COMMIT; …` and write.
        const total = await client.query<{ n: string }>(extended({ text: `SELECT count(*) AS n FROM (${sql}) counted`, values }));
        await client.query(extended({ text: `DECLARE sqp_refresh_source NO SCROLL CURSOR FOR ${sql}`, values }));
        const probe = await client.query({ text: 'FETCH 0 FROM sqp_refresh_source', rowMode: 'array', types: asText });
        const columns = probe.fields.map((f) => f.name);
        const keyIndexes = keys.map((k) => {
          const i = columns.indexOf(k);
          if (i < 0) throw new SourceError(`the source query has no key column ${k}`, { reason: 'invalidQuery', retryable: false });
          return i;
        });
        const done = Number(request.resume?.rowsBefore ?? 0);
        return {
          columns,
          totalRows: Number(total.rows[0]!.n) + done,
          stats: {},
          async *pages(): AsyncIterable<SourcePage> {
            let yielded = done;
            for (;;) {
              if (request.signal?.aborted) return;
              const res = await client.query<TextValue[]>({
                text: `FETCH ${request.pageSize} FROM sqp_refresh_source`,
                rowMode: 'array',
                types: asText,
              });
              const rows = res.rows;
              const last = rows.length === request.pageSize ? rows[rows.length - 1] : undefined;
              yielded += rows.length;
              yield {
                rows,
                resumeAfter: last ? { lastKey: keyIndexes.map((i) => last[i]), rowsBefore: yielded } : null,
              };
              if (!last) return;
            }
          },
          async close() {
            await client.query('ROLLBACK').catch(() => undefined);
            await client.end().catch(() => undefined);
          },
        };
      } catch (error) {
        await client.end().catch(() => undefined);
        throw sourceError(error);
      }
    },
  };
}

/** A failure of opening the read, as a SourceError: connection failures are worth retrying, a wrong query is not. */
function sourceError(error: unknown): SourceError {
  if (error instanceof SourceError) return error;
  const e = error as { code?: string; message?: string };
  const retryable = !e.code || isRetryableSqlState(e.code) || isConnectionLoss(error);
  return new SourceError(`postgres source: ${e.message ?? String(error)}`, { code: e.code, reason: e.code ? `sqlstate ${e.code}` : 'connection', retryable });
}
