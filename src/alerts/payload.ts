// What a destination receives: the body (the JSON event, or Slack's `{ "text": … }`), built from
// the stored alert alone so that every attempt sends the same bytes, and the headers that sign it
// as GitHub does (`sha256=` + hex HMAC-SHA256 of the raw body, keyed with the destination's secret).
import { createHmac } from 'node:crypto';
import type { AlertFormat, AlertKind } from './alert.ts';
import type { StoredAlert } from './sql.ts';

/** The JSON body (format json), version 1; README "Alerts" documents it field by field. */
export interface AlertEvent {
  version: 1;
  /** Stable across retries and replicas: deduplicate by it (also the X-SQP-Refresh-Event-Id header). */
  eventId: string;
  kind: 'TABLE_FAILED' | 'TABLE_RECOVERED' | 'TABLE_LATE' | 'TABLE_BLOCKED' | 'BACKFILL_FAILED';
  /** When the table's state changed (ISO 8601, UTC). */
  occurredAt: string;
  table: { schema: string; name: string; configId: number | null };
  runId: number | null;
  reason: string;
  /** One line for people, the same as the Slack text. */
  summary: string;
}

const HEADERS = {
  eventId: 'X-SQP-Refresh-Event-Id',
  kind: 'X-SQP-Refresh-Event-Kind',
  signature: 'X-SQP-Refresh-Signature',
  timestamp: 'X-SQP-Refresh-Timestamp',
  attempt: 'X-SQP-Refresh-Attempt',
} as const;

const VERBS: Record<AlertKind, string> = {
  table_failed: 'failed',
  table_recovered: 'recovered',
  table_late: 'is late',
  table_blocked: 'is blocked',
  backfill_failed: 'backfill failed',
};

/** One line for people: `sqp.weekly_summary failed: <reason> (run 42)`. */
function summaryOf(a: StoredAlert): string {
  return `${a.tableSchema}.${a.tableName} ${VERBS[a.kind]}: ${a.reason}${a.runId === null ? '' : ` (run ${a.runId})`}`;
}

/** Slack reads &, < and > as markup: escaped, a reason cannot turn into a link or a mention. */
const slackEscape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** The raw body a destination of `format` receives for `alert`. */
export function alertBody(alert: StoredAlert, format: AlertFormat): string {
  const summary = summaryOf(alert);
  if (format === 'slack') return JSON.stringify({ text: slackEscape(`[sqp-refresh] ${summary}`) });
  const event: AlertEvent = {
    version: 1,
    eventId: alert.eventId,
    kind: alert.kind.toUpperCase() as AlertEvent['kind'],
    occurredAt: alert.occurredAt.toISOString(),
    table: { schema: alert.tableSchema, name: alert.tableName, configId: alert.configId },
    runId: alert.runId,
    reason: alert.reason,
    summary,
  };
  return JSON.stringify(event);
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the destination's secret. */
function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The request headers of one attempt: content type, event id and kind, signature, send time (Unix seconds), attempt number. */
export function alertHeaders(alert: StoredAlert, body: string, secret: string, attempt: number, now: Date): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'sqp-refresh-alerts/1',
    [HEADERS.eventId]: alert.eventId,
    [HEADERS.kind]: alert.kind.toUpperCase(),
    [HEADERS.signature]: signatureOf(secret, body),
    [HEADERS.timestamp]: String(Math.floor(now.getTime() / 1000)),
    [HEADERS.attempt]: String(attempt),
  };
}
