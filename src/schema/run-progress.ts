// runProgress: one run's state — current state first, so a dashboard that connects late is
// never blank — then each change until it ends. Each state carries `eventId`, the log id of the
// event it reflects; a dashboard that comes back passes the last one as `after` (or SSE's
// Last-Event-ID) and gets the states of the events it missed instead of the current one.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { percentOf, readRunState, type RunState } from '../runner/state/run-state.ts';
import { isAfter } from '../subscriptions/event-log.ts';
import type { LoggedEvent } from '../subscriptions/events.ts';
import { builder, type Context } from './builder.ts';
import { RefreshStatus, RunOutcome } from './enums.ts';
import { eventStreams, noteSent, openEvents, resumeAfter } from './event-cursor.ts';
import { RefreshRunRef } from './runs.ts';
import { endOnShutdown } from './stream-shutdown.ts';

/** A run's state and the log id of the newest event it reflects (null: the log holds none of the run). */
type RunProgressView = RunState & { eventId: string | null };

const RunProgressState = builder.objectRef<RunProgressView>('RunProgressState').implement({
  description: "One run's state: rows so far (committed), total when known, speed and ETA.",
  fields: (t) => ({
    runId: t.id({ description: 'Global id of the RefreshRun.', resolve: (s) => encodeGlobalID('RefreshRun', s.runId) }),
    eventId: t.id({
      nullable: true,
      description: "The event log's id of the newest event of the run this state reflects (pass it as runProgress's `after` to resume); null while the log holds none.",
      resolve: (s) => s.eventId,
    }),
    run: t.field({ type: RefreshRunRef, description: 'Its audit row, read when asked.', resolve: (s, _args, ctx) => ctx.db.prisma.refreshRun.findUniqueOrThrow({ where: { id: s.runId } }) }),
    status: t.field({ type: RefreshStatus, description: 'RUNNING until it ends, then SUCCESS, WARNING or FAILED.', resolve: (s) => s.status }),
    outcome: t.field({ type: RunOutcome, nullable: true, description: 'How it ended; null while it runs.', resolve: (s) => s.outcome }),
    rowsProcessed: t.exposeInt('rowsProcessed', { description: 'Rows committed so far (in all, once it ended).' }),
    totalRows: t.exposeInt('totalRows', { nullable: true, description: 'Rows the source holds in all, when known.' }),
    percent: t.exposeFloat('percent', {
      nullable: true,
      description: 'Share of totalRows committed, 0 to 100: 100 once it completed, how far it got when it stopped early; null while the total is unknown.',
    }),
    rowsPerSecond: t.exposeFloat('rowsPerSecond', { nullable: true, description: 'Recent speed while it runs; null once it ended or before the first page.' }),
    etaSeconds: t.exposeFloat('etaSeconds', { nullable: true, description: 'Seconds until it ends at that speed; null when unknown or ended.' }),
    finished: t.exposeBoolean('finished', { description: 'It has ended: this is the last state sent.' }),
  }),
});

/** The run's state now: the read model's (read-model.ts), with this process's runner's own progress. */
async function currentState(ctx: Context, id: number): Promise<RunState> {
  const state = await readRunState(ctx.db.pool, id, ctx.runtime.runner?.status().inFlight.find((f) => f.runId === id));
  if (!state) throw new GraphQLError(`runId: run ${id} does not exist`, { extensions: { code: 'NOT_FOUND', field: 'runId' } });
  return state;
}

/** The state after one of the run's events; null for an event that changes none of it (started, quality). */
function applyEvent(last: RunProgressView, e: LoggedEvent): RunProgressView | null {
  if (e.type === 'run:progress') {
    const { rowsProcessed, totalRows, percent, rowsPerSecond, etaSeconds } = e;
    return { ...last, status: 'running', outcome: null, finished: false, rowsProcessed, totalRows, percent, rowsPerSecond, etaSeconds, eventId: e.id };
  }
  if (e.type !== 'run:finished') return null;
  const whole = e.outcome === 'completed';
  const totalRows = whole ? Math.max(e.rowsProcessed, last.totalRows ?? 0) : last.totalRows;
  const percent = whole ? 100 : (percentOf(e.rowsProcessed, totalRows) ?? last.percent);
  return { ...last, status: e.status, outcome: e.outcome, rowsProcessed: e.rowsProcessed, totalRows, percent, rowsPerSecond: null, etaSeconds: null, finished: true, eventId: e.id };
}

/**
 * The states to send: without `after`, the current state (reflecting the run's events up to the
 * newest one logged when it was read) and then those of later events; with `after`, the states
 * of the events after it. Ends with the finished state.
 */
async function* runProgress(ctx: Context, id: number, after: string | null, opened: AsyncIterableIterator<LoggedEvent>): AsyncGenerator<RunProgressView> {
  // The stream listens from before the state is read (and, with `after`, replays first); the
  // state read reflects every event of the run up to `seen`, so later ones only are applied.
  const events = endOnShutdown(opened, ctx.shutdown);
  try {
    const seen = await eventStreams(ctx).latestOfRun(id);
    let last: RunProgressView = { ...(await currentState(ctx, id)), eventId: seen };
    // Sent first when not resuming, or when resuming finds nothing newer of a run that ended
    // (its finish never reached the log: the state read is all there is to say).
    const nothingNewer = seen === null || after === null || !isAfter(seen, after);
    if (after === null || (nothingNewer && last.finished)) {
      yield last;
      if (last.finished) return;
    }
    for await (const e of events) {
      if (after === null && seen !== null && !isAfter(e.id, seen)) continue; // the first state reflects it
      const next = applyEvent(last, e);
      if (!next) continue;
      yield (last = next);
      if (last.finished) return;
    }
  } finally {
    await events.return?.();
  }
}

builder.subscriptionField('runProgress', (t) =>
  t.field({
    type: RunProgressState,
    description:
      "A run's current state first, then each change until it finishes. With `after` (an eventId received, or an SSE Last-Event-ID) the states of the events that followed it instead, then live ones; an `after` older than the log keeps is the error EVENTS_EXPIRED.",
    args: {
      runId: t.arg.globalID({ required: true, description: 'Global id of the RefreshRun to follow.', validate: z.object({ typename: z.literal('RefreshRun'), id: z.string() }) }),
      after: t.arg.id({ description: 'The eventId of the last state received: resume after it.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const after = resumeAfter(args.after == null ? null : String(args.after), ctx);
      const id = Number(args.runId.id);
      // Opened here, not at the first next(): an expired `after` is this subscription's error.
      const events = await openEvents(ctx, { runId: id }, after);
      // Each value is the run's whole state: a later one replaces an earlier for a subscriber behind, and a subscriber joining starts from the latest; the last (finished) is never merged away.
      return noteSent(runProgress(ctx, id, after, events), (s) => ({ id: s.eventId, coalesceKey: s.finished ? null : 'state', state: true }), ctx);
    },
    resolve: (state) => state,
  }),
);
