// The event log's parts of one process, started and stopped together: the follower (every
// replica's events onto this bus, in the log's order), the writer (this process's runner's
// events into the log), the pruner (retention) and the subscription streams over both. The
// composition root (src/service.ts) and the tests' live server start them the same way.
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { EventBus } from './bus.ts';
import { createEventFollower } from './event-follower.ts';
import { createEventPruner, type EventPruner } from './event-pruner.ts';
import { createEventWriter, type EventWriter } from './event-writer.ts';
import type { DatabaseListener } from './listener.ts';
import { createEventStreams, type EventStreams } from './streams.ts';

export interface EventLog {
  writer: EventWriter;
  pruner: EventPruner;
  streams: EventStreams;
  /** Writes what is queued, then stops following and pruning. */
  stop(): Promise<void>;
}

/** Starts following the log (from its newest event), writing to it and pruning it. */
export async function startEventLog(options: {
  /** Short single statements only: may be a transaction pooler. */
  pool: pg.Pool;
  listener: DatabaseListener;
  bus: EventBus;
  subscribers: { count: number };
  retentionHours: number;
  logger: Logger;
}): Promise<EventLog> {
  const { pool, logger } = options;
  const follower = createEventFollower({ pool, listener: options.listener, bus: options.bus, logger });
  await follower.start();
  const writer = createEventWriter({ pool, logger, onWritten: (events) => follower.offer(events) });
  const pruner = createEventPruner({ pool, logger, retentionHours: options.retentionHours });
  await pruner.start();
  return {
    writer,
    pruner,
    streams: createEventStreams({ bus: options.bus, pool, subscribers: options.subscribers }),
    async stop() {
      await writer.stop();
      await pruner.stop();
      // Last, so that this process's subscribers still get what the writer flushed.
      await follower.stop();
    },
  };
}
