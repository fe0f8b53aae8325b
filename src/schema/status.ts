// runnerStatus (replicas alive, runs in flight with progress, queue depth, last tick) and
// tableHealth (per table: state and why, lateness, staleness, failure streak, quality, bytes
// today). Every state, its precedence and the queue depth are the read model's (state/).
import { encodeGlobalID } from '@pothos/plugin-relay';
import { healthOf, type TableHealth } from '../runner/state/health.ts';
import { ALIVE_SECONDS, readReplicas, readTableFacts, type ReplicaRow, type TableFacts } from '../runner/state/read-model.ts';
import { runningProgress } from '../runner/state/run-state.ts';
import { queueDepth, TABLE_STATES, type TableState } from '../runner/state/table-state.ts';
import { builder, type Context } from './builder.ts';
import { RefreshConfigRef } from './configs.ts';
import { RefreshRunRef } from './runs.ts';


const Replica = builder.objectRef<ReplicaRow>('Replica').implement({
  description: 'A service process running a runner against this database.',
  fields: (t) => ({
    workerName: t.exposeString('workerName', { description: 'The WORKER_NAME of the process.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', description: 'When the process started.' }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', description: 'Its latest heartbeat.' }),
    lastTickAt: t.expose('lastTickAt', { type: 'DateTime', nullable: true, description: "When its runner's latest tick started; null: none yet." }),
    lastTickMs: t.exposeFloat('lastTickMs', { nullable: true, description: 'How long that tick took to decide what to run, in milliseconds.' }),
    alive: t.exposeBoolean('alive', { description: `Seen within the last ${ALIVE_SECONDS} s.` }),
    runsInFlight: t.int({ description: 'Refreshes it is running now.', resolve: (r) => r.inFlight.length }),
  }),
});

interface RunInFlight {
  runId: number;
  workerName: string | null;
  rowsProcessed: number;
  totalRows: number | null;
  percent: number | null;
  rowsPerSecond: number | null;
  etaSeconds: number | null;
}

const RunInFlightRef = builder.objectRef<RunInFlight>('RunInFlight').implement({
  description: 'A refresh running now, on any replica, with its progress.',
  fields: (t) => ({
    run: t.field({ type: RefreshRunRef, description: 'Its audit row.', resolve: (r, _args, ctx) => ctx.db.prisma.refreshRun.findUniqueOrThrow({ where: { id: r.runId } }) }),
    workerName: t.exposeString('workerName', { nullable: true, description: 'The replica running it, when known.' }),
    rowsProcessed: t.exposeInt('rowsProcessed', { description: 'Committed so far.' }),
    totalRows: t.exposeInt('totalRows', { nullable: true, description: 'Rows the source holds in all, when it says.' }),
    percent: t.exposeFloat('percent', { nullable: true, description: 'Share of totalRows committed, 0 to 100; null while the total is unknown.' }),
    rowsPerSecond: t.exposeFloat('rowsPerSecond', { nullable: true, description: 'Recent speed, in rows committed per second.' }),
    etaSeconds: t.exposeFloat('etaSeconds', { nullable: true, description: 'Seconds until it ends at that speed; null while the total is unknown.' }),
  }),
});

interface RunnerStatusShape {
  replicas: ReplicaRow[];
  runsInFlight: RunInFlight[];
  queueDepth: number;
  lastTickAt: Date | null;
}

const RunnerStatusRef = builder.objectRef<RunnerStatusShape>('RunnerStatus').implement({
  description: 'The runners of every replica at a glance.',
  fields: (t) => ({
    replicas: t.field({ type: [Replica], description: 'Every process that runs a runner against this database, alive or not.', resolve: (s) => s.replicas }),
    runsInFlight: t.field({ type: [RunInFlightRef], description: 'Refreshes running now on any replica, oldest first.', resolve: (s) => s.runsInFlight }),
    queueDepth: t.exposeInt('queueDepth', { description: 'Tables a runner would start now: due (a retry too) or interrupted, and neither blocked nor running (see tableHealth).' }),
    lastTickAt: t.expose('lastTickAt', { type: 'DateTime', nullable: true, description: 'The latest tick of any replica.' }),
  }),
});

async function runnerStatus(_root: unknown, _args: unknown, ctx: Context): Promise<RunnerStatusShape> {
  const pool = ctx.db.pool;
  const [replicas, health] = await Promise.all([
    readReplicas(pool),
    allHealth(ctx),
  ]);
  // Runs in flight: the tables whose refresh lock is held (a dead process's `running` row is
  // "interrupted", not in flight), with the progress read-model.ts derives for runProgress too.
  const local = ctx.runtime.runner?.status();
  const remote = new Map(replicas.flatMap((r) => r.inFlight.filter((f) => f.runId !== null).map((f) => [f.runId!, f] as const)));
  const running = [...health.facts.values()].filter((f) => f.runningNow && f.runningRunId !== null);
  running.sort((a, b) => (a.runningStartedAt?.getTime() ?? 0) - (b.runningStartedAt?.getTime() ?? 0) || a.runningRunId! - b.runningRunId!);
  const runsInFlight = running.map((f): RunInFlight => {
    const mine = local?.inFlight.find((r) => r.runId === f.runningRunId);
    return {
      runId: f.runningRunId!,
      workerName: mine ? local!.workerName : f.checkpoint?.worker ?? null,
      ...runningProgress(f.checkpoint, mine, remote.get(f.runningRunId!)),
    };
  });
  const ticks = replicas.map((r) => r.lastTickAt?.getTime() ?? 0).filter(Boolean);
  return { replicas, runsInFlight, queueDepth: queueDepth(health.rows.values()), lastTickAt: ticks.length ? new Date(Math.max(...ticks)) : null };
}

builder.queryField('runnerStatus', (t) =>
  t.field({ type: RunnerStatusRef, description: 'Replicas alive, runs in flight with progress, queue depth, last tick.', resolve: runnerStatus }),
);

// tableHealth ---------------------------------------------------------------------------------
/** What each state means; the enum lists them in their precedence order (state/table-state.ts). */
const STATE_MEANING: Record<TableState, string> = {
  running: "A refresh is running now: the table's refresh lock is held, on some replica.",
  interrupted: "Its latest run says running but no process holds the table's lock (the process died): a runner recovers it and resumes from its checkpoint.",
  disabled: 'is_enabled is false.',
  unconfigured: 'No custom_sync_params: nothing says where its rows come from.',
  blocked: 'Its next refresh may not run: a hard parent failed (and is not refreshed before it), is running, or a dependency cycle (see reasons).',
  failed: 'Its latest refresh failed and no retry is coming: the error is not retryable, or its retries are used up (see reasons).',
  retrying: 'Its latest refresh failed; the runner retries it (see reasons for when).',
  late: 'No successful refresh within its freshness SLA (freshnessSlaHours), and nothing above explains why.',
  due: 'Its refresh time has passed; a runner will take it.',
  scheduled: 'Waits for its next refresh time.',
};

const TableStateEnum = builder.enumType('TableState', {
  description: "A registered table's state now, as the runner sees it: the first of these, in this order, that holds.",
  values: Object.fromEntries(TABLE_STATES.map((s) => [s.toUpperCase(), { value: s, description: STATE_MEANING[s] }])) as Record<Uppercase<TableState>, { value: TableState; description: string }>,
});

const QualityVerdictEnum = builder.enumType('QualityVerdict', {
  description: 'What the quality checks of the latest finished run said, in one word.',
  values: {
    PASS: { value: 'pass', description: 'Every metric of the latest run within its threshold.' },
    WARNING: { value: 'warning', description: 'A non-blocking metric outside its threshold.' },
    FAIL: { value: 'fail', description: 'A blocking metric outside its threshold: the run failed.' },
  } as const,
});

const TableHealthRef = builder.objectRef<TableHealth>('TableHealth').implement({
  description: 'How a registered table is doing: its state and why, staleness, failures, quality and cost today.',
  fields: (t) => ({
    configId: t.id({ description: 'Global id of the RefreshConfig.', resolve: (h) => encodeGlobalID('RefreshConfig', h.configId) }),
    table: t.exposeString('table', { description: 'The table, as schema.table.' }),
    state: t.field({ type: TableStateEnum, description: 'Its state now (reasons say why).', resolve: (h) => h.state }),
    reasons: t.exposeStringList('reasons', { description: 'Why it is in that state.' }),
    stale: t.exposeBoolean('stale', { description: 'Not refreshed within its frequency.' }),
    late: t.exposeBoolean('late', { description: 'No successful refresh within its freshness SLA (enabled, configured tables only); its state is LATE unless a state above LATE holds.' }),
    freshnessSlaHours: t.exposeInt('freshnessSlaHours', { description: 'Its freshness SLA in force, in hours: its own (RefreshConfig.freshnessSlaHours) or twice its refresh frequency.' }),
    lateAfter: t.expose('lateAfter', { type: 'DateTime', description: 'When it is late unless it succeeds first: its latest success (or, never refreshed, its registration) plus its SLA.' }),
    lastRefreshAt: t.expose('lastRefreshAt', { type: 'DateTime', nullable: true, description: 'When its latest successful refresh finished; null: never.' }),
    nextRefreshAt: t.expose('nextRefreshAt', { type: 'DateTime', nullable: true, description: 'When it is next due.' }),
    failureStreak: t.exposeInt('failureStreak', { description: 'Failed runs since the last success.' }),
    qualityVerdict: t.field({ type: QualityVerdictEnum, nullable: true, description: 'The verdict of the latest finished run; null: no run yet.', resolve: (h) => h.qualityVerdict }),
    latestRun: t.field({
      type: RefreshRunRef,
      nullable: true,
      description: 'Its newest run, running or finished (an interrupted one too); null: never run.',
      resolve: (h, _args, ctx) => (h.latestRunId === null ? null : ctx.db.prisma.refreshRun.findUnique({ where: { id: h.latestRunId } })),
    }),
    bytesBilledToday: t.field({ type: 'BigInt', description: 'BigQuery bytes billed to its runs since midnight UTC.', resolve: (h) => h.bytesBilledToday }),
  }),
});

interface AllHealth {
  rows: Map<number, TableHealth>;
  facts: Map<number, TableFacts>;
}

/** Health (and the read model's facts) of every table, read once per request however many ask. */
function allHealth(ctx: Context): Promise<AllHealth> {
  ctx.memo ??= new Map();
  let p = ctx.memo.get('health') as Promise<AllHealth> | undefined;
  if (!p) {
    const pool = ctx.db.pool;
    const now = new Date();
    p = readTableFacts(pool, now, null).then(async (facts) => ({
      rows: new Map((await healthOf(facts, pool, now, null, ctx.runtime.retry)).map((h) => [h.configId, h])),
      facts: new Map(facts.map((f) => [f.configId, f])),
    }));
    ctx.memo.set('health', p);
  }
  return p;
}

builder.queryField('tableHealth', (t) =>
  t.field({
    type: [TableHealthRef],
    description: 'Every registered table: state and why, staleness, failure streak, quality verdict, bytes billed today.',
    args: { state: t.arg({ type: TableStateEnum, description: 'Only tables in this state.' }) },
    resolve: async (_root, args, ctx) => [...(await allHealth(ctx)).rows.values()].filter((h) => !args.state || h.state === args.state),
  }),
);

builder.prismaObjectFields(RefreshConfigRef, (t) => ({
  health: t.field({
    type: TableHealthRef,
    description: 'State and why (e.g. blocked by a failed parent), staleness, failures, quality.',
    resolve: async (c, _args, ctx) => (await allHealth(ctx)).rows.get(c.id)!,
  }),
}));
