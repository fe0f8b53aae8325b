// refreshPlan(hours): what will run in the next hours, in which order, and why (the runner's
// pure planner over the current configs, edges and latest runs).
import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { loadPlanInput } from '../runner/state/plan-input.ts';
import { planRefreshes, type Plan, type PlannedRefresh } from '../runner/state/planner.ts';
import { builder } from './builder.ts';

const PlanReason = builder.enumType('PlanReason', {
  description: 'Why a table is in the plan.',
  values: {
    DUE: { value: 'due', description: 'Its next refresh time has passed.' },
    SCHEDULED: { value: 'scheduled', description: 'Its next refresh time falls within the horizon.' },
    CASCADE: { value: 'cascade', description: 'A parent refreshes first; this one follows it.' },
    RETRY: { value: 'retry', description: 'A retryable failure, retried with backoff.' },
  } as const,
});

const PlanState = builder.enumType('PlanState', {
  description: 'Whether a planned refresh can run when its time comes.',
  values: {
    READY: { value: 'ready', description: 'Will run when its time comes.' },
    BLOCKED: { value: 'blocked', description: 'Waits: a hard parent is unhealthy, or it is in a dependency cycle.' },
  } as const,
});

export const PlannedRefreshRef = builder.objectRef<PlannedRefresh & { position: number }>('PlannedRefresh').implement({
  description: 'One refresh the runner will start within the horizon.',
  fields: (t) => ({
    position: t.exposeInt('position', { description: '1-based order in the plan.' }),
    configId: t.id({
      description: 'Global id of the RefreshConfig (fetch it with node(id)); ids, not objects, keep the plan one query.',
      resolve: (i) => encodeGlobalID('RefreshConfig', i.configId),
    }),
    table: t.exposeString('table', { description: 'The table, as schema.table.' }),
    at: t.expose('at', { type: 'DateTime', description: 'When it becomes runnable.' }),
    reason: t.field({ type: PlanReason, description: 'Why it runs: due, scheduled, a cascade from a parent, or a retry.', resolve: (i) => i.reason }),
    cascadeFrom: t.exposeString('cascadeFrom', { nullable: true, description: 'The parent that triggers it (cascades).' }),
    state: t.field({ type: PlanState, description: 'READY, or BLOCKED (see notes).', resolve: (i) => i.state }),
    notes: t.exposeStringList('notes', { description: 'Why it is blocked, or what a soft dependency notes.' }),
  }),
});

const DependencyCycleRef = builder.objectRef<{ tables: string[] }>('DependencyCycle').implement({
  description: 'Tables that depend on each other in a ring: none of them runs until it is broken.',
  fields: (t) => ({ tables: t.exposeStringList('tables', { description: 'The tables as schema.table, in cycle order.' }) }),
});

const RefreshPlanRef = builder.objectRef<Plan & { generatedAt: Date; horizonHours: number }>('RefreshPlan').implement({
  description: 'What the runner will refresh within a horizon, in the order it will, and why.',
  fields: (t) => ({
    generatedAt: t.expose('generatedAt', { type: 'DateTime', description: 'When the plan was computed (it is not stored).' }),
    horizonHours: t.exposeInt('horizonHours', { description: 'How many hours ahead it looks.' }),
    items: t.field({
      type: [PlannedRefreshRef],
      description: 'The planned refreshes, in order.',
      args: { first: t.arg.int({ defaultValue: 100, description: 'At most this many items (≤ 1000).' }) },
      resolve: (plan, args) => {
        const first = args.first ?? 100;
        if (first < 0 || first > 1000) throw new GraphQLError('first: must be between 0 and 1000', { extensions: { code: 'BAD_USER_INPUT', field: 'first' } });
        return plan.items.slice(0, first).map((item, i) => ({ ...item, position: i + 1 }));
      },
    }),
    total: t.int({ description: 'How many refreshes the plan holds (items may show fewer).', resolve: (plan) => plan.items.length }),
    cycles: t.field({
      type: [DependencyCycleRef],
      description: 'Dependency cycles found; their members do not run.',
      resolve: (p) => p.cycles.map((tables) => ({ tables })),
    }),
  }),
});

builder.queryField('refreshPlan', (t) =>
  t.field({
    type: RefreshPlanRef,
    description: 'What the runner will refresh within the next `hours`, in order, and why.',
    args: { hours: t.arg.int({ required: true, description: 'How far ahead to look, 0 to 744 hours (31 days).', validate: z.number().int().min(0).max(24 * 31) }) },
    resolve: async (_root, args, ctx) => {
      const now = new Date();
      const input = await loadPlanInput(ctx.db.pool, now, args.hours);
      return { ...planRefreshes({ ...input, retry: ctx.runtime.retry }), generatedAt: now, horizonHours: args.hours };
    },
  }),
);
