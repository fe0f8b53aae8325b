// The Pothos builder and its plugins only; the types live one area per file beside it.
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import RelayPlugin from '@pothos/plugin-relay';
import ValidationPlugin from '@pothos/plugin-validation';
import { z } from 'zod';
import { AuthScopeFailureType, ForbiddenError, type AuthFailure } from '@pothos/plugin-scope-auth';
import type { Principal } from '../auth/tokens.ts';
import type { Database } from '../db.ts';
import type PrismaTypes from '../generated/prisma/pothos-types.ts';
import { getDatamodel } from '../generated/prisma/pothos-types.ts';
import type { Runtime } from '../runtime.ts';
import { decodeCanonicalGlobalID } from './global-ids.ts';
import InputTextPlugin from './input-text.ts';

/** The most items one page of any connection may hold. */
const MAX_PAGE_SIZE = 100;

export interface Context {
  /** Who calls: set from the bearer token (HTTP) or connectionParams (WebSocket). */
  principal: Principal;
  /** Why the credential presented is refused (unknown or revoked token, not `Bearer <token>`). */
  invalidToken?: string;
  /** Aborted when the server stops: live subscriptions end (SSE clients get `complete`). */
  shutdown?: AbortSignal;
  /** Per-request memo (e.g. the plan, loaded once however many configs ask for their state). */
  memo?: Map<string, Promise<unknown>>;
  /** The process's database (graph reads and commands use its `pool` and `prisma`). */
  db: Database;
  /** The process's runner, bus and sources (src/runtime.ts). */
  runtime: Runtime;
  /**
   * Where this request's subscription stands in the event log: the Last-Event-ID it came with
   * (an SSE reconnect; `after` wins over it), and the id of the last event it sent, which the SSE
   * writer puts on each event as `id:` (src/http/sse-event-ids.ts).
   */
  eventCursor?: EventCursor;
}

/** A subscription's place in the event log (see Context.eventCursor). */
export interface EventCursor {
  readonly lastEventId: string | null;
  sentId: string | null;
  /**
   * How the value just sent may be merged while its subscriber is behind
   * (src/http/subscription-groups.ts): values with the same key replace each other (a run's
   * progress, a run's state); null or absent: never merged, never dropped.
   */
  sentCoalesceKey?: string | null;
  /** The value just sent is a whole current state (runProgress): a subscriber joining later may start from it. */
  sentIsState?: boolean;
}

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  AuthScopes: { read: boolean; operate: boolean; admin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    BigInt: { Input: bigint; Output: bigint | number };
  };
}>({
  defaultFieldNullability: false,
  // Errors first (it turns scope-auth's ForbiddenError into a typed result where a field lists
  // it), then scope-auth before the plugins that wrap resolvers; then the refusal of text
  // PostgreSQL cannot store in any argument (input-text.ts), a ValidationError where listed.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, InputTextPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin],
  errors: { defaultTypes: [] },
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      read: ctx.principal.scopes.has('read'),
      operate: ctx.principal.scopes.has('operate'),
      admin: ctx.principal.scopes.has('admin'),
    }),
    unauthorizedError: (_parent, ctx, info, result) => {
      const needed = describeFailure(result.failure);
      const who = ctx.invalidToken ?? (ctx.principal.name ? `token "${ctx.principal.name}" lacks it` : 'no token was given');
      return new ForbiddenError(`${info.parentType.name}.${info.fieldName} needs scope ${needed}: ${who}`, result.failure);
    },
  },
  prisma: {
    // The process's database, from the context the composition root builds (buildApp's services).
    client: (ctx) => ctx.db.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    maxConnectionSize: MAX_PAGE_SIZE,
    defaultConnectionSize: 20,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    decodeGlobalID: decodeCanonicalGlobalID,
    // Descriptions of the Relay plumbing (the linter in CI asks for one on everything).
    nodeTypeOptions: { description: 'Anything that can be fetched again by its global id with node(id:).' },
    idFieldOptions: { description: 'Global id: pass it to node(id:) to fetch this again, or to mutations that name it.' },
    nodeQueryOptions: {
      description: 'The object with this global id; null when no such row exists (any more).',
      args: { id: { description: 'A global id, exactly as the graph handed it out.' } },
    },
    // nodes(ids:) is src/schema/nodes.ts: relay's decodes every id first, so one bad id nulled the list.
    nodesQueryOptions: false,
    pageInfoTypeOptions: { description: 'Where this page sits in the whole list, and the cursors to fetch the neighbouring pages.' },
    hasNextPageFieldOptions: { description: 'More items follow this page (fetch them with first and after: endCursor).' },
    hasPreviousPageFieldOptions: { description: 'Items precede this page (fetch them with last and before: startCursor).' },
    startCursorFieldOptions: { description: 'Cursor of the first item of this page; null when the page is empty.' },
    endCursorFieldOptions: { description: 'Cursor of the last item of this page; null when the page is empty.' },
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.' },
    pageInfoFieldOptions: { description: 'Where this page sits and how to fetch the next one.' },
    cursorFieldOptions: { description: 'Opaque position of this item: pass it as after or before to page from here.' },
    nodeFieldOptions: { description: 'The item itself.' },
    // An oversized or negative page is an error the caller sees, not a silent clamp.
    firstArgOptions: { description: `At most this many items from the start (or after the cursor), 0 to ${MAX_PAGE_SIZE}; default 20.`, validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
    lastArgOptions: { description: `At most this many items from the end (or before the cursor), 0 to ${MAX_PAGE_SIZE}.`, validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
    afterArgOptions: { description: 'Start after the item with this cursor (endCursor of the previous page).' },
    beforeArgOptions: { description: 'End before the item with this cursor (startCursor of the next page).' },
  },
});

/** The scope a failed check asked for, for the error message. */
function describeFailure(failure: AuthFailure): string {
  if (failure.kind === AuthScopeFailureType.AuthScope) return `'${failure.scope}'`;
  if ('failures' in failure && failure.failures.length) return failure.failures.map(describeFailure).join(' or ');
  return 'access';
}

// Every query needs `read`; mutations name `operate` or `admin` on each field.
builder.queryType({ description: 'Reading the refresh system: tables, runs, quality, checkpoints, plan, health, statistics.', authScopes: { read: true } });
builder.mutationType({ description: 'Changing it: force, schedule or cancel refreshes (operate); register tables and change settings and dependencies (admin).' });
builder.subscriptionType({ description: 'Following it live, over graphql-ws or SSE.', authScopes: { read: true } });
