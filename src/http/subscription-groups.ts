// Multiplexed subscriptions, as Hasura multiplexes its live queries: subscribers whose operation
// is the same — the same document, operation name and variables, with the same scopes (the part
// of the context that can change a result) — share ONE execution: one stream from the event
// log, one resolver run and one ExecutionResult per event, serialised once (serializedResult),
// whatever the number of sockets. Each subscriber (a "member") only gets that result queued for
// its socket. It works below both transports (an envelop plugin: graphql-ws and SSE alike) and for
// every subscription field; a graphql-ws subscriber of a group already running joins it directly
// (joinDirect), without envelop's per-subscription wrappers, and its member writes its own frames.
//
// - A member joining a group whose values are whole states (runProgress, backfillProgress) gets
//   the latest one first, as a subscriber of its own would get the current state.
// - Backpressure per member: a member whose socket is slow (its transport has not taken the
//   previous value yet) has values queued; values with the same coalesce key (a run's progress,
//   a run's state: noteSent in src/schema/event-cursor.ts says which) replace the one queued, so
//   latest wins; anything else (started, finished, quality, blocked) is never dropped. A member
//   more than `maxBehind` values or `maxLagMs` behind is cut: its graphql-ws socket is closed
//   with TOO_SLOW_CLOSE_CODE, its SSE stream ends with an error, and its client reconnects (with
//   the last id it saw, it resumes from the event log). The others are not held up.
// - A subscription that replays (`after`, or an SSE Last-Event-ID) runs on its own: its history is
//   its own. A group ends when its last member leaves, or its stream ends (each member then ends).
// - Authorisation stays per subscriber: the scopes are part of the key, so a group never mixes them.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DocumentNode, ExecutionArgs, ExecutionResult, OperationDefinitionNode } from 'graphql';
import { getOperationAST, GraphQLError, Kind } from 'graphql';
import { isAsyncIterable, maskError, type Plugin } from 'graphql-yoga';
import type { WebSocket } from 'ws';
import type { Context, EventCursor } from '../schema/builder.ts';
import { DEFAULT_FANOUT_SHARE, FanOutBudget, fanOutTurn, FRESH_MS, MAX_HOLD_MS, passBegins, passEnds } from './fan-out-pacing.ts';

/** The close code of a graphql-ws socket cut for being too far behind (4000–4999 are the application's; graphql-ws's client retries it). */
export const TOO_SLOW_CLOSE_CODE = 4008;

type SubscribeFn = (args: ExecutionArgs) => unknown;
type Source = AsyncIterator<ExecutionResult>;
/** What the group's stream said of a value (src/schema/event-cursor.ts noteSent). */
interface Note {
  id: string | null;
  coalesceKey: string | null;
  state: boolean;
}
interface Entry {
  result: ExecutionResult;
  note: Note;
  at: number;
  /** Handed to a member already: from then on every member gets it. */
  given?: boolean;
  /** A newer value of its coalesce key came before any member had it: nobody gets it (latest wins). */
  superseded?: boolean;
}

export interface SubscriptionGroupsOptions {
  /** Values queued for one member at most before it is cut (after merging). Default 1000. */
  maxBehind?: number;
  /** How long a value may wait for a member before it is cut. Default 30 s. */
  maxLagMs?: number;
  /** The share of the process's time fan-outs may take before progress is held (src/http/fan-out-pacing.ts). Default 0.1. */
  fanOutShare?: number;
}

export interface SubscriptionGroups {
  /** Puts subscriptions in groups (SSE, and a graphql-ws subscriber that starts a group). */
  plugin: Plugin;
  /**
   * A graphql-ws subscriber of an operation whose group is running joins it directly, without
   * envelop's per-subscription wrappers (nothing of them is needed: its member writes masked
   * frames itself); null when it cannot (no such group, or it runs on its own): go through envelop.
   */
  joinDirect(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult | null>;
}

/** Options of the registry: the limits, and where the number of groups running and the budget's hold are told (the runtime's, read by /metrics). */
type RegistryOptions = SubscriptionGroupsOptions & { groups?: { count: number; progressHeldMs?: () => number } };

const serialized = new WeakMap<ExecutionResult, Buffer>();

/** A result as JSON bytes, made once however many sockets send it (graphql-ws's adapter and the SSE writer use it). */
export function serializedResult(result: ExecutionResult): Buffer {
  let bytes = serialized.get(result);
  if (!bytes) serialized.set(result, (bytes = Buffer.from(JSON.stringify(result))));
  return bytes;
}

/** Creates the registry of groups and the yoga plugin that puts subscriptions in them. */
export function createSubscriptionGroups(options: RegistryOptions = {}): SubscriptionGroups {
  const limits = { maxBehind: options.maxBehind ?? 1000, maxLagMs: options.maxLagMs ?? 30_000 };
  const groups = new WeakMap<DocumentNode, Map<string, Group>>();
  const running = options.groups ?? { count: 0 };
  const shared: Shared = {
    groupStarted: () => void running.count++,
    groupEnded: () => void running.count--,
    budget: new FanOutBudget(options.fanOutShare ?? DEFAULT_FANOUT_SHARE),
  };
  running.progressHeldMs = () => shared.budget.waitMs();
  const plugin: Plugin = {
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const key = groupKey(args);
      if (key === null) return;
      setSubscribeFn(async (a) => {
        let byKey = groups.get(a.document);
        if (!byKey) groups.set(a.document, (byKey = new Map()));
        const registry = byKey;
        // A group that ended as this subscriber joined (its stream over): a new one.
        for (;;) {
          let group = registry.get(key);
          if (!group) {
            const made: Group = new Group(a, subscribeFn as SubscribeFn, limits, shared, () => registry.get(key) === made && registry.delete(key));
            registry.set(key, (group = made));
          }
          const joined = await group.join(a.contextValue as Context);
          if (joined) return joined;
        }
      });
    },
  };
  return {
    plugin,
    async joinDirect(args) {
      const key = groupKey(args);
      const group = key === null ? undefined : groups.get(args.document)?.get(key);
      const joined = group ? await group.join(args.contextValue as Context) : null;
      if (!joined) return null;
      return isAsyncIterable(joined) ? (joined as AsyncIterableIterator<ExecutionResult>) : masked(joined as ExecutionResult);
    },
  };
}

/** The group key of a subscription, or null when it runs on its own (not a subscription, or it replays). */
function groupKey(args: ExecutionArgs): string | null {
  const ctx = args.contextValue as Context;
  const operation = getOperationAST(args.document, args.operationName);
  if (operation?.operation !== 'subscription' || !ctx?.principal) return null;
  if (ctx.eventCursor?.lastEventId || replays(operation, args.variableValues ?? {})) return null;
  const scopes = [...ctx.principal.scopes].sort().join(',');
  return `${args.operationName ?? ''}\u0000${stableJson(args.variableValues ?? {})}\u0000${scopes}`;
}

/** Whether a top-level field of the operation is given an `after` (a literal, or a variable set to a value). */
function replays(operation: OperationDefinitionNode, variables: Record<string, unknown>): boolean {
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) continue;
    for (const arg of selection.arguments ?? []) {
      if (arg.name.value !== 'after') continue;
      if (arg.value.kind === Kind.VARIABLE ? variables[arg.value.name.value] != null : arg.value.kind !== Kind.NULL) return true;
    }
  }
  return false;
}

/** JSON with object keys sorted: equal variables give equal text whatever their order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What every group of a registry shares: the gauge of groups running, and the fan-outs' budget. */
type Shared = { groupStarted(): void; groupEnded(): void; budget: FanOutBudget };
type Limits = { maxBehind: number; maxLagMs: number };

/** One execution shared by its members: started by the first, ended with the last. */
class Group {
  private readonly members = new Set<Member>();
  private source: Source | null = null;
  /** The latest whole state (for members that join later), when the values are states. */
  private latest: Entry | null = null;
  private readonly started: Promise<ExecutionResult | null>;
  private ended = false;
  /** Values not yet handed to every member, in order (deliver()); `logStart` is the sequence number of the first. */
  private log: Entry[] = [];
  private logStart = 0;
  private fanning: Promise<void> | null = null;
  /** Sends the progress held for the budget (hold()). */
  private holdTimer: NodeJS.Timeout | null = null;
  /** Since when progress has been held (Date.now()), over the newer values that replaced the first; null: nothing held. */
  private heldSince: number | null = null;
  /** The group's own cursor: the stream notes each value here (the members' cursors get it as they send). */
  private readonly cursor: EventCursor = { lastEventId: null, sentId: null };

  constructor(
    args: ExecutionArgs,
    subscribe: SubscribeFn,
    private readonly limits: Limits,
    private readonly shared: Shared,
    private readonly unregister: () => void,
  ) {
    this.started = this.start(args, subscribe);
  }

  /**
   * A member's stream of the group's values; the error result every member gets when the
   * subscription could not start; null when the group ended meanwhile (join a new one).
   */
  async join(ctx: Context): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult | null> {
    const failed = await this.started;
    if (failed) return failed;
    if (this.ended) return null;
    const member = new Member(this, ctx, this.limits, this.logStart + this.log.length);
    this.members.add(member);
    // The current state first, as a subscriber of its own would get it (queued now: not late).
    if (this.latest) member.push({ ...this.latest, at: Date.now() });
    return member;
  }

  /** A member leaves; the last one ends the group's execution. */
  leave(member: Member): void {
    if (!this.members.delete(member)) return;
    if (this.members.size === 0) this.end();
  }

  private async start(args: ExecutionArgs, subscribe: SubscribeFn): Promise<ExecutionResult | null> {
    // The first member's context with the group's own cursor: the execution is the group's, not that member's.
    const ctx = args.contextValue as Context;
    const result = await subscribe({ ...args, contextValue: { ...ctx, eventCursor: this.cursor } });
    if (!isAsyncIterable(result)) {
      this.ended = true;
      this.unregister();
      return result as ExecutionResult;
    }
    this.source = (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]();
    this.shared.groupStarted();
    // The group's one stream is not a subscriber of its own: its members are (sqp_refresh_subscribers).
    ctx.runtime.subscribers.count--;
    void this.pump(ctx);
    return null;
  }

  /** Takes each value of the group's stream and queues it for every member. */
  private async pump(ctx: Context): Promise<void> {
    try {
      for (;;) {
        const next = await this.source!.next();
        if (next.done || this.ended) break;
        const c = this.cursor;
        const entry: Entry = { result: next.value, note: { id: c.sentId, coalesceKey: c.sentCoalesceKey ?? null, state: c.sentIsState ?? false }, at: Date.now() };
        if (entry.note.state) this.latest = entry;
        this.deliver(entry);
      }
      await this.delivered();
      for (const member of [...this.members]) member.finish(null);
    } catch (error) {
      await this.delivered();
      for (const member of [...this.members]) member.finish(error);
    } finally {
      ctx.runtime.subscribers.count++;
      this.end();
    }
  }

  /**
   * Hands a value to every member, a slice at a time with the event loop free in between (a value
   * for 10,000 sockets is ~100 ms of writes, and the refresh it reports on, in this process, must
   * not wait behind all of it), and progress within the fan-outs' budget (src/http/fan-out-pacing.ts).
   * A member gets, at its turn, every value it has not had yet, in order, in one write: values
   * that come during a pass reach the members not yet passed in that same pass (a run's end comes
   * as a burst — its last progress, quality metrics, finish — and each socket gets it in one
   * write), and a second pass brings only the members passed before them. A value no member has
   * had yet is dropped when a newer value of its coalesce key comes (latest wins, for everyone
   * alike: every member gets the same values).
   */
  private deliver(entry: Entry): void {
    const key = entry.note.coalesceKey;
    if (key !== null) for (const queued of this.log) if (queued.note.coalesceKey === key && !queued.given) queued.superseded = true;
    this.log.push(entry);
    this.send(false);
  }

  /**
   * Starts a fan-out of the log (unless one runs: it takes what came). Progress alone waits while
   * the budget is spent, unless it has been held MAX_HOLD_MS already; `now`: whatever the budget says.
   */
  private send(now: boolean): void {
    // No member (the last left: the group is ending): nothing to send, no timer to leave behind.
    if (this.fanning || !this.log.length || !this.members.size) return;
    const overdue = this.heldSince !== null && Date.now() - this.heldSince >= MAX_HOLD_MS;
    if (!now && !overdue && !this.urgent() && this.shared.budget.waitMs() > 0) return this.hold();
    this.clearHold();
    // The pass starts once the event loop has had a turn: what the stream has already (a run's end
    // comes as a burst) is taken first, and reaches each socket in the same write.
    this.fanning = nextTurn()
      .then(() => this.fanOutAll())
      .finally(() => {
        this.fanning = null;
        this.send(false); // a value that came as the pass ended
      });
  }

  /** Whether the log holds a value that goes at once: one that is not progress, or one some member has had already. */
  private urgent(): boolean {
    return this.log.some((e) => !e.superseded && (e.note.coalesceKey === null || e.given));
  }

  /**
   * Holds the log's progress until a value that goes at once comes (send(): one that is not
   * progress, or any once the budget allows or once progress has been held MAX_HOLD_MS); or
   * until the budget allows, if the newest held value is then at most FRESH_MS old; or
   * MAX_HOLD_MS after the newest came, when nothing newer comes: the run says nothing more for
   * now, and its latest state goes.
   */
  private hold(): void {
    const now = Date.now();
    this.heldSince ??= now;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    const newest = this.log.at(-1)!; // never superseded: it is what supersedes
    const ready = this.shared.budget.waitMs();
    const at = ready <= newest.at + FRESH_MS - now ? ready : newest.at + MAX_HOLD_MS - now;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.send(true);
    }, Math.max(0, at));
  }

  private clearHold(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.heldSince = null;
  }

  /** Resolves once every value handed to deliver() reached every member (held progress is sent now). */
  private async delivered(): Promise<void> {
    this.send(true);
    while (this.fanning) await this.fanning;
  }

  private async fanOutAll(): Promise<void> {
    passBegins();
    try {
      await this.passes();
    } finally {
      passEnds();
    }
  }

  /** The passes of fanOutAll, until every member has every value of the log. */
  private async passes(): Promise<void> {
    const budget = this.shared.budget;
    let since = performance.now();
    // The time written counts against the budget; the turns between slices do not.
    const turn = async () => {
      budget.spend(performance.now() - since);
      await fanOutTurn();
      since = performance.now();
    };
    while (this.log.length) {
      let n = 0;
      // The values of a range, made once for every member that lacks the same range (in a pass
      // most lack the same); a value that comes changes the range's end, hence the key.
      let range = { from: -1, end: -1, values: [] as Entry[] };
      for (const member of [...this.members]) {
        const end = this.logStart + this.log.length;
        if (member.given < end) {
          if (range.from !== member.given || range.end !== end) {
            range = { from: member.given, end, values: this.log.slice(member.given - this.logStart).filter((e) => !e.superseded) };
            for (const value of range.values) value.given = true;
          }
          member.pushAll(range.values);
          member.given = end;
        }
        // Every so often, whether the fan-outs (of every group: 100 groups of 100 are 10,000 sockets too) had their time.
        if (++n % 50 === 0) await turn();
      }
      // Values that came during the pass: the members passed before them get them next pass.
      if (this.allGiven()) {
        this.logStart += this.log.length;
        this.log = [];
      }
      await turn();
    }
  }

  /** Whether every member has had every value of the log. */
  private allGiven(): boolean {
    const end = this.logStart + this.log.length;
    for (const member of this.members) if (member.given !== end) return false;
    return true;
  }

  private end(): void {
    this.clearHold();
    if (this.ended && !this.source) return;
    this.ended = true;
    this.unregister();
    const source = this.source;
    this.source = null;
    if (source) {
      this.shared.groupEnded();
      void source.return?.();
    }
  }
}

/** The socket and operation id of a graphql-ws subscriber (put in its context by src/http/graphql-ws.ts). */
interface WsTarget {
  socket?: WebSocket;
  subscriptionId?: string;
}

/** Bytes a socket may hold unsent before its member queues instead of writing (then merges). */
const HIGH_WATER_BYTES = 64 * 1024;
const NEXT_END = Buffer.from('}');

/**
 * One subscriber of a group: its queue of values not yet taken by its transport. Over SSE the
 * transport pulls (the member is the iterator yoga reads). Over graphql-ws the member writes each
 * `next` message to its socket itself — the message head (its operation id) made once, the
 * result's bytes shared — and graphql-ws sees an iterator that yields nothing and ends when the
 * member does (then it sends `complete`, after every `next`). A socket holding more than
 * HIGH_WATER_BYTES unsent is behind: values queue (and merge) until it drains.
 */
class Member implements AsyncIterableIterator<ExecutionResult> {
  private queue: Entry[] = [];
  private wake: (() => void) | null = null;
  private done = false;
  private left = false;
  /** Why it ended, when not as its group's stream did: said to an SSE client (a graphql-ws socket is closed instead). */
  private failure: unknown = null;
  /** graphql-ws: the socket it writes to, and the head of its `next` messages. */
  private readonly ws: { socket: WebSocket; head: Buffer; draining: boolean } | null;

  constructor(
    private readonly group: Group,
    private readonly ctx: Context & WsTarget,
    private readonly limits: Limits,
    /** Sequence number of the group's next value this member has not been given (the group's fan-out keeps it). */
    public given: number,
  ) {
    ctx.runtime.subscribers.count++;
    this.ws = ctx.socket && ctx.subscriptionId !== undefined
      ? { socket: ctx.socket, head: Buffer.from(`{"id":${JSON.stringify(ctx.subscriptionId)},"type":"next","payload":`), draining: false }
      : null;
  }

  /** Queues a value: one with the coalesce key of a value still queued replaces it (latest wins); too far behind, the member is cut. */
  push(entry: Entry): void {
    if (this.done) return;
    if (this.ws && !this.queue.length && this.ws.socket.bufferedAmount < HIGH_WATER_BYTES) return this.write(entry);
    const key = entry.note.coalesceKey;
    if (key !== null && this.queue.length) {
      const i = this.queue.findIndex((q) => q.note.coalesceKey === key);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.queue.push(entry);
    if (this.queue.length > this.limits.maxBehind || entry.at - this.queue[0]!.at > this.limits.maxLagMs) return this.cut();
    if (this.ws) this.flushOnDrain();
    else this.wake?.();
  }

  /** Several values in order: over graphql-ws, written in one go (the socket corked: one write for them all) when it is not behind. */
  pushAll(entries: readonly Entry[]): void {
    if (entries.length === 1) return this.push(entries[0]!);
    const raw = this.ws && !this.done && !this.queue.length && entries.length > 1 ? rawSocket(this.ws.socket) : undefined;
    raw?.cork();
    for (const entry of entries) this.push(entry);
    raw?.uncork();
  }

  /** The group's stream ended (error: with that error): what is queued is still delivered, then the member ends. */
  finish(error: unknown): void {
    this.failure = error;
    this.done = true;
    this.wake?.();
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    // graphql-ws: the member writes; this only ends once it is over and its queue is written.
    while (this.ws ? !this.done || this.queue.length : !this.queue.length) {
      if (!this.ws && this.done) return this.close();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    if (this.ws) return this.close();
    const entry = this.queue.shift()!;
    // What SSE puts in `id:` (src/http/sse-event-ids.ts), as a subscriber of its own would note it.
    if (this.ctx.eventCursor) this.ctx.eventCursor.sentId = entry.note.id;
    return { value: entry.result, done: false };
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.queue = [];
    this.done = true;
    return this.close();
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ExecutionResult> {
    return this;
  }

  /** graphql-ws: one `next` message, its head and the result's shared bytes (errors masked as yoga masks them). */
  private write(entry: Entry): void {
    const { socket, head } = this.ws!;
    if (socket.readyState !== socket.OPEN) return;
    const raw = rawSocket(socket);
    const payload = serializedResult(masked(entry.result));
    // One contiguous WebSocket frame (ws would write its header and the payload as two buffers:
    // a writev each time). Safe beside ws's own writes: it sends every frame whole (no
    // permessage-deflate on this server), so frames never interleave.
    if (raw) raw.write(textFrame(head, payload));
    else socket.send(Buffer.concat([head, payload, NEXT_END]), { binary: false });
  }

  /** graphql-ws: writes what is queued once the socket has taken what it holds (once per wait). */
  private flushOnDrain(): void {
    const ws = this.ws!;
    if (ws.draining) return;
    const raw = rawSocket(ws.socket);
    if (!raw) return;
    ws.draining = true;
    raw.once('drain', () => {
      ws.draining = false;
      while (this.queue.length && ws.socket.bufferedAmount < HIGH_WATER_BYTES) this.write(this.queue.shift()!);
      if (this.queue.length) this.flushOnDrain();
      else this.wake?.();
    });
  }

  /** Too far behind: a graphql-ws socket is closed with TOO_SLOW_CLOSE_CODE; an SSE stream ends with an error. */
  private cut(): void {
    const behind = this.queue.length;
    this.queue = [];
    this.done = true;
    this.failure = new GraphQLError(`this subscriber fell ${behind} events behind: reconnect and resume with the last id received`, { extensions: { code: 'TOO_SLOW' } });
    this.ctx.socket?.close(TOO_SLOW_CLOSE_CODE, 'Too slow: reconnect and resume with the last id received');
    this.wake?.();
  }

  /** Leaves the group (once); over SSE a failure ends the stream with an error, so that its client reconnects. */
  private close(): IteratorResult<ExecutionResult> {
    if (!this.left) {
      this.left = true;
      this.ctx.runtime.subscribers.count--;
      this.group.leave(this);
    }
    if (this.failure && !this.ctx.socket) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    return { value: undefined, done: true };
  }
}

/** An unmasked, final text frame (server to client, RFC 6455 §5.2) of head + payload + `}`, in one buffer. */
function textFrame(head: Buffer, payload: Buffer): Buffer {
  const length = head.length + payload.length + 1;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  head.copy(frame, headerLength);
  payload.copy(frame, headerLength + head.length);
  frame[frame.length - 1] = 0x7d; // '}'
  return frame;
}

/** The TCP socket under a WebSocket (ws keeps it as `_socket`): its drain event and cork are what the member needs of it. */
function rawSocket(socket: WebSocket): import('node:net').Socket | undefined {
  return (socket as unknown as { _socket?: import('node:net').Socket })._socket;
}

const maskedResults = new WeakMap<ExecutionResult, ExecutionResult>();

/**
 * A result as a client may see it: an unexpected error masked as yoga masks it (the group's
 * stream is the subscription's own, before yoga's masking, which wraps what each SSE member yields).
 */
function masked(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  let safe = maskedResults.get(result);
  if (!safe) maskedResults.set(result, (safe = { ...result, errors: result.errors.map((e) => maskError(e, 'Unexpected error.') as GraphQLError) }));
  return safe;
}
