// The composition root, as a sequence of named steps: (environment and logger, from the caller:
// src/cli/start.ts) → ports → database (embedded when none is given; its URLs checked) →
// migrations → pools → demo source → decode workers → runtime and metrics → pub/sub (LISTEN, the event log's
// follower, writer and pruner) → runner → alert delivery → GraphQL server. Each step that opens something pushes its
// closer on the stop stack; stop() closes them in reverse order and logs each step.
import path from 'node:path';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db.ts';
import { checkDatabaseUrls } from './database/preflight.ts';
import { bindListeners, type BoundListeners } from './http/listen.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.ts';
import { redactUrl, type Logger } from './logger.ts';
import { migrate } from './migrate.ts';
import { createRunner, type Runner } from './runner/scheduler/runner.ts';
import { createRuntime, type Runtime } from './runtime.ts';
import { createEventBus, type EventBus } from './subscriptions/bus.ts';
import { createDatabaseListener, type DatabaseListener } from './subscriptions/listener.ts';
import { startEventLog, type EventLog } from './subscriptions/event-log-parts.ts';
import { prepareDefaultSource } from './runner/demo/default-source.ts';
import { processDecoder } from './runner/sources/decode/in-thread.ts';
import { sourcesFromConfig, type Sources } from './runner/sources/registry.ts';
import { buildApp, type App } from './server.ts';
import { createRefreshMetrics, type RefreshMetrics } from './http/metrics.ts';
import { createProbes } from './http/probes.ts';
import { startAlertDelivery } from './alerts/delivery.ts';

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
  const { sessionUrl, embedded } = resolved;
  const stack = createStopStack(logger);
  if (embedded) stack.push('embedded PostgreSQL', () => embedded.stop());
  // Closed here if start-up fails before the app adopts them; the app's stop closes them after.
  stack.push('HTTP listeners', closeListeners);
  try {
    await migrateSchema(config, logger, resolved);
    const database = openPools(config, logger, resolved);
    stack.push('database pool', () => database.close());

    // Everything below that holds a session (locks, COPY, LISTEN, a run's connection) uses the
    // session pool or URL; the graph and the commands use the pool (see src/db.ts).
    await prepareDefaultSource(config, database.session, logger);
    const bus = createEventBus((err, event) => logger.warn({ err, event: event.type }, 'an event listener failed'));
    // One decoder for the process: every source's pages become COPY text on its threads (or this one).
    const decodePool = processDecoder(config.decodeThreads);
    stack.push('decode workers', () => decodePool.close());
    const sources = sourcesFromConfig(config, sessionUrl, { logger, decodePool });
    // What the graph, the probes and the metrics read of the running service (its runner below).
    const runtime = createRuntime({ bus, sources, dailyByteBudget: config.dailyByteBudget, retry: config.runner.retry });
    // Subscribed before the runner starts, so its first runs are counted too.
    const metrics = createRefreshMetrics({ pool: database.pool, logger, runtime });
    bus.subscribe(metrics.observe);
    const { listener, events } = await startPubSub(config, logger, { sessionUrl, database, bus, runtime }, stack);
    const runner = await startRunner(config, logger, { database, sources, events, listener, runtime }, stack);
    // Alerts are delivered by every replica (claims skip what another holds): webhooks, signed.
    const alerts = await startAlertDelivery({ pool: database.pool, listener, logger, workerName: config.workerName });
    stack.push('alert delivery', () => alerts.stop());
    const graphqlUrl = await startServer(config, logger, { listening, database, runtime, listener, metrics }, stack);
    logAccess(config, logger);
    logger.info({ url: graphqlUrl }, `GraphiQL is ready at ${graphqlUrl}`);
    return { url: graphqlUrl, database, bus, runner, runtime, stop: stack.stop };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

/** What start-up opened, by name: stop() closes it in reverse order, logging each step (a failed one too, and goes on). */
interface StopStack {
  push(name: string, close: () => Promise<void>): void;
  /** Takes a closer off the stack (another part closes what it closed). */
  remove(name: string): void;
  stop(): Promise<void>;
}

function createStopStack(logger: Logger): StopStack {
  const stack: Array<[string, () => Promise<void>]> = [];
  return {
    push: (name, close) => void stack.push([name, close]),
    remove(name) {
      const at = stack.findIndex(([n]) => n === name);
      if (at >= 0) stack.splice(at, 1);
    },
    async stop() {
      for (const [name, close] of stack.splice(0).reverse()) {
        logger.info(`stopping ${name}`);
        await close().catch((err) => logger.error({ err }, `stopping ${name} failed`));
      }
    },
  };
}

/** Applies pending migrations on the session URL and says the schema is current. */
async function migrateSchema(config: Config, logger: Logger, { url, sessionUrl }: ResolvedDatabase): Promise<void> {
  const result = await migrate(sessionUrl, {
    sessionLimits: config.database.sessionLimits,
    onNotice: (message) =>
      message.startsWith('sqp-refresh:') ? logger.warn(message) : logger.debug({ notice: message }, 'migration notice'),
    onApplied: (name, ms) => logger.info({ migration: name, ms }, 'migration applied'),
  });
  logger.info({ applied: result.applied.length, database: redactUrl(url), ...(sessionUrl !== url ? { session: redactUrl(sessionUrl) } : {}) }, 'database schema is current');
}

/** The service's two pools: `pool` (may be pooled) and `session` (sized for the runner's runs). */
function openPools(config: Config, logger: Logger, { url, sessionUrl }: ResolvedDatabase): Database {
  const dbLog = logger.child({ component: 'database' });
  return openDatabase(url, {
    directUrl: sessionUrl,
    // Each run holds a session (and a slot one more), the runner's own statements need room beside them.
    sessionMax: Math.max(10, config.runner.concurrency * 2 + 4),
    sessionLimits: config.database.sessionLimits,
    onError: (err) => dbLog.warn({ err }, 'a database connection was lost; it leaves the pool'),
  });
}

/** One LISTEN connection for the whole process (wake-ups, cancels, the event log's growth), and the event log's parts: every replica's events reach this bus through it. */
async function startPubSub(
  config: Config,
  logger: Logger,
  parts: { sessionUrl: string; database: Database; bus: EventBus; runtime: Runtime },
  stack: StopStack,
): Promise<{ listener: DatabaseListener; events: EventLog }> {
  const listener = createDatabaseListener({ url: parts.sessionUrl, logger: logger.child({ component: 'listener' }) });
  await listener.start();
  stack.push('LISTEN connection', () => listener.stop());
  const events = await startEventLog({
    pool: parts.database.pool, listener, bus: parts.bus, subscribers: parts.runtime.subscribers,
    retentionHours: config.events.retentionHours, logger: logger.child({ component: 'events' }),
  });
  stack.push('event log', () => events.stop());
  parts.runtime.events = events.streams;
  return { listener, events };
}

/** The runner of this process, started (and put on the runtime) unless RUNNER_ENABLED=false. */
async function startRunner(
  config: Config,
  logger: Logger,
  parts: { database: Database; sources: Sources; events: EventLog; listener: DatabaseListener; runtime: Runtime },
  stack: StopStack,
): Promise<Runner> {
  const runner = createRunner({
    pool: parts.database.session,
    sources: parts.sources,
    logger: logger.child({ component: 'runner' }),
    workerName: config.workerName,
    dailyByteBudget: config.dailyByteBudget,
    listener: parts.listener,
    // Into the event log; every replica's follower publishes it on its bus from there.
    emit: parts.events.writer.write,
    schedule: config.runner.schedule,
    concurrency: config.runner.concurrency,
    globalConcurrency: config.runner.globalConcurrency,
    retry: config.runner.retry,
  });
  if (config.runner.enabled) {
    parts.runtime.runner = runner;
    await runner.start();
    stack.push('runner', () => runner.stop());
  } else {
    logger.info('RUNNER_ENABLED=false: this replica serves the API only; other replicas run the refreshes');
  }
  return runner;
}

/** The GraphQL server on the listeners bound first, with the probes, /metrics and the status page; resolves with the URL of /graphql. */
async function startServer(
  config: Config,
  logger: Logger,
  parts: { listening: BoundListeners; database: Database; runtime: Runtime; listener: DatabaseListener; metrics: RefreshMetrics },
  stack: StopStack,
): Promise<string> {
  const { database, runtime } = parts;
  const probes = createProbes({ pool: database.pool, listener: parts.listener, workerName: config.workerName, schedule: config.runner.schedule, runtime });
  // The status page for people at `/` (its assets under /status-page/).
  const { statusPageRoutes } = await import('./http/status-page/routes.ts');
  const operations = { ...config.operations, routes: { '/health': probes.health, '/ready': probes.ready, '/metrics': parts.metrics.route } };
  const app: App = buildApp({ graphql: config.graphql, auth: config.auth, logger, routes: statusPageRoutes(), operations, listening: parts.listening, services: { db: database, runtime } });
  const graphqlUrl = await app.start(config.http.port, config.http.host);
  // The app owns the listeners now: its stop replaces the bare close above.
  stack.remove('HTTP listeners');
  stack.push('HTTP server', () => app.stop());
  return graphqlUrl;
}
