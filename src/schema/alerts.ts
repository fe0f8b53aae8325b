// Alerts in the graph: the destinations, the alerts sent and the alerts open now (read scope; a
// destination's URL for admins only), and the admin's mutations on destinations. The types are
// alert-types.ts; the commands src/alerts/destinations.ts (validation, unique names, the
// write-only secret); which alerts are open, src/alerts/open-alerts.ts.
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Prisma } from '../generated/prisma/client.ts';
import { createAlertDestination, deleteAlertDestination, updateAlertDestination } from '../alerts/destinations.ts';
import { readOpenAlerts } from '../alerts/open-alerts.ts';
import { AlertDestinationRef, AlertFormatEnum, AlertKindEnum, OpenAlertRef } from './alert-types.ts';
import { builder, type Context } from './builder.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.ts';
import { idOf } from './mutations.ts';

const AlertFilter = builder.inputType('AlertFilter', {
  description: 'Which alerts to list; every field given must hold.',
  fields: (t) => ({
    kind: t.field({ type: AlertKindEnum, description: 'Only alerts of this kind.' }),
    tableSchema: t.string({ description: 'Only alerts about tables of this schema.' }),
    tableName: t.string({ description: 'Only alerts about tables of this name.' }),
    since: t.field({ type: 'DateTime', description: 'Alerts that occurred at or after this instant.' }),
  }),
});

type Filter = { kind?: string | null; tableSchema?: string | null; tableName?: string | null; since?: Date | null } | null | undefined;

function alertWhere(f: Filter): Prisma.AlertWhereInput {
  return {
    ...(f?.kind ? { kind: f.kind } : {}),
    ...(f?.tableSchema ? { tableSchema: f.tableSchema } : {}),
    ...(f?.tableName ? { tableName: f.tableName } : {}),
    ...(f?.since ? { occurredAt: { gte: f.since } } : {}),
  };
}

builder.queryFields((t) => ({
  alertDestinations: t.prismaField({
    type: ['AlertDestination'],
    description: 'Every alert destination, by name, with its state.',
    resolve: (query, _root, _args, ctx) => ctx.db.prisma.alertDestination.findMany({ ...query, orderBy: { name: 'asc' } }),
  }),
  alerts: t.prismaConnection(
    {
      type: 'Alert',
      cursor: 'id',
      description: 'Alerts, newest first, each with its deliveries and their attempts.',
      args: { filter: t.arg({ type: AlertFilter, required: false, description: 'Which alerts; default all.' }) },
      totalCount: (_root, args, ctx) => ctx.db.prisma.alert.count({ where: alertWhere(args.filter) }),
      resolve: (query, _root, args, ctx) =>
        ctx.db.prisma.alert.findMany({ ...query, where: alertWhere(args.filter), orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }] }),
    },
    { description: 'A page of alerts, newest first.' },
    { description: 'An alert, with its cursor.' },
  ),
  openAlerts: t.field({
    type: [OpenAlertRef],
    description: 'The alerts whose episode is open, newest first: a failure not yet followed by its recovery, a late or blocked table not refreshed successfully since (the status page lists these).',
    resolve: (_root, _args, ctx) => readOpenAlerts(ctx.db.pool),
  }),
}));

const findDestination = (ctx: Context, id: number) => ctx.db.prisma.alertDestination.findUniqueOrThrow({ where: { id } });

const DestinationPayload = (name: string, description: string) =>
  builder.objectRef<{ destinationId: number }>(name).implement({
    description,
    fields: (t) => ({
      destination: t.field({ type: AlertDestinationRef, description: 'The destination, as it is now.', resolve: (r, _args, ctx) => findDestination(ctx, r.destinationId) }),
    }),
  });

// createAlertDestination ----------------------------------------------------------------------
const CreateAlertDestinationInput = builder.inputType('CreateAlertDestinationInput', {
  description: 'A webhook to send alerts to.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1 to 100 characters.' }),
    url: t.string({ required: true, description: 'http or https, with a host; no user:password@, no #fragment.' }),
    secret: t.string({ required: true, description: 'At least 16 characters: the key of the HMAC-SHA256 signature header. Write-only.' }),
    format: t.field({ type: AlertFormatEnum, defaultValue: 'json', description: 'The body it receives; default JSON.' }),
    events: t.field({ type: [AlertKindEnum], description: 'The kinds it receives; default every kind.' }),
  }),
});

builder.mutationField('createAlertDestination', (t) =>
  t.field({
    type: DestinationPayload('CreateAlertDestinationPayload', 'The new destination.'),
    description: 'Add a webhook that receives alerts; invalid input or a name in use writes nothing.',
    authScopes: { admin: true },
    errors: { types: [ForbiddenError, ValidationError, ConflictError], directResult: true, union: { description: 'The new destination, or why nothing was written.' } },
    args: { input: t.arg({ type: CreateAlertDestinationInput, required: true, description: 'The destination.' }) },
    resolve: async (_root, { input }, ctx) => ({ destinationId: await createAlertDestination(ctx.db.pool, input) }),
  }),
);

// updateAlertDestination ----------------------------------------------------------------------
const UpdateAlertDestinationInput = builder.inputType('UpdateAlertDestinationInput', {
  description: "A destination's settings to change; fields left out keep their value.",
  fields: (t) => ({
    id: t.globalID({ required: true, description: 'The AlertDestination to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1 to 100 characters.' }),
    url: t.string({ description: 'http or https, with a host; no user:password@, no #fragment.' }),
    secret: t.string({ description: 'A new signing secret (at least 16 characters). Write-only.' }),
    format: t.field({ type: AlertFormatEnum, description: 'The body it receives.' }),
    events: t.field({ type: [AlertKindEnum], description: 'The kinds it receives.' }),
    enabled: t.boolean({ description: 'false: disable it (its pending deliveries are abandoned); true: enable it again, its failing streak forgotten.' }),
  }),
});

builder.mutationField('updateAlertDestination', (t) =>
  t.field({
    type: DestinationPayload('UpdateAlertDestinationPayload', 'The destination with its settings changed.'),
    description: "Change a destination's settings, or disable or enable it; invalid input writes nothing.",
    authScopes: { admin: true },
    errors: { types: [ForbiddenError, NotFoundError, ValidationError, ConflictError], directResult: true, union: { description: 'The changed destination, or why nothing was written.' } },
    args: { input: t.arg({ type: UpdateAlertDestinationInput, required: true, description: 'The destination and its new settings.' }) },
    resolve: async (_root, { input }, ctx) => {
      const { id, ...changes } = input;
      return { destinationId: await updateAlertDestination(ctx.db.pool, idOf('id', id, 'AlertDestination'), changes) };
    },
  }),
);

// deleteAlertDestination ----------------------------------------------------------------------
const DeleteAlertDestinationInput = builder.inputType('DeleteAlertDestinationInput', {
  description: 'The destination to delete.',
  fields: (t) => ({ id: t.globalID({ required: true, description: 'The AlertDestination to delete.' }) }),
});

const DeleteAlertDestinationPayload = builder.objectRef<{ id: number; name: string }>('DeleteAlertDestinationPayload').implement({
  description: 'The destination deleted, with its deliveries (the alerts stay).',
  fields: (t) => ({
    deletedId: t.id({ description: 'The global id it had.', resolve: (r) => encodeGlobalID('AlertDestination', r.id) }),
    name: t.exposeString('name', { description: 'The name it had.' }),
  }),
});

builder.mutationField('deleteAlertDestination', (t) =>
  t.field({
    type: DeleteAlertDestinationPayload,
    description: 'Delete a destination with its deliveries and their attempts; the alerts stay.',
    authScopes: { admin: true },
    errors: { types: [ForbiddenError, NotFoundError, ValidationError], directResult: true, union: { description: 'The deleted destination, or why nothing was deleted.' } },
    args: { input: t.arg({ type: DeleteAlertDestinationInput, required: true, description: 'The destination.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = idOf('id', input.id, 'AlertDestination');
      return { id, name: await deleteAlertDestination(ctx.db.pool, id) };
    },
  }),
);
