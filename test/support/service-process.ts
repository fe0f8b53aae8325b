// `sqp-refresh start` as a terminal runs it: its own process group (the terminal's foreground
// group, which Ctrl-C signals as a whole), JSON log lines on stdout that a test waits on.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** One pino line of the service. */
export interface LogLine {
  msg: string;
  level: number;
  [field: string]: unknown;
}

export interface ServiceProcess {
  child: ChildProcess;
  /** Every log line so far. */
  lines: LogLine[];
  /** The first line (seen already or still to come) that matches; rejects if the process exits first. */
  waitFor(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  /** SIGINT to the whole process group: what Ctrl-C in a terminal sends. */
  interrupt(): void;
  /** The exit code, once its output is read to the end. */
  exit: Promise<number | null>;
  /** SIGKILL to the group when anything of it is left (teardown). */
  kill(): void;
}

/** Starts `node --import tsx src/cli.ts start` detached (a process group of its own); `env` is laid over the test's. */
export function startServiceProcess(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: root,
    detached: true,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const lines: LogLine[] = [];
  const waiting = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let output = '';
  let exited = false;
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const text of complete) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue; // not a log line (a warning printed by Node itself)
      }
      lines.push(line);
      for (const w of waiting) if (w.match(line)) (waiting.delete(w), w.resolve(line));
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // 'close', not 'exit': every line the process wrote has been read by then.
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => ((exited = true), resolve(code))));
  return {
    child,
    lines,
    exit,
    waitFor(match, what) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        if (exited) return reject(new Error(`the service exited before ${what}:\n${output}`));
        const w = { match, resolve };
        waiting.add(w);
        void exit.then((code) => waiting.delete(w) && reject(new Error(`the service exited (${code}) before ${what}:\n${output}`)));
      });
    },
    interrupt: () => process.kill(-pid, 'SIGINT'),
    kill() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    },
  };
}
