// The environment, read once and validated. Nothing else in the service reads process.env.
import { hostname } from 'node:os';
import { Cron } from 'croner';
import { z } from 'zod';
import { clientConfig, type SessionLimits } from './database/connection.ts';
import type { RetryPolicy } from './runner/state/planner.ts';
import { parseSourceSettings, type SourceSettings } from './runner/sources/registry.ts';
import { parseApiTokens, type ApiToken } from './auth/tokens.ts';
import { DEFAULT_FANOUT_SHARE } from './http/fan-out-pacing.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A PostgreSQL connection string; the message names the scheme, never the secret. */
const postgresUrl = z.string().superRefine((v, ctx) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return ctx.addIssue({ code: 'custom', message: 'must be a postgresql:// URL' });
  }
  if (!/^postgres(ql)?:$/i.test(url.protocol)) {
    return ctx.addIssue({ code: 'custom', message: `must be a postgresql:// URL, not ${url.protocol}//…` });
  }
  // sslrootcert/sslcert/sslkey are read at connect: a missing file is a configuration error.
  try {
    clientConfig(v);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot read a TLS file it names (sslrootcert, sslcert, sslkey): ${(error as Error).message.split('\n')[0]!}` });
  }
});

/** A cron pattern croner accepts (checked here, not when the runner starts after migrating). */
const cronPattern = z.string().superRefine((v, ctx) => {
  try {
    new Cron(v, { paused: true }).stop();
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not a cron pattern: ${(error as Error).message.replace(/^CronPattern: /, '')}` });
  }
});

const EnvSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_DIRECT_URL: postgresUrl.optional(),
  DATABASE_STATEMENT_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(604_800).default(21_600),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(604_800).default(3_600),
  DATABASE_CONNECT_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(3_600).default(60),
  EMBEDDED_PG_DIR: z.string().min(1).default('.data/postgres'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool.optional(),
  GRAPHQL_INTROSPECTION: bool.default(true),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(10),
  GRAPHQL_MAX_COST: z.coerce.number().int().min(100).default(20000),
  GRAPHQL_WS_MAX_UNAUTHENTICATED: z.coerce.number().int().min(0).default(100),
  GRAPHQL_WS_IDLE_SECONDS: z.coerce.number().min(1).max(86_400).default(60),
  SUBSCRIBER_MAX_BEHIND: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SUBSCRIBER_MAX_LAG_SECONDS: z.coerce.number().min(0.1).max(3600).default(30),
  SUBSCRIBER_FANOUT_SHARE: z.coerce.number().min(0.01).max(1).default(DEFAULT_FANOUT_SHARE),
  WORKER_NAME: z.string().min(1).max(100).optional(),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  RUNNER_SCHEDULE: cronPattern.default('* * * * *'),
  RUNNER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  RUNNER_GLOBAL_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  DECODE_THREADS: z.coerce.number().int().min(0).max(64).default(0),
  RUNNER_ENABLED: bool.default(true),
  DEMO_WEEKS: z.coerce.number().int().min(1).max(520).default(52),
  RUNNER_RETRY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(3),
  RUNNER_RETRY_BASE_SECONDS: z.coerce.number().min(0.01).max(86_400).default(60),
  RUNNER_RETRY_MAX_SECONDS: z.coerce.number().min(0.01).max(86_400).default(3600),
  EVENT_RETENTION_HOURS: z.coerce.number().min(0.01).max(8_760).default(24),
  API_TOKENS: z.string().optional(),
  METRICS_TOKEN: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -hex 32)').optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).optional(),
  ANONYMOUS_ACCESS: z.enum(['none', 'read']).optional(),
});

export type Env = z.infer<typeof EnvSchema>;

/** The service's configuration; each kind of source adds the fields of its settings (SourceSettings: sources/registry.ts). */
export type Config = ServiceConfig & SourceSettings;

interface ServiceConfig {
  /**
   * Undefined: start the embedded PostgreSQL. May lead to a transaction pooler when
   * `databaseDirectUrl` is given: short transactional work only (graph reads, commands).
   */
  databaseUrl: string | undefined;
  /** A session connection (LISTEN, locks, a run's connection, COPY, migrations); default `databaseUrl`. */
  databaseDirectUrl: string | undefined;
  database: {
    /** Set on the service's own session connections, over the role's defaults. */
    sessionLimits: SessionLimits;
    /** How long start-up waits for a database that is starting up or refusing connections. */
    connectTimeoutMs: number;
  };
  embeddedPostgres: { dir: string; port: number };
  http: { host: string; port: number };
  log: { level: Env['LOG_LEVEL']; pretty: boolean };
  /**
   * maxUnauthenticatedSockets: WebSockets without a valid token (pre-init or anonymous) held at
   * once; unauthenticatedIdleMs: how long such a socket may stay open with no operation;
   * subscriptionGroups: how far a subscriber may fall behind before it is cut, and the share of
   * the process's time fan-outs may take before progress is held (src/http/subscription-groups.ts).
   */
  graphql: {
    introspection: boolean; maxDepth: number; maxCost: number; maxUnauthenticatedSockets: number; unauthenticatedIdleMs: number;
    subscriptionGroups: { maxBehind: number; maxLagMs: number; fanOutShare: number };
  };
  workerName: string;
  /** Runner tick (cron pattern) and refreshes this process runs at once. */
  runner: { enabled: boolean; schedule: string; concurrency: number; globalConcurrency?: number; retry: RetryPolicy };
  /** Worker threads that turn source pages into COPY text (sources/decode/); 0: the engine's own thread. */
  decodeThreads: number;
  /** Size of the generated demo source (report weeks), used when BigQuery is not set up. */
  demo: { weeks: number };
  /** The event log (subscriptions' replay): how long it keeps events. */
  events: { retentionHours: number };
  /** How long a graceful stop may take before the process exits anyway. */
  shutdownGraceMs: number;
  /** Bearer tokens (hashes only) and what a caller without a token may do. */
  auth: { tokens: ApiToken[]; anonymous: 'none' | 'read' };
  /** /metrics and /ready: the bearer token they ask for; a port (and host) of their own. */
  operations: { token?: string; port?: number; host?: string };
}

/** Thrown with every problem of the environment at once. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    // One plain line per problem, so that a log collector keeps each whole.
    super(problems.map((p) => `Invalid configuration: ${p}`).join('\n'));
  }
}

/** Parses the environment (default: process.env) into the service's configuration. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "not set", as in most .env files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  // The sources' own variables, read by each kind's settings schema from the same environment.
  const sources = parseSourceSettings(cleaned);
  const tokens = parseApiTokens(cleaned.API_TOKENS);
  const problems = [...(parsed.success ? [] : parsed.error.issues), ...sources.issues].map((i) => `${i.path.join('.')}: ${i.message}`);
  problems.push(...tokens.problems);
  if (parsed.success && parsed.data.DATABASE_DIRECT_URL && !parsed.data.DATABASE_URL) {
    problems.push('DATABASE_DIRECT_URL: set only with DATABASE_URL (the embedded PostgreSQL needs neither)');
  }
  if (!parsed.success || !sources.settings || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    ...sources.settings,
    databaseUrl: e.DATABASE_URL,
    databaseDirectUrl: e.DATABASE_DIRECT_URL,
    database: {
      sessionLimits: {
        statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_SECONDS * 1000,
        idleInTransactionTimeoutMs: e.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS * 1000,
      },
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_SECONDS * 1000,
    },
    embeddedPostgres: { dir: e.EMBEDDED_PG_DIR, port: e.EMBEDDED_PG_PORT },
    http: { host: e.HOST, port: e.PORT },
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY ?? Boolean(process.stdout.isTTY) },
    graphql: {
      introspection: e.GRAPHQL_INTROSPECTION,
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxCost: e.GRAPHQL_MAX_COST,
      maxUnauthenticatedSockets: e.GRAPHQL_WS_MAX_UNAUTHENTICATED,
      unauthenticatedIdleMs: e.GRAPHQL_WS_IDLE_SECONDS * 1000,
      subscriptionGroups: { maxBehind: e.SUBSCRIBER_MAX_BEHIND, maxLagMs: e.SUBSCRIBER_MAX_LAG_SECONDS * 1000, fanOutShare: e.SUBSCRIBER_FANOUT_SHARE },
    },
    workerName: e.WORKER_NAME ?? `${hostname()}-${process.pid}`,
    runner: {
      enabled: e.RUNNER_ENABLED, schedule: e.RUNNER_SCHEDULE, concurrency: e.RUNNER_CONCURRENCY, globalConcurrency: e.RUNNER_GLOBAL_CONCURRENCY,
      // A retryable failure (lost connection, timeout, transient BigQuery error) waits base × 2^(n-1), at most max, n < attempts.
      retry: { maxAttempts: e.RUNNER_RETRY_MAX_ATTEMPTS, baseDelayMs: e.RUNNER_RETRY_BASE_SECONDS * 1000, maxDelayMs: e.RUNNER_RETRY_MAX_SECONDS * 1000 },
    },
    decodeThreads: e.DECODE_THREADS,
    demo: { weeks: e.DEMO_WEEKS },
    events: { retentionHours: e.EVENT_RETENTION_HOURS },
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    // The embedded default lets anyone read, so GraphiQL just works on a fresh machine.
    auth: { tokens: tokens.tokens, anonymous: e.ANONYMOUS_ACCESS ?? (e.DATABASE_URL ? 'none' : 'read') },
    operations: { token: e.METRICS_TOKEN, port: e.METRICS_PORT, host: e.METRICS_HOST },
  };
}
