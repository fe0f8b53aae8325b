// Structured JSON logs (pino); pretty in a terminal. Secrets are redacted by path wherever
// they could appear in a logged object.
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
];

/** Creates the process's root logger. */
export function createLogger(options: { level: string; pretty: boolean }): Logger {
  return pino({
    level: options.level,
    base: { service: 'sqp-refresh' },
    redact: { paths: REDACT, censor: '[redacted]' },
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
