// Entry of a decode worker thread (decode-pool.ts starts it). Plain JavaScript, because a
// worker does not inherit the way its parent loads TypeScript: the service registers tsx
// through its bin (tsx/esm/api) or `node --import tsx`, vitest through its own transform, and
// Node's built-in type stripping refuses parameter properties, which the converters use. So
// the thread registers tsx itself (the pool starts it with no execArgv, so it is never loaded
// twice) and then imports the TypeScript that serves the tasks.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { serveDecodeTasks } = await import('./decode-serve.ts');
serveDecodeTasks(parentPort);
