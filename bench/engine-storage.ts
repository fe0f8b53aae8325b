// The Storage Read path in the engine bench: (s), the full refresh of (a) — same rows, same empty
// target — with the job's results read as Arrow record batches over a read session's streams
// (the Storage Read API test server, its batches encoded ahead), converted on the engine's main
// thread as the service does by default, beside (a) on the REST pages; (s1) and (a1) the same
// with one decode worker. Targets (issue #26): the load phase ≤ 1.2× the floor's
// COPY into its stage; (s) ÷ (b0) ≤ 1.3×; rows per second of the load ≥ 2.5× the REST path's.
import type { RefreshRun } from './engine-runs.ts';
import { threadNote } from './engine-runs.ts';
import { fmtInt, fmtMb, fmtSeconds, type Figure } from './support.ts';

/** Everything before the publish transaction's audit: the query, reading and converting, COPY into the stage. */
export const loadMs = (run: RefreshRun) => run.wallMs - (run.audit?.publishMs ?? 0) - (run.audit?.auditMs ?? 0);

type Pair = { main: RefreshRun; pooled: RefreshRun };

/** (s) against the floor, (b0) and (a); (s1) against (a1). */
export function storageFigures(rows: number, both: Pair, rests: Pair, floor: { copyMs: number; plainCopyMs: number }): Figure[] {
  const [storage, rest] = [both.main, rests.main];
  const ok = storage.outcome.status === 'success' && storage.outcome.rowsInserted === rows && storage.audit?.readApi === 'storage';
  const load = loadMs(storage);
  const restLoad = loadMs(rest);
  const faster = restLoad / load; // rows per second: the same rows over each load
  return [
    {
      id: 's_storage_load_ms',
      label: `(s) load phase of (a) through the Storage Read API, ${fmtInt(rows)} rows (Arrow streams, converted on the main thread)`,
      value: Math.round(load),
      unit: 'ms',
      shown: `${fmtSeconds(load)} · ${fmtInt(Math.round(rows / (load / 1000)))} rows/s (${(load / floor.copyMs).toFixed(2)}× the floor's COPY into its stage, ${fmtSeconds(floor.copyMs)})`,
      target: '≤ 1.20× the floor\'s COPY',
      pass: ok && load / floor.copyMs <= 1.2,
      note: ok
        ? `refresh ${fmtSeconds(storage.wallMs)}; ${threadNote(storage)}; PostgreSQL CPU ${fmtSeconds(storage.databaseCpuMs)}; test servers busy ${fmtSeconds(storage.serverBusyMs)}; peak RSS ${fmtMb(storage.rssPeak)}`
        : `UNEXPECTED: ${storage.outcome.status}, ${fmtInt(storage.outcome.rowsInserted)} inserted, readApi ${storage.audit?.readApi ?? '?'}`,
    },
    {
      id: 's_over_b0',
      label: '(s) full refresh through the Storage Read API ÷ (b0) plain COPY',
      value: Math.round((storage.wallMs / floor.plainCopyMs) * 100) / 100,
      unit: '×',
      shown: `${(storage.wallMs / floor.plainCopyMs).toFixed(2)}×`,
      target: '≤ 1.30×',
      pass: ok && storage.wallMs / floor.plainCopyMs <= 1.3,
      note: `(a) on the REST pages: ${(rest.wallMs / floor.plainCopyMs).toFixed(2)}×`,
    },
    {
      id: 's_rows_per_s_over_rest',
      label: "(s) load phase's rows per second ÷ (a)'s on the REST pages (same rows, same run)",
      value: Math.round(faster * 100) / 100,
      unit: '×',
      shown: `${faster.toFixed(2)}× (REST load ${fmtSeconds(restLoad)})`,
      target: '≥ 2.50×',
      pass: ok && faster >= 2.5,
    },
    {
      id: 's1_storage_load_worker_ms',
      label: '(s1) the same with one decode worker: load phase; against (a1), the REST pages with one',
      value: Math.round(loadMs(both.pooled)),
      unit: 'ms',
      shown: `${fmtSeconds(loadMs(both.pooled))}: ${(loadMs(rests.pooled) / loadMs(both.pooled)).toFixed(2)}× (a1)'s rows per second`,
      note: `${threadNote(both.pooled)}; peak RSS ${fmtMb(both.pooled.rssPeak)}`,
    },
    {
      id: 's_peak_rss',
      label: '(s) peak RSS of the engine process',
      value: storage.rssPeak,
      unit: 'B',
      shown: fmtMb(storage.rssPeak),
      target: '≤ 200 MB',
      pass: storage.rssPeak <= 200 * 1024 * 1024,
    },
  ];
}
