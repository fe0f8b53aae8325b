// The Pothos builder and its plugins only; the types live one area per file beside it.
import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ValidationPlugin from '@pothos/plugin-validation';
import { z } from 'zod';
import { db } from '../db.ts';
import type PrismaTypes from '../generated/prisma/pothos-types.ts';
import { getDatamodel } from '../generated/prisma/pothos-types.ts';

/** The most items one page of any connection may hold. */
export const MAX_PAGE_SIZE = 100;

export interface Context {
  requestId?: string;
}

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    BigInt: { Input: bigint; Output: bigint | number };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ValidationPlugin, PrismaPlugin, RelayPlugin],
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
    // An oversized or negative page is an error the caller sees, not a silent clamp.
    firstArgOptions: { validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
    lastArgOptions: { validate: z.number().int().min(0).max(MAX_PAGE_SIZE) },
  },
});

builder.queryType({});
