// Starts the real GraphQL server in this process on a free port, on a test database.
import { openDatabase, type Database } from '../../src/db.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildApp, type App } from '../../src/server.ts';
import { createEventStreams } from '../../src/subscriptions/streams.ts';

export interface TestApp {
  url: string;
  app: App;
  database: Database;
  /** What the graph reads of this process (its subscribers counted there). */
  runtime: Runtime;
  /** Statements sent on the server's pool since the last reset. */
  statements: string[];
  stop(): Promise<void>;
}

/** `parts`: the runtime the graph sees (a bus for subscriptions, a runner); none by default. Events published on the bus need ids (test/support/events.ts logged). */
export async function startTestApp(databaseUrl: string, env: Record<string, string> = {}, parts: Partial<Runtime> = {}): Promise<TestApp> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', ANONYMOUS_ACCESS: 'read', ...env });
  const statements: string[] = [];
  const database = openDatabase(databaseUrl, { onStatement: (sql) => statements.push(sql) });
  const runtime = createRuntime(parts);
  // A bus given: subscriptions over it, replaying from this database's event log.
  if (runtime.bus && !runtime.events) runtime.events = createEventStreams({ bus: runtime.bus, pool: database.pool, subscribers: runtime.subscribers });
  const app = buildApp({ graphql: config.graphql, auth: config.auth, logger: createLogger(config.log), services: { db: database, runtime } });
  const url = await app.start(0);
  return {
    url,
    app,
    database,
    runtime,
    statements,
    async stop() {
      await app.stop();
      await database.close();
    },
  };
}
