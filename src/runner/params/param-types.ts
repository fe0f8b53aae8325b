// Value types shared by the params of a refresh (sync-params.ts) and of its sources
// (sources/*/params.ts).
import { z } from 'zod';

/** A plain column or table name (letters, digits, _), quoted wherever it is used in SQL. */
export const identifier = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain column name (letters, digits, _)');

/** A named query parameter's value. */
export const paramValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** A byte count: a non-negative integer, as a number or a decimal string (JSON has no int64). */
export const byteCount = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\d+$/, 'must be a whole number of bytes')])
  .transform((v) => BigInt(v));
