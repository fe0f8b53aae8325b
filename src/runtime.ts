// The running service's parts that the graph and the HTTP routes read: the runner of this
// process (absent in processes that only serve the graph) and the event bus. Set once by the
// composition root (service.ts) or a test, like the database in db.ts.
import type { Sources } from './runner/sources/registry.ts';
import type { Runner } from './runner/runner.ts';
import type { EventBus } from './subscriptions/bus.ts';

export interface Runtime {
  runner?: Runner;
  bus?: EventBus;
  /** Sources for dry-run byte estimates (forceRefresh with dryRun). */
  sources?: Sources;
  dailyByteBudget?: bigint | null;
  /** Live subscriptions served by this process (graphql-ws and SSE). */
  subscribers: { count: number };
}

let current: Runtime = { subscribers: { count: 0 } };

export function useRuntime(runtime: Partial<Runtime> | undefined): void {
  current = { subscribers: { count: 0 }, ...runtime };
}

export function runtime(): Runtime {
  return current;
}
