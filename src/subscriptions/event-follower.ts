// Every replica follows the event log and publishes its rows on the process's bus, in id order
// (commit order) and with their ids, whichever replica wrote them: live delivery has one order
// everywhere. It reads `id > last` when a NOTIFY says the log grew (the payload is the highest id
// appended), when the LISTEN connection comes back (NOTIFYs sent while it was down are lost), and
// on a slow safety poll. Ids are taken in commit order under the log's lock (migration 042), so
// a read that saw id N never misses a smaller id committed later: there is none.
import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { EventBus } from './bus.ts';
import { isAfter, isEventId, latestEventId, readEventsAfter } from './event-log.ts';
import type { LoggedEvent } from './events.ts';
import { CHANNELS, type DatabaseListener } from './listener.ts';

export interface EventFollower {
  /** Starts after the newest event in the log now (what came before is replayed by subscriptions that ask). */
  start(): Promise<void>;
  /**
   * This process's events just appended, with their ids: published at once when the first follows
   * the last id published without a gap (nothing else can come between: ids are taken in commit
   * order) — a read in flight included, which then skips them — else left to the read that the NOTIFY starts.
   */
  offer(events: LoggedEvent[]): void;
  stop(): Promise<void>;
}

/** Creates the follower of this process; nothing is read until start(). */
export function createEventFollower(options: {
  pool: Pick<pg.Pool, 'query'>;
  listener: DatabaseListener;
  bus: EventBus;
  logger: Logger;
  /** The safety poll (default 10 s): a NOTIFY lost without the connection being lost. */
  pollIntervalMs?: number;
  /** Events read per statement (default 500). */
  pageSize?: number;
}): EventFollower {
  const { pool, bus, logger } = options;
  const pageSize = options.pageSize ?? 500;
  let last = '0';
  let reading: Promise<void> | null = null;
  let again = false;
  let failing = false;
  let stopped = false;
  const cleanups: Array<() => void> = [];

  /** Reads and publishes everything after `last`; a call while reading makes the read go round once more. */
  const follow = (): void => {
    if (stopped) return;
    if (reading) return void (again = true);
    reading = (async () => {
      do {
        again = false;
        let page;
        do {
          page = await readEventsAfter(pool, last, {}, pageSize);
          for (const event of page.events) {
            if (stopped) return;
            // Offered meanwhile (this process's own events): published already.
            if (!isAfter(event.id, last)) continue;
            last = event.id;
            bus.publish(event);
          }
        } while (page.events.length === pageSize);
      } while (again && !stopped);
      if (failing) logger.info('the event log is read again');
      failing = false;
    })()
      .catch((err) => {
        // The next NOTIFY, reconnect or poll reads from where this one stopped.
        if (!failing) logger.warn({ err }, 'could not read the event log; retrying on the next notification or poll');
        failing = true;
      })
      .finally(() => (reading = null));
  };

  return {
    offer(events) {
      // Even while a read is in flight: what follows `last` without a gap cannot be preceded by
      // anything that read brings (ids are taken in commit order), and the read skips it.
      if (!stopped) last = publishFollowing(events, last, bus);
    },
    async start() {
      cleanups.push(
        options.listener.onNotification(CHANNELS.events, (payload) => {
          // The payload is the highest id appended: nothing to read when this process is there.
          if (isEventId(payload) && !isAfter(payload, last)) return;
          follow();
        }),
      );
      const onListen = () => follow();
      options.listener.events.on('listen:success', onListen);
      cleanups.push(() => options.listener.events.off('listen:success', onListen));
      last = await latestEventId(pool);
      const poll = setInterval(follow, options.pollIntervalMs ?? 10_000);
      poll.unref();
      cleanups.push(() => clearInterval(poll));
      follow(); // what was appended while it started
    },
    async stop() {
      stopped = true;
      for (const cleanup of cleanups.splice(0)) cleanup();
      await reading;
    },
  };
}

/** Publishes the events that follow `last` without a gap (stopping at the first gap, which a read fills); returns the new last id. */
function publishFollowing(events: LoggedEvent[], last: string, bus: EventBus): string {
  for (const event of events) {
    if (event.id !== String(BigInt(last) + 1n)) break;
    last = event.id;
    bus.publish(event);
  }
  return last;
}
