// Signal handling of `sqp-refresh start`, the only place in the process that handles signals.
import type { Logger } from '../logger.ts';

/**
 * The first SIGINT/SIGTERM stops gracefully (`stop` drains the runner, closes the pool, then
 * stops the embedded PostgreSQL); a second one exits at once.
 *
 * Ctrl-C signals the terminal's whole foreground process group. The embedded PostgreSQL runs
 * in a group of its own (src/embedded-postgres.ts), so the signal reaches only this process
 * and the database stays up until `stop` has drained the running refreshes: they end paused,
 * not failed. Where this process ends without `stop` (the second signal, the grace period),
 * process.exit still runs the 'exit' hook that asks the embedded server to stop.
 */
export function waitForSignals(logger: Logger, stop: () => Promise<void>, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    let firstAt = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      // Ctrl-C under `npm start` delivers SIGINT twice within milliseconds (the terminal
      // signals the process group and npm forwards it again): that is one request to stop.
      if (firstAt && Date.now() - firstAt > 1000) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      if (firstAt) return;
      firstAt = Date.now();
      logger.info({ signal, graceMs }, 'stopping: running refreshes finish their page and pause, the next start resumes them (send the signal again to exit at once)');
      const grace = setTimeout(() => {
        logger.error({ graceMs }, 'graceful stop took longer than the grace period: exiting now');
        process.exit(1);
      }, graceMs);
      grace.unref();
      stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
