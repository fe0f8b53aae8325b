// Signals to the runners of every replica, over NOTIFY (each process's LISTEN connection).
import type pg from 'pg';
import { CHANNELS, notify } from '../../subscriptions/listener.ts';

/** Wakes the runners of every replica (after a forced or scheduled refresh). */
export async function wakeRunners(db: pg.Pool | pg.ClientBase): Promise<void> {
  await notify(db, CHANNELS.wake);
}

/** Asks whichever replica runs `runId` to cancel it (every replica listens; the owner acts). */
export async function requestCancel(db: pg.Pool | pg.ClientBase, runId: number): Promise<void> {
  await notify(db, CHANNELS.cancel, String(runId));
}
