// Structured JSON logs (pino); pretty in a terminal. Secrets are kept out in two layers:
// redaction by path wherever they could appear in a logged object, and a last scrub of every
// written line for the secrets that hide inside strings (an error message quoting a connection
// string, a header echoed into a message), which no path can reach.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'secret',
  'privateKey',
  'private_key',
  'credentials',
  'authorization',
  'cookie',
  'databaseUrl',
  'listenUrl',
  'connectionString',
  'DATABASE_URL',
  'API_TOKENS',
  'GOOGLE_APPLICATION_CREDENTIALS',
];

/** Paths pino censors: each secret key at the top and one level down, plus request headers. */
const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'connectionParams.authorization',
  '*.connectionParams.authorization',
  // The parsed environment holds every setting, secrets included; it is never logged whole.
  'env',
  '*.env',
];

const CENSOR = '[redacted]';

/**
 * Scrubs secrets out of an already serialized log line: the password of any URL
 * (`scheme://user:password@host`), bearer tokens, and our own token format (`sqpr_…`).
 */
export function scrubSecrets(line: string): string {
  return line
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"'\\]*:)[^@\s"'\\]+@/gi, `$1${CENSOR}@`)
    .replace(/(\bBearer\s+)[^\s"'\\,;]+/gi, `$1${CENSOR}`)
    .replace(/\bsqpr_[A-Za-z0-9_-]+/g, CENSOR);
}

/** Creates the process's root logger (`destination`: tests capture the lines). */
export function createLogger(options: { level: string; pretty: boolean }, destination?: DestinationStream): Logger {
  const settings = {
    level: options.level,
    base: { service: 'sqp-refresh' },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    hooks: { streamWrite: scrubSecrets },
  };
  if (destination) return pino(settings, destination);
  return pino({
    ...settings,
    transport: options.pretty ? { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } : undefined,
  });
}

/** Removes the password from a connection string, for messages a person reads. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
