// The service under test for bench/subscribers.ts, alone in its process so that its RSS and
// CPU are its own: `startService` (migrations, runner, the event log's writer and follower,
// the bus, graphql-ws on /graphql) configured by the environment the parent sets. Events go
// runner → event log (writer) → follower → this bus → the subscription streams. It answers the
// parent over IPC: `sample` (RSS after a full GC, live subscriptions), `measure-start` (for
// one table) / `measure-stop` (CPU, event-loop use and delay, and the table's progress events
// on the bus in between), `stop`; and announces `run-finished` when the table's run:finished
// reaches this bus (the follower read it from the log: the fan-out to subscribers starts now).
process.env.METADATA_SERVER_DETECTION = 'none';

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startService } from '../src/service.ts';
import { announce, serveIpc } from './ipc-child.ts';

export interface ServerSample {
  rss: number;
  heapUsed: number;
  /** Live subscriptions (graphql-ws and SSE) of this process. */
  subscribers: number;
  busListeners: number;
}

export interface ServerMeasure {
  cpuMs: number;
  /** Share of the wall time the event loop was busy (0–1). */
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  rssPeak: number;
  /** The table's run:progress events on the bus (throttled per run before the log, as subscribers get them). */
  progressEmitted: number;
}

/** What `run-finished` announces: the table's run:finished as the bus carried it. */
export interface RunFinishedNotice {
  runId: number;
  status: string;
  outcome: string;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.log);
  const service = await startService(config, logger);

  let measuring: {
    cpu: NodeJS.CpuUsage;
    elu: ReturnType<typeof performance.eventLoopUtilization>;
    delay: ReturnType<typeof monitorEventLoopDelay>;
    rssTimer: NodeJS.Timeout;
    rssPeak: number;
    progress: number;
    unsubscribe: () => void;
  } | null = null;

  serveIpc({
    sample(): ServerSample {
      // Two full collections: what is left is what the subscriptions really hold.
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed, subscribers: service.runtime.subscribers.count, busListeners: service.bus.listenerCount() };
    },
    /** How long the fan-outs' budget holds progress from now (sqp_refresh_subscription_progress_held_seconds). */
    'progress-held': () => service.runtime.subscriptionGroups.progressHeldMs?.() ?? 0,
    'measure-start'(payload) {
      const { configId } = payload as { configId: number };
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const state = {
        cpu: process.cpuUsage(),
        elu: performance.eventLoopUtilization(),
        delay,
        rssPeak: process.memoryUsage.rss(),
        rssTimer: setInterval(() => {
          state.rssPeak = Math.max(state.rssPeak, process.memoryUsage.rss());
        }, 50),
        progress: 0,
        unsubscribe: service.bus.subscribe((e) => {
          if (e.configId !== configId) return;
          if (e.type === 'run:progress') state.progress++;
          if (e.type === 'run:finished') announce('run-finished', { runId: e.runId, status: e.status, outcome: e.outcome } satisfies RunFinishedNotice);
        }),
      };
      measuring = state;
      return null;
    },
    'measure-stop'(): ServerMeasure {
      const m = measuring;
      if (!m) throw new Error('measure-stop without measure-start');
      measuring = null;
      clearInterval(m.rssTimer);
      m.delay.disable();
      m.unsubscribe();
      const cpu = process.cpuUsage(m.cpu);
      return {
        cpuMs: (cpu.user + cpu.system) / 1000,
        eventLoopUtilization: performance.eventLoopUtilization(m.elu).utilization,
        eventLoopDelayP99Ms: m.delay.percentile(99) / 1e6,
        eventLoopDelayMaxMs: m.delay.max / 1e6,
        rssPeak: Math.max(m.rssPeak, process.memoryUsage.rss()),
        progressEmitted: m.progress,
      };
    },
    async stop() {
      await service.stop();
      setImmediate(() => process.exit(0));
      return null;
    },
  });
  announce('ready', { url: service.url });
}

main().catch((error: unknown) => {
  console.error('subscribers-server:', error);
  process.exit(1);
});
