// The `sql` kind: a built-in transform of a table of the target database into a summary
// table, run by PostgreSQL itself (transforms.ts). It reads no environment variable.
import { z } from 'zod';
import { defineSourceKind } from '../source-kind.ts';
import { SqlTransformParams } from './params.ts';
import { planTransform } from './transforms.ts';

export const sqlKind = defineSourceKind({
  params: SqlTransformParams,
  settings: z.object({}).transform(() => ({})),
  canEstimateBytes: false,
  // The window is the periods whose parent rows changed since the watermark.
  incrementalNeedsCursor: false,
  readIdentity: (p) => ({ type: p.type, transform: p.transform, parentTable: p.parentTable }),
  environment: () => ({}),
  readers: () => (params, { targetSchema, deleteMissing }) => ({
    inDatabase: planTransform(params.transform, targetSchema, params.parentTable, { deleteMissing }),
  }),
});
