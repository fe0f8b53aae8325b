// The figures of bench/subscribers.ts and issue #25's targets beside them. A missed target is a
// FAIL in the report, never an error: `npm run bench` exits 0 whatever the figures say.
import type { ClientsResult, Percentiles } from './subscribers-clients.ts';
import type { ServerMeasure, ServerSample } from './subscribers-server.ts';
import { fmtInt, fmtMb, fmtSeconds, type Figure } from './support.ts';

/** One refresh as measured: its audit row and the server over the window. */
export interface RunFigures {
  runId: number;
  status: string;
  pages: number;
  /** refresh_started_at → refresh_completed_at. */
  runMs: number;
  pagesPerSecond: number;
  /** The measured window: the force → every client had the run's end (or, without clients, the server's bus had it). */
  windowMs: number;
  server: ServerMeasure;
}

export interface Measured {
  subscribers: number;
  filters: number;
  /** The server after a full GC, before the clients connected and with them subscribed. */
  before: ServerSample;
  after: ServerSample;
  /** Subscriptions open on the server when the run was forced. */
  live: number;
  /** The same refresh with no subscriber connected. */
  reference: RunFigures;
  run: RunFigures;
  clients: ClientsResult;
}

/** Issue #25's targets for this many subscribers over this many distinct subscriptions (none: reference figures). */
function targetsOf(subscribers: number, filters: number): { p99Ms?: number; rssKiB?: number; pagesWithin?: number } {
  if (subscribers === 10_000 && filters === 1) return { p99Ms: 250, rssKiB: 10, pagesWithin: 0.1 };
  if (subscribers === 10_000 && filters === 100) return { p99Ms: 400 };
  if (subscribers === 1_000 && filters === 1) return { p99Ms: 50 };
  return {};
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
const spread = (p: Percentiles) => `p50 ${ms(p.p50)} · p95 ${ms(p.p95)} · p99 ${ms(p.p99)} · max ${ms(p.max)}`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** RSS per subscriber in bytes, (with − without) ÷ subscriptions, both after a full GC. */
const rssPerSubscriber = (m: Measured) => (m.after.rss - m.before.rss) / Math.max(1, m.live);
/** Pages per second with subscribers as a share of the rate without. */
const pagesRatio = (m: Measured) => m.run.pagesPerSecond / m.reference.pagesPerSecond;
/** Every client got what it must (every event that is not progress, and the last progress), once, in order, and the same values as the others of its subscription. */
const everyEvent = (m: Measured) =>
  m.clients.complete === m.subscribers && m.live === m.subscribers && m.clients.errors.length === 0 && m.clients.sequences === Math.min(m.filters, m.subscribers);

/** The report's figures of one case, each id and label saying which (`subs_10000x100_…`: 10,000 subscribers over 100 distinct subscriptions). */
export function subscriberFigures(m: Measured): Figure[] {
  const key = `${m.subscribers}${m.filters === 1 ? '' : `x${m.filters}`}`;
  const which = `${fmtInt(m.subscribers)}${m.filters === 1 ? '' : ` over ${m.filters}`}`;
  return caseFigures(m).map((f) => ({ ...f, id: f.id.replace(/^subs_/, `subs_${key}_`), label: `[${which}] ${f.label}` }));
}

function caseFigures(m: Measured): Figure[] {
  const t = targetsOf(m.subscribers, m.filters);
  const r = m.clients;
  const all = everyEvent(m);
  const perSubscriber = rssPerSubscriber(m);
  const heapPerSubscriber = (m.after.heapUsed - m.before.heapUsed) / Math.max(1, m.live);
  const ratio = pagesRatio(m);
  const judged = <T>(target: T | undefined, pass: (t: T) => boolean) => (target === undefined ? {} : { pass: pass(target) });
  return [
    {
      id: 'subs_every_event',
      label: `clients that received every event of the run but progress, and its last progress, once and in order (${fmtInt(m.subscribers)} subscribed, ${m.filters === 1 ? 'one document' : `${m.filters} distinct subscriptions`})`,
      value: r.complete, unit: 'clients', shown: `${fmtInt(r.complete)} of ${fmtInt(r.subscribers)} (${fmtInt(m.live)} live on the server)`,
      target: `all ${fmtInt(m.subscribers)}`, pass: all,
      note:
        `${r.expected} events in the log (${r.expectedProgress} progress); ${fmtInt(r.finished)} saw the finish; ${r.duplicates} duplicates, ${r.foreign} not of the run; ` +
        `${r.sequences} distinct sequence(s) received over ${m.filters} subscription(s)` + (r.errors.length ? `; errors: ${r.errors.join(' | ')}` : ''),
    },
    {
      id: 'subs_events_per_subscriber', label: `events per subscriber (the bus carried ${m.run.server.progressEmitted} progress events of the run)`,
      value: r.perSubscriber.median, unit: 'events', shown: `${r.perSubscriber.median} (min ${r.perSubscriber.min}, max ${r.perSubscriber.max})`,
      note: `${fmtInt(r.deliveries)} deliveries in total; progress beyond the fan-outs' budget is held (latest wins)`,
    },
    {
      id: 'subs_latency_p99_ms', label: 'delivery latency (client receive − event `at`), p99', value: Math.round(r.latency.p99), unit: 'ms',
      shown: ms(r.latency.p99), ...(t.p99Ms === undefined ? {} : { target: `≤ ${t.p99Ms} ms` }), ...judged(t.p99Ms, (p) => all && r.latency.p99 <= p),
      note: spread(r.latency),
    },
    { id: 'subs_latency_p50_ms', label: 'delivery latency, p50', value: Math.round(r.latency.p50), unit: 'ms', shown: ms(r.latency.p50) },
    { id: 'subs_latency_p95_ms', label: 'delivery latency, p95', value: Math.round(r.latency.p95), unit: 'ms', shown: ms(r.latency.p95) },
    { id: 'subs_latency_max_ms', label: 'delivery latency, max', value: Math.round(r.latency.max), unit: 'ms', shown: ms(r.latency.max) },
    {
      id: 'subs_latency_from_log_p99_ms', label: "delivery latency from the event log's write (client receive − the row's created_at), p99",
      value: Math.round(r.latencyFromLog.p99), unit: 'ms', shown: ms(r.latencyFromLog.p99), note: `${spread(r.latencyFromLog)}; \`at\` → receive includes the throttle's hold of a progress event`,
    },
    {
      id: 'subs_fanout_spread_p99_ms', label: 'first → last subscriber receiving the same event, p99 over events',
      value: Math.round(r.fanoutSpread.p99), unit: 'ms', shown: ms(r.fanoutSpread.p99), note: `first subscriber of an event: ${spread(r.firstOfEvent)}`,
    },
    { id: 'subs_server_rss_before', label: 'server RSS before subscribers (after a full GC)', value: Math.round(m.before.rss), unit: 'bytes', shown: fmtMb(m.before.rss) },
    { id: 'subs_server_rss_after', label: `server RSS with ${fmtInt(m.live)} subscriptions (after a full GC)`, value: Math.round(m.after.rss), unit: 'bytes', shown: fmtMb(m.after.rss), note: `peak during the run ${fmtMb(m.run.server.rssPeak)}` },
    {
      id: 'subs_rss_per_subscriber', label: 'server RSS per subscriber ((with − without) ÷ subscriptions)', value: Math.round(perSubscriber), unit: 'bytes',
      shown: `${(perSubscriber / 1024).toFixed(1)} KiB`, ...(t.rssKiB === undefined ? {} : { target: `≤ ${t.rssKiB} KiB` }), ...judged(t.rssKiB, (k) => perSubscriber <= k * 1024),
      note: `JS heap per subscriber ${(heapPerSubscriber / 1024).toFixed(1)} KiB`,
    },
    {
      id: 'subs_server_cpu_ms', label: 'server CPU (user + sys) from the force until every client had the run\'s end', value: Math.round(m.run.server.cpuMs), unit: 'ms',
      shown: `${fmtSeconds(m.run.server.cpuMs)} over ${fmtSeconds(m.run.windowMs)}`,
      note: `without subscribers ${fmtSeconds(m.reference.server.cpuMs)} over ${fmtSeconds(m.reference.windowMs)}; client process ${fmtSeconds(r.cpuMs)}`,
    },
    {
      id: 'subs_server_elu_pct', label: 'server event-loop utilisation over the same window', value: Math.round(m.run.server.eventLoopUtilization * 100), unit: '%',
      shown: pct(m.run.server.eventLoopUtilization),
      note: `without subscribers ${pct(m.reference.server.eventLoopUtilization)}; loop delay p99 ${ms(m.run.server.eventLoopDelayP99Ms)}, max ${ms(m.run.server.eventLoopDelayMaxMs)}`,
    },
    {
      id: 'subs_pages_per_s', label: "the refresh's own pages per second (pages ÷ its audit row's started → completed), with subscribers", value: round1(m.run.pagesPerSecond), unit: 'pages/s',
      shown: `${m.run.pagesPerSecond.toFixed(1)} (${m.run.pages} pages in ${fmtSeconds(m.run.runMs)}, ${m.run.status})`,
      ...(t.pagesWithin === undefined ? {} : { target: `≥ ${pct(1 - t.pagesWithin)} of the rate without` }), ...judged(t.pagesWithin, (w) => ratio >= 1 - w),
      note: `${pct(ratio)} of the rate without subscribers`,
    },
    {
      id: 'subs_pages_per_s_reference', label: 'the same refresh with no subscriber, pages per second', value: round1(m.reference.pagesPerSecond), unit: 'pages/s',
      shown: `${m.reference.pagesPerSecond.toFixed(1)} (${m.reference.pages} pages in ${fmtSeconds(m.reference.runMs)}, ${m.reference.status})`,
    },
  ];
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * One markdown row for bench/results: subscribers | filters | p50/p95/p99/max ms | CPU s | ELU % |
 * RSS/subscriber KiB | pages/s with vs without | every event delivered.
 */
export function summaryRow(m: Measured): string {
  const l = m.clients.latency;
  return [
    fmtInt(m.subscribers),
    String(m.filters),
    [l.p50, l.p95, l.p99, l.max].map((x) => x.toFixed(0)).join(' / '),
    `${(m.run.server.cpuMs / 1000).toFixed(1)} (${(m.reference.server.cpuMs / 1000).toFixed(1)} without)`,
    `${(m.run.server.eventLoopUtilization * 100).toFixed(0)} (${(m.reference.server.eventLoopUtilization * 100).toFixed(0)} without)`,
    (rssPerSubscriber(m) / 1024).toFixed(1),
    `${m.run.pagesPerSecond.toFixed(1)} vs ${m.reference.pagesPerSecond.toFixed(1)} (${pct(pagesRatio(m))})`,
    everyEvent(m) ? 'yes' : `no (${fmtInt(m.clients.complete)} of ${fmtInt(m.subscribers)})`,
  ].join(' | ').replace(/^/, '| ').concat(' |');
}
