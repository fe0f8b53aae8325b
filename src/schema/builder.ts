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
import { db } from '../db.ts';
import type PrismaTypes from '../generated/prisma/pothos-types.ts';
import { getDatamodel } from '../generated/prisma/pothos-types.ts';
import { decodeCanonicalGlobalID } from './global-ids.ts';

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
  // it), then scope-auth before the plugins that wrap resolvers.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin],
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
      const who = ctx.invalidToken
        ? ctx.invalidToken
        : ctx.principal.name ? `token "${ctx.principal.name}" lacks it` : 'no token was given';
      return new ForbiddenError(`${info.parentType.name}.${info.fieldName} needs scope ${needed}: ${who}`, result.failure);
    },
  },
  prisma: {
    // Read per request from the process's database (db.ts), never from the context.
    client: () => db().prisma,
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
    // An oversized or negative page is an error the caller sees, not a silent clamp.
    firstArgOptions: { validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
    lastArgOptions: { validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
  },
});

/** The scope a failed check asked for, for the error message. */
function describeFailure(failure: AuthFailure): string {
  if (failure.kind === AuthScopeFailureType.AuthScope) return `'${failure.scope}'`;
  if ('failures' in failure && failure.failures.length) return failure.failures.map(describeFailure).join(' or ');
  return 'access';
}

// Every query needs `read`; mutations name `operate` or `admin` on each field.
builder.queryType({ authScopes: { read: true } });
builder.mutationType({});
builder.subscriptionType({ authScopes: { read: true } });
