// Alerts, end to end on real PostgreSQL and real HTTP: destinations managed in the graph (admin
// only, typed errors, nothing written on a refusal, the secret never readable), alerts written to
// the outbox in the state change's transaction, delivered signed by a worker through a receiver
// that fails its first deliveries, a destination that fails for a day disabled, and a worker
// SIGKILLed mid-delivery whose claims another worker delivers after the lease — every alert
// arriving exactly once after deduplication by event id.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertInput } from '../src/alerts/alert.ts';
import { startAlertDelivery, type AlertDeliveryEvent } from '../src/alerts/delivery.ts';
import { enqueueAlert } from '../src/alerts/enqueue.ts';
import type { Scope } from '../src/auth/tokens.ts';
import { createDatabaseListener, type DatabaseListener } from '../src/subscriptions/listener.ts';
import { captureLogs, spawnAlertWorker, startAlertsApp, startTestDelivery, type AlertsApp } from './support/alerts.ts';
import { createTestDatabase, openTestPool } from './support/db.ts';
import { recordEvents } from './support/events.ts';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './support/webhook-receiver.ts';
import { graphql } from './generated/index.ts';
import type { CreateAlertDestinationInput } from './generated/graphql.ts';

const database = await createTestDatabase();
const pool = openTestPool(database.url, 6);
const logs = captureLogs();
/** Every graph response of this file, as received: the secret must be in none. */
const responses: string[] = [];
const SECRET = 'whsec-4f1c2e7a9b0d8e6f5a3c1b2d';
let app: AlertsApp;
let listener: DatabaseListener;
let configId: number;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  // No table is due: nothing but the tests' own alerts happens in this database.
  await pool.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '30 days'`);
  configId = (await pool.query(`SELECT id FROM sqp.refresh_config WHERE table_name = 'weekly_summary'`)).rows[0].id;
  app = await startAlertsApp(database.url, logs.logger);
  listener = createDatabaseListener({ url: database.url, logger: logs.logger });
  await listener.start();
});
beforeEach(async () => {
  await pool.query(`TRUNCATE sqp_refresh_work.alerts, sqp_refresh_work.alert_destinations CASCADE`);
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await listener?.stop();
  await app?.stop();
  await pool.end();
  await database.drop();
});

async function gql<R, V>(document: TypedDocumentNode<R, V>, variables: V, scope: Scope | null = 'admin'): Promise<R> {
  const res = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...app.headers(scope) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const text = await res.text();
  responses.push(text);
  const body = JSON.parse(text) as { data?: R; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data!;
}

async function receiver(answer: Parameters<typeof startWebhookReceiver>[0]): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(answer);
  receivers.push(r);
  return r;
}

const CreateDestination = graphql(`
  mutation AlertsCreateDestination($input: CreateAlertDestinationInput!) {
    createAlertDestination(input: $input) {
      __typename
      ... on CreateAlertDestinationPayload { destination { id databaseId name url host format events secretSet enabled state } }
      ... on Error { message }
      ... on ValidationError { field issues { path message } }
      ... on ConflictError { field }
    }
  }
`);

const UpdateDestination = graphql(`
  mutation AlertsUpdateDestination($input: UpdateAlertDestinationInput!) {
    updateAlertDestination(input: $input) {
      __typename
      ... on UpdateAlertDestinationPayload { destination { name url state enabled failingSince disabledReason events } }
      ... on Error { message }
      ... on ValidationError { field }
      ... on ConflictError { field }
      ... on NotFoundError { field }
    }
  }
`);

const DeleteDestination = graphql(`
  mutation AlertsDeleteDestination($input: DeleteAlertDestinationInput!) {
    deleteAlertDestination(input: $input) {
      __typename
      ... on DeleteAlertDestinationPayload { deletedId name }
      ... on Error { message }
    }
  }
`);

const Destinations = graphql(`
  query AlertsDestinations {
    alertDestinations {
      name url host format events secretSet enabled state failingSince lastError lastSuccessAt disabledAt disabledReason
      deliveries(first: 10) { totalCount edges { node { status abandonReason attempts { outcome } } } }
    }
  }
`);

const Alerts = graphql(`
  query AlertsList($filter: AlertFilter) {
    alerts(first: 20, filter: $filter) {
      totalCount
      edges {
        node {
          eventId kind tableSchema tableName reason occurredAt
          config { tableName }
          run { databaseId }
          deliveries {
            status deliveredAt nextAttemptAt abandonReason
            destination { name state }
            attempts { attempt workerName startedAt finishedAt outcome httpStatus error durationMs responseExcerpt }
          }
        }
      }
    }
  }
`);

async function createDestination(input: Omit<CreateAlertDestinationInput, 'secret'> & { secret?: string }) {
  const { createAlertDestination: r } = await gql(CreateDestination, { input: { secret: SECRET, ...input } });
  if (r.__typename !== 'CreateAlertDestinationPayload') throw new Error(`createAlertDestination: ${JSON.stringify(r)}`);
  return r.destination;
}

function failedAlert(overrides: Partial<AlertInput> = {}): AlertInput {
  return { kind: 'table_failed', configId, tableSchema: 'sqp', tableName: 'weekly_summary', reason: 'source query failed: relation "src.x" does not exist', at: new Date(), ...overrides };
}

/** The alert tables as they are: a refusal must leave them exactly so. */
async function alertTables(): Promise<string> {
  const { rows } = await pool.query(
    `SELECT (SELECT json_agg(d ORDER BY id) FROM sqp_refresh_work.alert_destinations d) AS destinations,
            (SELECT count(*) FROM sqp_refresh_work.alert_deliveries) AS deliveries`,
  );
  return JSON.stringify(rows);
}

/** A receiver verifying a request as the README tells it to: HMAC-SHA256 of the raw body, compared in constant time. */
function signatureVerifies(r: ReceivedRequest, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
  const got = Buffer.from(String(r.headers['x-sqp-refresh-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('destinations in the graph', () => {
  it('need the admin scope; bad URLs, short secrets, control characters and names in use are typed errors that write nothing', async () => {
    const valid = { name: 'ops', url: 'https://hooks.example.com/sqp', secret: SECRET };
    const before = await alertTables();
    for (const scope of [null, 'read', 'operate'] as const) {
      const { createAlertDestination: r } = await gql(CreateDestination, { input: valid }, scope);
      expect(r, `${scope ?? 'no'} token`).toMatchObject({ __typename: 'ForbiddenError', message: expect.stringContaining("Mutation.createAlertDestination needs scope 'admin'") });
    }
    const refusals: Array<[Partial<typeof valid> & { events?: [] }, string]> = [
      [{ url: 'ftp://hooks.example.com/sqp' }, 'url'],
      [{ url: 'https://user:pass@hooks.example.com/sqp' }, 'url'],
      [{ url: 'https://token@hooks.example.com/sqp' }, 'url'],
      [{ url: 'hooks.example.com/sqp' }, 'url'],
      [{ url: 'https://hooks.example.com/sqp#x' }, 'url'],
      [{ url: 'https://hooks.example.com/a b' }, 'url'],
      [{ url: 'javascript:alert(1)' }, 'url'],
      [{ secret: 'short-secret' }, 'secret'],
      [{ secret: `${SECRET}\u0000` }, 'secret'],
      [{ name: 'ops\u0000' }, 'name'],
      [{ name: '   ' }, 'name'],
      [{ events: [] }, 'events'],
    ];
    for (const [change, field] of refusals) {
      const { createAlertDestination: r } = await gql(CreateDestination, { input: { ...valid, ...change } });
      expect(r, JSON.stringify(change)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await alertTables()).toBe(before);

    const ops = await createDestination({ ...valid, events: ['TABLE_FAILED', 'TABLE_FAILED', 'TABLE_LATE'] });
    expect(ops).toMatchObject({ name: 'ops', url: valid.url, host: 'hooks.example.com', format: 'JSON', events: ['TABLE_FAILED', 'TABLE_LATE'], secretSet: true, enabled: true, state: 'HEALTHY' });
    const slack = await createDestination({ name: 'slack', url: 'https://hooks.slack.com/services/T0/B0/abc', format: 'SLACK' });
    expect(slack.events).toEqual(['TABLE_FAILED', 'TABLE_RECOVERED', 'TABLE_LATE', 'TABLE_BLOCKED', 'BACKFILL_FAILED']);

    const withTwo = await alertTables();
    const { createAlertDestination: dup } = await gql(CreateDestination, { input: { ...valid, name: 'OPS' } });
    expect(dup).toMatchObject({ __typename: 'ConflictError', field: 'name', message: expect.stringContaining('exists already') });
    const { updateAlertDestination: rename } = await gql(UpdateDestination, { input: { id: slack.id, name: 'Ops' } });
    expect(rename).toMatchObject({ __typename: 'ConflictError', field: 'name' });
    const { updateAlertDestination: badUrl } = await gql(UpdateDestination, { input: { id: slack.id, url: 'http://[::1' } });
    expect(badUrl).toMatchObject({ __typename: 'ValidationError', field: 'url' });
    const missingId = Buffer.from('AlertDestination:99999').toString('base64');
    const { updateAlertDestination: missing } = await gql(UpdateDestination, { input: { id: missingId, name: 'x' } });
    expect(missing).toMatchObject({ __typename: 'NotFoundError', field: 'id' });
    const { updateAlertDestination: wrongType } = await gql(UpdateDestination, { input: { id: Buffer.from('RefreshConfig:1').toString('base64'), name: 'x' } });
    expect(wrongType).toMatchObject({ __typename: 'ValidationError', field: 'id' });
    const { updateAlertDestination: asOperator } = await gql(UpdateDestination, { input: { id: slack.id, name: 'x' } }, 'operate');
    expect(asOperator.__typename).toBe('ForbiddenError');
    const { deleteAlertDestination: deleteMissing } = await gql(DeleteDestination, { input: { id: missingId } });
    expect(deleteMissing.__typename).toBe('NotFoundError');
    expect(await alertTables()).toBe(withTwo);

    // Readers see destinations and their state, never a secret, and the URL only with admin (a
    // Slack webhook's path is its credential).
    const asReader = await gql(Destinations, {}, 'read');
    expect(asReader.alertDestinations.map((d) => [d.name, d.url, d.host, d.secretSet])).toEqual([
      ['ops', null, 'hooks.example.com', true],
      ['slack', null, 'hooks.slack.com', true],
    ]);
    expect((await gql(Destinations, {})).alertDestinations.map((d) => d.url)).toEqual([valid.url, slack.url]);

    const { updateAlertDestination: changed } = await gql(UpdateDestination, { input: { id: slack.id, secret: `${SECRET}-rotated`, events: ['TABLE_BLOCKED'] } });
    expect(changed).toMatchObject({ __typename: 'UpdateAlertDestinationPayload', destination: { name: 'slack', events: ['TABLE_BLOCKED'] } });
    const { deleteAlertDestination: deleted } = await gql(DeleteDestination, { input: { id: slack.id } });
    expect(deleted).toEqual({ __typename: 'DeleteAlertDestinationPayload', deletedId: slack.id, name: 'slack' });
    expect((await gql(Destinations, {})).alertDestinations.map((d) => d.name)).toEqual(['ops']);
  });
});

describe('delivery', () => {
  it('an alert committed with its state change reaches a receiver that fails its first 3 deliveries, signed; every attempt is in the graph', async () => {
    const flaky = await receiver((r) => (r.n <= 3 ? 500 : 200));
    const slack = await receiver(() => 204);
    await createDestination({ name: 'flaky', url: flaky.url, events: ['TABLE_FAILED', 'TABLE_RECOVERED'] });
    await createDestination({ name: 'chat', url: slack.url, format: 'SLACK', secret: `${SECRET}-chat`, events: ['TABLE_FAILED'] });
    await createDestination({ name: 'late-only', url: 'https://hooks.example.com/late', events: ['TABLE_LATE'] });
    const { delivery, events } = startTestDelivery({ pool, logger: logs.logger, listener, workerName: 'w1' });
    await delivery.start();

    const { rows: [run] } = await pool.query(
      `INSERT INTO sqp.refresh_audit_log (refresh_config_id, table_schema, table_name, refresh_started_at, refresh_completed_at, status, error_message)
       VALUES ($1, 'sqp', 'weekly_summary', now(), now(), 'failed', 'boom') RETURNING id`,
      [configId],
    );
    // The outbox: written in the transaction of the state change, so a change rolled back alerts nobody.
    const client = await pool.connect();
    let eventId: string;
    try {
      await client.query('BEGIN');
      await enqueueAlert(client, failedAlert({ reason: 'rolled back: never sent' }));
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await client.query(`UPDATE sqp.refresh_config SET next_refresh_at = now() + interval '1 hour' WHERE id = $1`, [configId]);
      eventId = await enqueueAlert(client, failedAlert({ runId: run.id, reason: 'source query failed with password=hunter2 at postgres://u:pw@db/x' }));
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    // Woken by the NOTIFY of the commit (its idle timer is a minute away), retried with backoff.
    const delivered = await flaky.requests.nth(4, () => true, 20_000, 'the 4th request');
    await slack.requests.next(() => true, 20_000, 'the Slack request');
    await events.nth(2, (e) => e.type === 'attempt:finished' && e.delivered && e.eventId === eventId, 20_000, 'both deliveries recorded');
    await delivery.stop();

    expect(flaky.requests.events.map((r) => r.status)).toEqual([500, 500, 500, 200]);
    for (const r of flaky.requests.events) {
      expect(r.headers['x-sqp-refresh-event-id']).toBe(eventId);
      expect(r.body).toBe(delivered.body); // every attempt sends the same bytes
      expect(signatureVerifies(r, SECRET)).toBe(true);
      expect(signatureVerifies(r, `${SECRET}-chat`)).toBe(false);
    }
    expect(flaky.requests.events.map((r) => r.headers['x-sqp-refresh-attempt'])).toEqual(['1', '2', '3', '4']);
    expect(Math.abs(Number(delivered.headers['x-sqp-refresh-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(delivered.headers['content-type']).toBe('application/json');
    const payload = JSON.parse(delivered.body);
    expect(payload).toEqual({
      version: 1,
      eventId,
      kind: 'TABLE_FAILED',
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      table: { schema: 'sqp', name: 'weekly_summary', configId },
      runId: run.id,
      reason: 'source query failed with password=hunter2 at postgres://u:[redacted]@db/x',
      summary: `sqp.weekly_summary failed: source query failed with password=hunter2 at postgres://u:[redacted]@db/x (run ${run.id})`,
    });
    const [chat] = slack.requests.events;
    expect(signatureVerifies(chat!, `${SECRET}-chat`)).toBe(true);
    expect(JSON.parse(chat!.body)).toEqual({ text: `[sqp-refresh] ${payload.summary}` });
    // The rolled-back alert was never written, and the late-only destination got no delivery.
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.alerts`)).rows[0].n).toBe(1);

    const { alerts } = await gql(Alerts, { filter: { kind: 'TABLE_FAILED' } }, 'read');
    expect(alerts.totalCount).toBe(1);
    const alert = alerts.edges[0]!.node;
    expect(alert).toMatchObject({ eventId, kind: 'TABLE_FAILED', tableSchema: 'sqp', tableName: 'weekly_summary', config: { tableName: 'weekly_summary' }, run: { databaseId: run.id } });
    expect(alert.deliveries.map((d) => [d.destination.name, d.status, d.destination.state, d.nextAttemptAt])).toEqual([
      ['flaky', 'DELIVERED', 'HEALTHY', null],
      ['chat', 'DELIVERED', 'HEALTHY', null],
    ]);
    const attempts = alert.deliveries[0]!.attempts;
    expect(attempts.map((a) => [a.attempt, a.workerName, a.outcome, a.httpStatus, a.error])).toEqual([
      [1, 'w1', 'FAILED', 500, 'HTTP 500 Internal Server Error'],
      [2, 'w1', 'FAILED', 500, 'HTTP 500 Internal Server Error'],
      [3, 'w1', 'FAILED', 500, 'HTTP 500 Internal Server Error'],
      [4, 'w1', 'SUCCEEDED', 200, null],
    ]);
    for (const a of attempts) {
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
      expect(new Date(a.finishedAt!).getTime()).toBeGreaterThanOrEqual(new Date(a.startedAt).getTime());
    }
    expect(attempts[0]!.responseExcerpt).toBe('failing on purpose (request 1)');
    expect((await gql(Alerts, { filter: { kind: 'TABLE_LATE' } }, 'read')).alerts.totalCount).toBe(0);
  });

  it('a destination that fails every attempt for a day is disabled and its pending deliveries abandoned; enabled again, it receives', async () => {
    let down = true;
    const broken = await receiver(() => (down ? 503 : 200));
    const dest = await createDestination({ name: 'broken', url: broken.url });
    let offset = 0; // the worker's clock, moved a day on below
    const { delivery, events } = startTestDelivery({ pool, logger: logs.logger, listener, workerName: 'w2', now: () => new Date(Date.now() + offset) });
    await delivery.start();
    const ids = [await enqueueAlert(pool, failedAlert()), await enqueueAlert(pool, failedAlert({ kind: 'table_blocked', reason: 'hard parent sqp.daily_sqp_data failed' }))];
    for (const id of ids) await events.next((e) => e.type === 'attempt:finished' && e.eventId === id, 20_000, `a failed attempt of ${id}`);
    const failing = (await gql(Destinations, {})).alertDestinations[0]!;
    expect(failing).toMatchObject({ state: 'FAILING', enabled: true, lastError: 'HTTP 503 Service Unavailable', failingSince: expect.any(String) });

    offset = 25 * 3_600_000;
    await delivery.deliverNow();
    await events.next((e) => e.type === 'destination:disabled', 20_000, 'the destination disabled');
    await delivery.deliverNow();
    const requestsWhenDisabled = broken.requests.events.length;
    const disabled = (await gql(Destinations, {})).alertDestinations[0]!;
    expect(disabled).toMatchObject({ state: 'DISABLED', enabled: false, disabledReason: 'FAILING', disabledAt: expect.any(String) });
    expect(disabled.deliveries.edges.map((e) => [e.node.status, e.node.abandonReason])).toEqual([
      ['ABANDONED', 'the destination failed every attempt for 24 h and was disabled'],
      ['ABANDONED', 'the destination failed every attempt for 24 h and was disabled'],
    ]);
    // Disabled, it gets no new deliveries at all.
    await enqueueAlert(pool, failedAlert());
    expect((await pool.query(`SELECT count(*)::int AS n FROM sqp_refresh_work.alert_deliveries`)).rows[0].n).toBe(2);
    await delivery.deliverNow();
    expect(broken.requests.events.length).toBe(requestsWhenDisabled);

    down = false;
    const { updateAlertDestination: enabled } = await gql(UpdateDestination, { input: { id: dest.id, enabled: true } });
    expect(enabled).toMatchObject({ destination: { state: 'HEALTHY', enabled: true, failingSince: null, disabledReason: null } });
    const after = await enqueueAlert(pool, failedAlert({ kind: 'table_recovered', reason: 'refreshed successfully' }));
    await events.next((e) => e.type === 'attempt:finished' && e.eventId === after && e.delivered, 20_000, 'the alert after enabling');
    const { updateAlertDestination: off } = await gql(UpdateDestination, { input: { id: dest.id, enabled: false } });
    expect(off).toMatchObject({ destination: { state: 'DISABLED', disabledReason: 'ADMIN' } });
    await delivery.stop();
  });

  it('a redirect is not followed and a receiver that does not answer times out: each a failed attempt with its reason', async () => {
    const moved = await receiver(() => ({ status: 302, headers: { location: 'https://elsewhere.example/hook?token=abc' } }));
    const silent = await receiver(() => new Promise<number>(() => undefined));
    await createDestination({ name: 'moved', url: moved.url });
    await createDestination({ name: 'silent', url: silent.url });
    const { delivery, events } = startTestDelivery({ pool, logger: logs.logger, listener, workerName: 'w3', timeoutMs: 300, leaseMs: 5000 });
    await delivery.start();
    const eventId = await enqueueAlert(pool, failedAlert());
    await events.nth(2, (e) => e.type === 'attempt:finished' && e.eventId === eventId, 20_000, 'both first attempts');
    await delivery.stop();
    const { alerts } = await gql(Alerts, {}, 'read');
    const attempts = alerts.edges[0]!.node.deliveries.map((d) => [d.destination.name, d.status, d.attempts[0]!.outcome, d.attempts[0]!.httpStatus, d.attempts[0]!.error]);
    expect(attempts).toEqual([
      ['moved', 'PENDING', 'FAILED', 302, "HTTP 302: redirected to elsewhere.example; redirects are not followed (set the destination's URL to where it points)"],
      ['silent', 'PENDING', 'FAILED', null, 'no answer within 300 ms'],
    ]);
    expect(moved.requests.events).toHaveLength(1);
  });

  it('a worker SIGKILLed mid-delivery loses nothing: another delivers its claims after the lease, every alert exactly once after dedup', async () => {
    let doomed: ReturnType<typeof spawnAlertWorker> | null = null;
    // The first request kills its sender before it can record anything, then is accepted — as a
    // receiver that processed it would: the retry after the lease is then a duplicate.
    const target = await receiver((r) => {
      if (r.n === 1) doomed!.child.kill('SIGKILL');
      return 200;
    });
    await createDestination({ name: 'target', url: target.url });
    const eventIds: string[] = [];
    for (let i = 0; i < 5; i++) eventIds.push(await enqueueAlert(pool, failedAlert({ reason: `failure ${i}` })));

    doomed = spawnAlertWorker(database.url, 'doomed', 3000);
    expect(await doomed.exited).toBe('SIGKILL');
    const { rows: claimed } = await pool.query(
      `SELECT d.status, a.worker_name, a.finished_at FROM sqp_refresh_work.alert_deliveries d
       JOIN sqp_refresh_work.alert_delivery_attempts a ON a.delivery_id = d.id ORDER BY d.id`,
    );
    expect(claimed).toEqual(Array.from({ length: 5 }, () => ({ status: 'pending', worker_name: 'doomed', finished_at: null })));

    // Started by the composition root's step; its timer wakes it when the dead worker's leases end.
    const events = recordEvents<AlertDeliveryEvent>();
    const rescuer = await startAlertDelivery({ pool, listener, logger: logs.logger, workerName: 'rescuer', emit: events.push });
    for (const id of eventIds) await events.next((e) => e.type === 'attempt:finished' && e.eventId === id && e.delivered, 30_000, `${id} delivered by the rescuer`);
    await rescuer.stop();
    const { rows: [lease] } = await pool.query(
      `SELECT bool_and(second.started_at >= first.claimed_until) AS after FROM sqp_refresh_work.alert_delivery_attempts first
       JOIN sqp_refresh_work.alert_delivery_attempts second ON second.delivery_id = first.delivery_id AND second.attempt = 2
       WHERE first.attempt = 1`,
    );
    expect(lease.after).toBe(true); // nothing was sent again before the dead worker's lease ended

    // Every alert arrived; deduplicated by event id, each exactly once. The dead worker's requests
    // that got through (at least the first) came again from the rescuer: at-least-once.
    expect([...target.acceptedEventIds()].sort()).toEqual([...eventIds].sort());
    const byAttempt = (n: string) => target.requests.events.filter((r) => r.headers['x-sqp-refresh-attempt'] === n);
    const fromDoomed = byAttempt('1');
    expect(fromDoomed.length).toBeGreaterThanOrEqual(1);
    expect(byAttempt('2').map((r) => r.headers['x-sqp-refresh-event-id']).sort()).toEqual([...eventIds].sort());
    expect(target.requests.events).toHaveLength(fromDoomed.length + 5);
    expect(target.requests.events.every((r) => signatureVerifies(r, SECRET))).toBe(true);

    const { alerts } = await gql(Alerts, {}, 'read');
    expect(alerts.totalCount).toBe(5);
    for (const { node } of alerts.edges) {
      expect(node.deliveries.map((d) => d.status)).toEqual(['DELIVERED']);
      expect(node.deliveries[0]!.attempts.map((a) => [a.attempt, a.workerName, a.outcome, a.finishedAt === null])).toEqual([
        [1, 'doomed', 'LOST', true],
        [2, 'rescuer', 'SUCCEEDED', false],
      ]);
    }
  });
});

describe('the secret', () => {
  it('appears in no graph response and no log line of this file', () => {
    expect(responses.length).toBeGreaterThan(20);
    expect(logs.lines.some((l) => l.includes('alert delivered'))).toBe(true);
    expect(logs.lines.some((l) => l.includes('alert delivery failed'))).toBe(true);
    for (const text of [...responses, ...logs.lines]) expect(text).not.toContain(SECRET.slice(0, 12));
  });
});
