// viewer: who the caller is and what it may do, so that a client (the status page, a dashboard)
// shows or hides actions without probing a mutation. Answered for every caller, even one whose
// token was refused, so that it can say why.
import { SCOPES, type Scope } from '../auth/tokens.ts';
import { builder, type Context } from './builder.ts';

const ScopeEnum = builder.enumType('Scope', {
  description: 'What a token allows. Scopes nest: ADMIN includes OPERATE, which includes READ.',
  values: {
    READ: { value: 'read', description: 'Queries and subscriptions: configs, runs, quality, checkpoints, plan, health.' },
    OPERATE: { value: 'operate', description: 'Also force, schedule and cancel refreshes.' },
    ADMIN: { value: 'admin', description: 'Also register tables and change their settings and dependencies.' },
  } as const,
});

const ViewerRef = builder.objectRef<Context>('Viewer').implement({
  description: 'The caller of this request, as its bearer token (or its absence) makes it.',
  fields: (t) => ({
    name: t.string({
      nullable: true,
      description: 'The name of the token in API_TOKENS; null when anonymous or the token was refused.',
      resolve: (c) => c.principal.name,
    }),
    scopes: t.field({
      type: [ScopeEnum],
      description: 'Every scope granted, smallest first; empty when nothing is allowed.',
      resolve: (c) => SCOPES.filter((s: Scope) => c.principal.scopes.has(s)),
    }),
    tokenRefused: t.string({
      nullable: true,
      description: 'Why the token presented was refused (unknown, revoked, not `Bearer <token>`); null when none was presented or it is valid.',
      resolve: (c) => c.invalidToken ?? null,
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    description: 'Who is calling and what it may do. Needs no scope.',
    skipTypeScopes: true,
    resolve: (_root, _args, ctx) => ctx,
  }),
);
