// The REST path's decoding in the engine bench: the same full refresh with its pages decoded
// on the engine's main thread ((a), the service's default) and by one decode worker (a1), in one run: the load phase of each, where the engine's CPU went by thread,
// and its GC share. Targets (issue #26): the load ≥ 1.5× faster, GC < 10% of the engine's CPU.
import type { RefreshRun } from './engine-runs.ts';
import { threadNote } from './engine-runs.ts';
import { loadMs } from './engine-storage.ts';
import { fmtInt, fmtMb, fmtSeconds, type Figure } from './support.ts';

const gcShare = (run: RefreshRun) => (run.threads.mainGcMs + (run.threads.workers?.gcMs ?? 0)) / run.cpuMs;

/** (a) against (a1): the load phase, the speed-up, the GC share. `floorCopyMs`: the floor's COPY into its stage. */
export function decodeFigures(rows: number, mainThread: RefreshRun, pooled: RefreshRun, floorCopyMs: number): Figure[] {
  const ok = (run: RefreshRun) => run.outcome.status === 'success' && run.outcome.rowsInserted === rows;
  const before = loadMs(mainThread);
  const after = loadMs(pooled);
  const share = gcShare(mainThread);
  return [
    {
      id: 'a_rest_load_main_thread_ms',
      label: `(a) load phase, ${fmtInt(rows)} rows, pages decoded on the engine's main thread (DECODE_THREADS=0, the default)`,
      value: Math.round(before),
      unit: 'ms',
      shown: fmtSeconds(before),
      note: ok(mainThread) ? `refresh ${fmtSeconds(mainThread.wallMs)}; floor's COPY into its stage ${fmtSeconds(floorCopyMs)}; ${threadNote(mainThread)}` : `UNEXPECTED: ${mainThread.outcome.status}`,
    },
    {
      id: 'a1_rest_load_worker_ms',
      label: `(a1) load phase, pages decoded by one decode worker`,
      value: Math.round(after),
      unit: 'ms',
      shown: `${fmtSeconds(after)} (${(after / floorCopyMs).toFixed(2)}× the floor's COPY into its stage)`,
      note: `${threadNote(pooled)}; peak RSS ${fmtMb(pooled.rssPeak)} ((a): ${fmtMb(mainThread.rssPeak)})`,
    },
    {
      id: 'a_rest_load_speedup',
      label: '(a) load ÷ (a1) load: the REST load phase with a decode worker against the main thread',
      value: Math.round((before / after) * 100) / 100,
      unit: '×',
      shown: `${(before / after).toFixed(2)}×`,
      target: '≥ 1.50×',
      pass: ok(mainThread) && ok(pooled) && before / after >= 1.5,
    },
    {
      id: 'a_engine_gc_share',
      label: "(a) GC time ÷ the engine process's CPU (main thread, as the service runs by default)",
      value: Math.round(share * 1000) / 10,
      unit: '%',
      shown: `${(share * 100).toFixed(1)}%`,
      target: '< 10%',
      pass: share < 0.1,
      note: `(a1), with a decode worker (main thread + worker): ${(gcShare(pooled) * 100).toFixed(1)}%`,
    },
  ];
}
