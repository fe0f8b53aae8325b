// Long-lived child processes that the parent talks to over Node's IPC channel: requests with
// replies (`request('sample')` → the child's handler's result) and events the child announces
// on its own (`next('ready')`). bench/support.ts's runChild covers one-shot children; the
// subscribers bench needs a server and a crowd of clients that live through several steps.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { BENCH_DIR, ROOT_DIR } from './support.ts';

type Message =
  | { kind: 'request'; id: number; type: string; payload: unknown }
  | { kind: 'reply'; id: number; result?: unknown; error?: string }
  | { kind: 'event'; type: string; payload: unknown };

export interface IpcChild {
  /** Sends a request; resolves with what the child's handler returned (rejects with its error). */
  request<T>(type: string, payload?: unknown): Promise<T>;
  /** Resolves with the payload of the child's next `type` event. */
  next<T>(type: string): Promise<T>;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(): void;
}

/**
 * Starts `node --import tsx bench/<script> <json arg>` with an IPC channel; stdout and stderr
 * go to ours; `env` replaces our environment. BENCH_CPU_PROF_DIR adds `--cpu-prof` as runChild does.
 */
export function spawnIpcChild(
  script: string,
  arg: unknown,
  options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): IpcChild {
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profDir)}`] : []),
      ...(options.nodeArgs ?? []),
      '--import',
      'tsx',
      path.join(BENCH_DIR, script),
      JSON.stringify(arg),
    ],
    { cwd: ROOT_DIR, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: options.env ?? process.env },
  );
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const waiting = new Map<string, Array<(payload: unknown) => void>>();
  const early = new Map<string, unknown[]>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited (${code}) before replying`));
    pending.clear();
  });
  child.on('message', (raw) => {
    const m = raw as Message;
    if (m.kind === 'reply') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(`${script}: ${m.error}`));
      else p?.resolve(m.result);
    } else if (m.kind === 'event') {
      const queue = waiting.get(m.type);
      const waiter = queue?.shift();
      if (waiter) waiter(m.payload);
      else early.set(m.type, [...(early.get(m.type) ?? []), m.payload]);
    }
  });
  return {
    request<T>(type: string, payload?: unknown) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ kind: 'request', id, type, payload } satisfies Message);
      });
    },
    next<T>(type: string) {
      const queued = early.get(type);
      if (queued?.length) return Promise.resolve(queued.shift() as T);
      return new Promise<T>((resolve, reject) => {
        waiting.set(type, [...(waiting.get(type) ?? []), resolve as (payload: unknown) => void]);
        void exited.then((code) => reject(new Error(`${script} exited (${code}) before announcing ${type}`)));
      });
    },
    exited,
    kill: () => void child.kill('SIGKILL'),
  };
}

/** In a child: answers the parent's requests with `handlers` (a thrown error is sent back). */
export function serveIpc(handlers: Record<string, (payload: unknown) => unknown>): void {
  process.on('message', (raw) => {
    const m = raw as Message;
    if (m.kind !== 'request') return;
    const handler = handlers[m.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no handler for ${m.type}`);
        return handler(m.payload);
      })
      .then(
        (result) => process.send?.({ kind: 'reply', id: m.id, result } satisfies Message),
        (error: unknown) =>
          process.send?.({ kind: 'reply', id: m.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies Message),
      );
  });
}

/** In a child: announces an event to the parent. */
export function announce(type: string, payload?: unknown): void {
  process.send?.({ kind: 'event', type, payload } satisfies Message);
}
