// A terminal progress bar for `sqp-refresh run`: rows, rows/s and ETA on one line.
import type { RefreshEvent } from './subscriptions/events.ts';

const WIDTH = 28;

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Renders progress events to a stream; a single redrawn line on a terminal, lines otherwise. */
export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): { onEvent(e: RefreshEvent): void; done(): void } {
  const tty = Boolean(stream.isTTY);
  let lastLine = 0;
  return {
    onEvent(e) {
      if (e.type !== 'run:progress') return;
      const pct = e.percent ?? 0;
      const filled = Math.round((pct / 100) * WIDTH);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}]`;
      const total = e.totalRows === null ? '?' : fmt(e.totalRows);
      const eta = e.etaSeconds === null ? '' : `  ETA ${e.etaSeconds}s`;
      const line = `${bar} ${pct.toFixed(1).padStart(5)}%  ${fmt(e.rowsProcessed)}/${total} rows  ${fmt(e.rowsPerSecond)} rows/s${eta}`;
      if (tty) stream.write(`\r${line}\u001b[K`);
      else if (Date.now() - lastLine > 1000 || e.percent === 100) {
        stream.write(`${line}\n`);
        lastLine = Date.now();
      }
    },
    done() {
      if (tty) stream.write('\n');
    },
  };
}
