// The keys of an audit row's sync_metadata that code reads back, in one typed (zod) schema:
// what the engine and the runner write there is read through `readRunMetadata`, not by string
// keys scattered over files. Unknown keys pass through (the graph shows the whole object); a
// known key with a value of the wrong type reads as absent rather than failing a whole page.
import { z } from 'zod';

export const RUN_OUTCOMES = ['completed', 'unchanged', 'paused', 'cancelled', 'failed'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** A key that reads as undefined when it holds something else than `schema` accepts. */
const optional = <T extends z.ZodTypeAny>(schema: T) => schema.optional().catch(undefined);

const RunMetadataSchema = z
  .object({
    /** How the run ended: a pause or a cancel is not a failure. Absent while it runs (and on rows older than the engine). */
    outcome: optional(z.enum(RUN_OUTCOMES)),
    /** BigQuery bytes billed and processed, as decimal strings (int64). */
    bytesBilled: optional(z.string()),
    bytesProcessed: optional(z.string()),
    /** Incremental loads: the watermark after this run. */
    watermarkAfter: optional(z.string().nullable()),
    /** Rows in the target after the run (the change check of the next one compares with it). */
    targetRows: optional(z.number()),
    /** The request rows (refresh_requests ids) this run served. */
    requestIds: optional(z.array(z.number())),
    /** The regular due time a retry streak belongs to (recorded by its first failed run). */
    regularDueAt: optional(z.string()),
    /** The replica that ran it. */
    worker: optional(z.string()),
    mode: optional(z.enum(['full', 'incremental'])),
    /**
     * The target right after the publish that wrote it (engine/target-identity.ts): its version
     * (moved by every statement that writes it) and relfilenode. A run skips its read only while
     * both are the same; an `unchanged` run carries them forward.
     */
    targetIdentity: optional(z.object({ version: z.string(), relfilenode: z.string() })),
    /**
     * The run found the target changed outside the service since the last publish: how it was
     * found (edited: a write; rewritten: a new relfilenode; trackingLost: the trigger was gone or
     * disabled; notRepaired: the last publish could not repair it), and the repair: the run read
     * everything (readAll), or, found at the publish of an incremental load, the next run will
     * (nextRun). rowsNotInSource: target rows a read of everything did not have, kept because
     * deleteMissing is off.
     */
    targetTouched: optional(z.object({
      reason: z.enum(['edited', 'rewritten', 'trackingLost', 'notRepaired']),
      repair: z.enum(['readAll', 'nextRun']),
      rowsNotInSource: z.number().optional(),
    })),
    resumedFromCheckpoint: optional(z.boolean()),
  })
  .loose();

export type RunMetadata = z.infer<typeof RunMetadataSchema>;

/** Reads an audit row's sync_metadata (any JSON, or null) through the schema. */
export function readRunMetadata(value: unknown): RunMetadata {
  return RunMetadataSchema.parse(value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {});
}

/**
 * The outcome of a run from its audit row: what the engine wrote in sync_metadata, or, for rows
 * written before it did, what the status implies. Null while it runs.
 */
export function runOutcome(status: string | null, metadata: unknown): RunOutcome | null {
  if (status === null || status === 'running') return null;
  return readRunMetadata(metadata).outcome ?? (status === 'failed' ? 'failed' : 'completed');
}
