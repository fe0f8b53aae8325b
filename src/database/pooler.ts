// Does a URL lead to a session of its own, or to a transaction pooler (PgBouncer in
// `pool_mode = transaction`, Supabase's pooler on 6543, RDS Proxy)? Behind such a pooler each
// transaction may run on another server connection: a session advisory lock stays on a server
// connection that went back to the pool (the table looks "running" for ever), and LISTEN
// receives nothing. The service needs sessions for those, so it asks before any work.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { connectSession } from './connection.ts';

export interface PoolerVerdict {
  /** True when any signal says transactions of one client connection may change sessions. */
  transactionPooler: boolean;
  /** What was seen, in words (empty when nothing points at a pooler). */
  signals: string[];
}

/**
 * Host names of managed transaction poolers: Supabase's pooler answers in transaction mode on
 * 6543 (session mode on 5432), RDS Proxy multiplexes transactions on every endpoint.
 */
export function knownPoolerHost(url: string): string | null {
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  if (host.endsWith('.pooler.supabase.com') && u.port === '6543') return `${host}:6543 is Supabase's transaction pooler (its session mode is port 5432)`;
  if (/\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/.test(host)) return `${host} is an RDS Proxy endpoint`;
  return null;
}

/**
 * Looks at `url` for a transaction pooler, with three independent signals:
 *  1. the host: a known managed pooler (knownPoolerHost);
 *  2. sessions: client A sets a session setting and notes its backend pid; clients B, C open
 *     transactions and hold them (a pooler hands them the server connection A just released:
 *     PgBouncer reuses the most recent one), then A reads again. On a real session A keeps its
 *     pid and its setting, and no other client ever shares its pid. Behind a transaction
 *     pooler a holder reports A's pid, sees A's setting, or A comes back on another backend;
 *  3. LISTEN: A listens on a fresh channel, another client notifies it; a session receives it
 *     within `listenTimeoutMs`, a transaction pooler drops it (A's LISTEN stayed on a server
 *     connection A no longer has).
 * Signal 3 runs only when 1 and 2 found nothing (it waits when they would have said so).
 */
export async function detectTransactionPooler(url: string, options: { listenTimeoutMs?: number } = {}): Promise<PoolerVerdict> {
  const signals: string[] = [];
  const host = knownPoolerHost(url);
  if (host) signals.push(host);
  const token = randomBytes(6).toString('hex');
  const open = () => connectSession(url, { applicationName: 'sqp-refresh pooler check' });
  const a = await open();
  const holders: pg.Client[] = [];
  try {
    const first = await a.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, set_config('sqp_refresh.session_check', $1, false)`, [token]);
    const pid = first.rows[0]!.pid;
    for (let i = 0; i < 2; i++) {
      const h = await open();
      holders.push(h);
      await h.query('BEGIN');
      const seen = await h.query<{ pid: number; setting: string | null }>(`SELECT pg_backend_pid() AS pid, current_setting('sqp_refresh.session_check', true) AS setting`);
      if (seen.rows[0]!.pid === pid) signals.push(`two client connections were served by one server session (backend ${pid})`);
      else if (seen.rows[0]!.setting === token) signals.push("a session setting of one client connection was visible on another's");
    }
    const again = await a.query<{ pid: number; setting: string | null }>(`SELECT pg_backend_pid() AS pid, current_setting('sqp_refresh.session_check', true) AS setting`);
    if (again.rows[0]!.pid !== pid) signals.push(`one client connection moved between server sessions (backend ${pid}, then ${again.rows[0]!.pid})`);
    else if (again.rows[0]!.setting !== token) signals.push('a session setting did not survive to the next statement');
    for (const h of holders.splice(0)) await h.end().catch(() => undefined);
    // Leaves no trace on a pooled server connection another client gets next.
    await a.query(`SELECT set_config('sqp_refresh.session_check', '', false)`).catch(() => undefined);
    if (!signals.length && !(await listenReceives(a, open, token, options.listenTimeoutMs ?? 3000))) {
      signals.push(`LISTEN received no notification within ${options.listenTimeoutMs ?? 3000} ms`);
    }
  } finally {
    for (const h of holders) await h.end().catch(() => undefined);
    await a.end().catch(() => undefined);
  }
  return { transactionPooler: signals.length > 0, signals: [...new Set(signals)] };
}

/** Whether `listener` hears a NOTIFY sent from another connection within `timeoutMs`. */
async function listenReceives(listener: pg.Client, open: () => Promise<pg.Client>, token: string, timeoutMs: number): Promise<boolean> {
  const channel = `sqp_refresh_check_${token}`;
  let timer: NodeJS.Timeout | undefined;
  const heard = new Promise<boolean>((resolve) => {
    listener.on('notification', (n) => n.channel === channel && resolve(true));
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  await listener.query(`LISTEN ${channel}`);
  const sender = await open();
  try {
    await sender.query(`SELECT pg_notify($1, '')`, [channel]);
  } finally {
    await sender.end().catch(() => undefined);
  }
  const ok = await heard;
  clearTimeout(timer);
  await listener.query(`UNLISTEN ${channel}`).catch(() => undefined);
  return ok;
}
