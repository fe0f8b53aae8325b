// The transaction-pooler check the service makes at start (src/database/pooler.ts), against a
// real PgBouncer: its transaction-mode entry is found out by the session signals alone, its
// session-mode entry and the server itself are not (no false alarm that would refuse a good
// deployment), and the managed poolers' hosts are named.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { detectTransactionPooler, knownPoolerHost } from '../src/database/pooler.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { pgbouncerSkipReason, startPgBouncer, type PgBouncer, type PgBouncerUser } from './support/pgbouncer.ts';
import { makeTestCertificates, type TestCertificates } from './support/tls.ts';

const skipReason = pgbouncerSkipReason();
if (skipReason) console.warn(`test/pooler.test.ts: PgBouncer cases skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('behind a real PgBouncer', () => {
  let database: TestDatabase;
  let certs: TestCertificates;
  let bouncer: PgBouncer;
  let user: PgBouncerUser;
  const tls = () => ({ sslmode: 'verify-full', sslrootcert: certs.caFile });

  beforeAll(async () => {
    database = await createTestDatabase();
    certs = await makeTestCertificates();
    // The tests' own login: PgBouncer passes its password on to the server.
    const admin = new URL(inject('adminUrl'));
    user = { name: decodeURIComponent(admin.username) || 'postgres', password: decodeURIComponent(admin.password) || 'unused' };
    bouncer = await startPgBouncer({ serverUrl: inject('adminUrl'), database: database.name, users: [user], tls: certs });
  });
  afterAll(async () => {
    await bouncer?.stop();
    await certs?.remove();
    await database?.drop();
  });

  it('finds the transaction-mode entry out by its sessions, without waiting for LISTEN', async () => {
    const started = Date.now();
    const verdict = await detectTransactionPooler(bouncer.url('transaction', user, tls()));
    expect(verdict.transactionPooler).toBe(true);
    expect(verdict.signals.join('\n')).toMatch(/served by one server session|moved between server sessions|session setting/);
    expect(verdict.signals.join('\n')).not.toMatch(/LISTEN/);
    expect(Date.now() - started).toBeLessThan(3000); // the LISTEN signal (3 s) was not needed
  });

  it('finds it out again and again (the signal does not depend on which server connection is free)', async () => {
    const url = bouncer.url('transaction', user, tls());
    for (let i = 0; i < 5; i++) expect((await detectTransactionPooler(url)).transactionPooler).toBe(true);
  });

  it('takes the session-mode entry and the server itself for what they are: sessions', async () => {
    expect(await detectTransactionPooler(bouncer.url('session', user, tls()))).toEqual({ transactionPooler: false, signals: [] });
    expect(await detectTransactionPooler(database.url)).toEqual({ transactionPooler: false, signals: [] });
  });
});

describe('managed poolers known by their host', () => {
  it("names Supabase's transaction pooler (6543) and RDS Proxy, and nothing else", () => {
    expect(knownPoolerHost('postgresql://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres')).toMatch(/Supabase's transaction pooler/);
    expect(knownPoolerHost('postgresql://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres')).toBeNull(); // session mode
    expect(knownPoolerHost('postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres')).toBeNull(); // direct
    expect(knownPoolerHost('postgresql://app:pw@my-proxy.proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com:5432/app')).toMatch(/RDS Proxy/);
    expect(knownPoolerHost('postgresql://app:pw@mydb.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com:5432/app')).toBeNull();
    expect(knownPoolerHost('postgresql://postgres@127.0.0.1:5432/test')).toBeNull();
  });
});
