// The composition root: environment → ports → database (embedded when none is given) → checks
// of its URLs → migrations → pools → demo source → runner → GraphQL server; stop() closes each
// in reverse order and logs each step.
import path from 'node:path';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db.ts';
import { checkDatabaseUrls } from './database/preflight.ts';
import { bindListeners } from './http/listen.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.ts';
import { redactUrl, type Logger } from './logger.ts';
import { migrate } from './migrate.ts';
import { createRunner, type Runner } from './runner/scheduler/runner.ts';
import { createRuntime, type Runtime } from './runtime.ts';
import { createEventBus, type EventBus } from './subscriptions/bus.ts';
import { createDatabaseListener } from './subscriptions/listener.ts';
import { createReplicaTransport } from './subscriptions/transport.ts';
import { prepareDefaultSource } from './runner/demo/default-source.ts';
import { sourcesFromConfig } from './runner/sources/registry.ts';
import { buildApp, type App } from './server.ts';
import { createRefreshMetrics } from './http/metrics.ts';
import { createProbes } from './http/probes.ts';

export interface Service {
  url: string;
  database: Database;
  bus: EventBus;
  runner: Runner;
  /** What the graph reads of this process (its subscribers counted there). */
  runtime: Runtime;
  stop(): Promise<void>;
}

/** Where the service's database is: `url` (may be pooled), `sessionUrl` (a session: LISTEN, locks, runs, migrations). */
export interface ResolvedDatabase {
  url: string;
  sessionUrl: string;
  embedded?: EmbeddedDatabase;
}

/**
 * Resolves the database URLs, starting the embedded PostgreSQL when none is configured, and
 * checks them before any work (reachable, TLS verified, the session URL a session): a problem
 * a person must fix is a StartupError (src/database/preflight.ts).
 */
export async function resolveDatabase(config: Config, logger: Logger, options: { wait?: boolean } = {}): Promise<ResolvedDatabase> {
  // The service waits for a database that is coming up; a person's one-off command does not.
  const check = { logger, timeoutMs: options.wait === false ? 0 : config.database.connectTimeoutMs };
  if (config.databaseUrl) {
    await checkDatabaseUrls({ url: config.databaseUrl, directUrl: config.databaseDirectUrl }, check);
    return { url: config.databaseUrl, sessionUrl: config.databaseDirectUrl ?? config.databaseUrl };
  }
  const dir = path.resolve(config.embeddedPostgres.dir);
  logger.info({ dir, port: config.embeddedPostgres.port }, 'no DATABASE_URL: starting the embedded PostgreSQL');
  const embedded = await startEmbeddedPostgres({
    dir,
    port: config.embeddedPostgres.port,
    onLog: (m) => logger.debug({ postgres: m.trim() }, 'embedded postgres'),
    onWarning: (m) => logger.warn(m),
  });
  try {
    await checkDatabaseUrls({ url: embedded.url, embedded: true }, check);
  } catch (error) {
    await embedded.stop();
    throw error;
  }
  return { url: embedded.url, sessionUrl: embedded.url, embedded };
}

/** Says at start-up who may do what (never printing a token or hash). */
function logAccess(config: Config, logger: Logger): void {
  const names = config.auth.tokens.map((t) => `${t.name} (${t.scope})`);
  if (config.auth.anonymous === 'read') {
    logger.warn('anonymous read access is on: anyone who reaches this port can read the graph (set ANONYMOUS_ACCESS=none to require a token)');
  }
  if (names.length) logger.info({ tokens: names }, 'API tokens configured');
  else logger.warn('no API_TOKENS: mutations are refused; create a token with `sqp-refresh token create --scope admin` and add its entry to API_TOKENS');
}

/** Starts the whole service and returns a handle to stop it. */
export async function startService(config: Config, logger: Logger): Promise<Service> {
  // The ports first: a busy one ends start-up before anything is migrated or built.
  const listening = await bindListeners(config.http, config.operations);
  const closeListeners = async () => {
    for (const s of [listening.server, listening.operationsServer]) if (s?.listening) await new Promise((resolve) => s.close(resolve));
  };
  let resolved: ResolvedDatabase;
  try {
    resolved = await resolveDatabase(config, logger);
  } catch (error) {
    await closeListeners();
    throw error;
  }
  const { url, sessionUrl, embedded } = resolved;
  const stack: Array<[string, () => Promise<void>]> = [];
  if (embedded) stack.push(['embedded PostgreSQL', () => embedded.stop()]);
  // Closed here if start-up fails before the app adopts them; the app's stop closes them after.
  stack.push(['HTTP listeners', closeListeners]);
  const stop = async () => {
    for (const [name, close] of stack.reverse()) {
      logger.info(`stopping ${name}`);
      await close().catch((err) => logger.error({ err }, `stopping ${name} failed`));
    }
    stack.length = 0;
  };
  try {
    const result = await migrate(sessionUrl, {
      sessionLimits: config.database.sessionLimits,
      onNotice: (message) =>
        message.startsWith('sqp-refresh:') ? logger.warn(message) : logger.debug({ notice: message }, 'migration notice'),
      onApplied: (name, ms) => logger.info({ migration: name, ms }, 'migration applied'),
    });
    logger.info({ applied: result.applied.length, database: redactUrl(url), ...(sessionUrl !== url ? { session: redactUrl(sessionUrl) } : {}) }, 'database schema is current');

    const dbLog = logger.child({ component: 'database' });
    const database = openDatabase(url, {
      directUrl: sessionUrl,
      // Each run holds a session (and a slot one more), the runner's own statements need room beside them.
      sessionMax: Math.max(10, config.runner.concurrency * 2 + 4),
      sessionLimits: config.database.sessionLimits,
      onError: (err) => dbLog.warn({ err }, 'a database connection was lost; it leaves the pool'),
    });
    stack.push(['database pool', () => database.close()]);

    // Everything below that holds a session (locks, COPY, LISTEN, a run's connection) uses the
    // session pool or URL; the graph and the commands use the pool (see src/db.ts).
    await prepareDefaultSource(config, database.session, logger);
    const bus = createEventBus((err, event) => logger.warn({ err, event: event.type }, 'an event listener failed'));
    const sources = sourcesFromConfig(config, sessionUrl);
    // What the graph, the probes and the metrics read of the running service (its runner below).
    const runtime = createRuntime({ bus, sources, dailyByteBudget: config.dailyByteBudget });
    // Subscribed before the runner starts, so its first runs are counted too.
    const metrics = createRefreshMetrics({ pool: database.pool, logger, runtime: () => runtime });
    bus.subscribe(metrics.observe);
    // One LISTEN connection for the whole process (wake-ups, cancels, other replicas' events).
    const listener = createDatabaseListener({ url: sessionUrl, logger: logger.child({ component: 'listener' }) });
    await listener.start();
    stack.push(['LISTEN connection', () => listener.stop()]);
    const runner = createRunner({
      pool: database.session,
      sources,
      logger: logger.child({ component: 'runner' }),
      workerName: config.workerName,
      dailyByteBudget: config.dailyByteBudget,
      listener,
      emit: (event) => bus.publish(event),
      schedule: config.runner.schedule,
      concurrency: config.runner.concurrency,
      globalConcurrency: config.runner.globalConcurrency,
      retry: config.runner.retry,
    });
    // Events of other replicas arrive on this bus, and this process's events reach theirs.
    const transport = createReplicaTransport({ listener, pool: database.session, bus, origin: config.workerName, logger: logger.child({ component: 'events' }) });
    await transport.start();
    stack.push(['event transport', () => transport.stop()]);
    if (config.runner.enabled) {
      runtime.runner = runner;
      await runner.start();
      stack.push(['runner', () => runner.stop()]);
    } else {
      logger.info('RUNNER_ENABLED=false: this replica serves the API only; other replicas run the refreshes');
    }

    const probes = createProbes({ pool: database.pool, listener, workerName: config.workerName, schedule: config.runner.schedule, runtime: () => runtime });
    // The status page for people at `/` (its assets under /status-page/).
    const { statusPageRoutes } = await import('./http/status-page/routes.ts');
    const operations = { ...config.operations, routes: { '/health': probes.health, '/ready': probes.ready, '/metrics': metrics.route } };
    const app: App = buildApp({ graphql: config.graphql, auth: config.auth, logger, routes: statusPageRoutes(), operations, listening, services: { db: database, runtime } });
    const graphqlUrl = await app.start(config.http.port, config.http.host);
    // The app owns the listeners now: its stop replaces the bare close above.
    stack.splice(stack.findIndex(([name]) => name === 'HTTP listeners'), 1);
    stack.push(['HTTP server', () => app.stop()]);
    logAccess(config, logger);
    logger.info({ url: graphqlUrl }, `GraphiQL is ready at ${graphqlUrl}`);
    return { url: graphqlUrl, database, bus, runner, runtime, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
