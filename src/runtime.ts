// The running service's parts that the graph and the HTTP routes read: the runner of this
// process (absent in processes that only serve the graph), the event bus and the event streams
// over it and the log, the sources. Built
// once by the composition root (service.ts) or a test and passed in — to the GraphQL context
// (buildApp's `services`), the probes and the metrics — never read from a module global.
import type { Sources } from './runner/sources/registry.ts';
import type { RetryPolicy } from './runner/state/planner.ts';
import type { Runner } from './runner/scheduler/runner.ts';
import type { EventBus } from './subscriptions/bus.ts';
import type { EventStreams } from './subscriptions/streams.ts';

export interface Runtime {
  runner?: Runner;
  bus?: EventBus;
  /** Subscriptions' streams: the event log replayed after an id, then the bus (src/subscriptions/streams.ts). */
  events?: EventStreams;
  /** Sources for dry-run byte estimates (forceRefresh with dryRun). */
  sources?: Sources;
  dailyByteBudget?: bigint | null;
  /** The runners' retry policy (RUNNER_RETRY_*): whether a failed table is RETRYING or FAILED is judged by it. Default: the planner's. */
  retry?: RetryPolicy;
  /** Live subscriptions served by this process (graphql-ws and SSE). */
  subscribers: { count: number };
  /**
   * Executions shared by subscribers of the same operation and scopes (src/http/subscription-groups.ts),
   * and how long their fan-outs' budget holds progress from now (0: sent as it comes; set by the registry).
   */
  subscriptionGroups: { count: number; progressHeldMs?: () => number };
}

/** A runtime of the given parts, counting no subscriber yet. */
export function createRuntime(parts: Partial<Runtime> = {}): Runtime {
  return { subscribers: { count: 0 }, subscriptionGroups: { count: 0 }, ...parts };
}
