// Starts the real GraphQL server in this process on a free port, on a test database.
import { openDatabase, useDatabase, type Database } from '../../src/db.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildApp, type App } from '../../src/server.ts';

export interface TestApp {
  url: string;
  app: App;
  database: Database;
  /** Statements sent on the server's pool since the last reset. */
  statements: string[];
  stop(): Promise<void>;
}

export async function startTestApp(databaseUrl: string, env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', ANONYMOUS_ACCESS: 'read', ...env });
  const statements: string[] = [];
  const database = openDatabase(databaseUrl, { onStatement: (sql) => statements.push(sql) });
  useDatabase(database);
  const app = buildApp({ graphql: config.graphql, auth: config.auth, logger: createLogger(config.log) });
  const url = await app.start(0);
  return {
    url,
    app,
    database,
    statements,
    async stop() {
      await app.stop();
      useDatabase(undefined);
      await database.close();
    },
  };
}
