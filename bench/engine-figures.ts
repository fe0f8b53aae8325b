// The figures of the engine bench (bench/engine.ts) from what its phases measured: each
// engine run next to its floor, the issue's targets, and where the engine's time went.
import os from 'node:os';
import type { FloorRun } from './engine-floor.ts';
import type { RefreshRun, TableWrites } from './engine-runs.ts';
import { fmtInt, fmtMb, fmtSeconds, MB, type Figure } from './support.ts';

export interface EngineResults {
  rows: number;
  bigRows: number;
  sampleRows: number;
  /** server.prerender of every query: rows, bytes held, time taken. */
  prerender: { rows: number; storedBytes: number; ms: number };
  /** (b0) */
  plainCopyMs: number;
  /** (b) into the empty copy; (b') the same rows again; (b) version 2 over version 1. */
  floorEmpty: FloorRun;
  floorNoChange: FloorRun;
  floorUpdate: FloorRun;
  /** (a), (a'), (a2) */
  full: RefreshRun;
  noChange: RefreshRun;
  noChangeWrites: TableWrites;
  rowsAfterNoChange: number;
  update: RefreshRun;
  /** (c) over sampleRows. */
  perRowMs: number;
  /** (a) at bigRows; null when skipped. */
  big: RefreshRun | null;
}

const rate = (rows: number, ms: number) => (rows * 1000) / ms;
const short = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n));
const ratio = (id: string, label: string, value: number, target: number, ok: boolean, note?: string): Figure => ({
  id,
  label,
  value: Math.round(value * 100) / 100,
  unit: '×',
  shown: `${value.toFixed(2)}×`,
  target: `≤ ${target.toFixed(2)}×`,
  pass: ok && value <= target,
  ...(note ? { note } : {}),
});

/**
 * Where a run's time went, next to its floor: the load (everything before the publish
 * transaction's audit: the query, reading and converting pages, COPY into the staging table
 * with a checkpoint per page) against the floor's COPY into its stage; the audit (the load's
 * diff and quality, sync_metadata.auditMs) and the publish (writing the target,
 * sync_metadata.publishMs) against the floor's merge. Then who used the CPU meanwhile: the
 * engine's process, the database's PostgreSQL backends, the test server, the whole machine
 * (2 cores shared with anyone else working on it).
 */
function whereTime(run: RefreshRun, floor: FloorRun): string {
  const publish = run.audit?.publishMs ?? null;
  const audit = run.audit?.auditMs ?? 0;
  const parts = [
    publish === null
      ? 'no publish time in the audit row'
      : `load ${fmtSeconds(run.wallMs - publish - audit)} (floor's COPY ${fmtSeconds(floor.copyMs)}), ` +
        `${run.audit?.auditMs == null ? '' : `audit ${fmtSeconds(audit)} + `}publish ${fmtSeconds(publish)} (floor's merge ${fmtSeconds(floor.mergeMs)})`,
    cpuNote(run),
  ];
  return parts.join('; ');
}

/** Who used the CPU during a run. */
function cpuNote(run: RefreshRun): string {
  return `CPU: engine process ${fmtSeconds(run.cpuMs)}, PostgreSQL (the database's backends) ${fmtSeconds(run.databaseCpuMs)}, test server ${fmtSeconds(run.serverBusyMs)}` +
    (run.machineCpu ? `, whole machine ${fmtSeconds(run.machineCpu.busyMs)} of ${os.cpus().length} × ${fmtSeconds(run.wallMs)} (iowait ${fmtSeconds(run.machineCpu.iowaitMs)})` : '');
}

const auditCounts = (run: RefreshRun) =>
  run.audit
    ? `audit row: ${fmtInt(run.audit.rowsProcessed)} read, ${fmtInt(run.audit.rowsInserted)} inserted, ${fmtInt(run.audit.rowsUpdated)} updated, ${fmtInt(run.audit.rowsDeleted)} deleted, ${run.audit.pages ?? '?'} pages`
    : 'no audit row';

const unexpected = (run: RefreshRun) => `UNEXPECTED: ${run.outcome.status}/${run.outcome.outcome} ${run.outcome.errorMessage ?? ''}; ${auditCounts(run)}`;

/** The engine bench's figures (the job-failure run's come from engine-runs.ts). */
export function engineFigures(r: EngineResults): Figure[] {
  const { rows, full, noChange, update } = r;
  const fullOk = full.outcome.status === 'success' && full.outcome.rowsInserted === rows;
  const updateOk = update.outcome.status === 'success' && update.outcome.rowsUpdated === rows && update.outcome.rowsInserted === 0;
  const noChangeOk = noChange.outcome.status === 'success' && noChange.outcome.outcome === 'completed' && noChange.outcome.rowsProcessed === rows
    && noChange.outcome.rowsInserted === 0 && noChange.outcome.rowsUpdated === 0 && r.rowsAfterNoChange === rows;
  const written = r.noChangeWrites;
  const perRowRate = rate(r.sampleRows, r.perRowMs);
  const publish = (run: RefreshRun) => run.audit?.publishMs ?? null;
  const floorMs = (f: FloorRun) => `${fmtSeconds(f.ms)} · ${fmtInt(rate(rows, f.ms))} rows/s`;
  const floorNote = (f: FloorRun) =>
    `COPY into the unlogged stage ${fmtSeconds(f.copyMs)} (PostgreSQL CPU ${fmtSeconds(f.copyCpuMs)}), merge ${fmtSeconds(f.mergeMs)} (PostgreSQL CPU ${fmtSeconds(f.mergeCpuMs)}); ${fmtInt(f.inserted)} inserted, ${fmtInt(f.updated)} updated`;
  const n = fmtInt(rows);

  const figures: Figure[] = [
    {
      id: 'source_prerendered_bytes',
      label: `the source: every result page pre-rendered in the test server's memory (${fmtInt(r.prerender.rows)} rows over all queries)`,
      value: r.prerender.storedBytes,
      unit: 'bytes',
      shown: `${fmtMb(r.prerender.storedBytes)} held, rendered in ${fmtSeconds(r.prerender.ms)} before any timed phase`,
      note: `the server runs in the bench's process on the same ${os.cpus().length} cores; its busy time during each run is in that run's note`,
    },
    { id: 'b0_plain_copy_ms', label: `(b0) plain COPY of ${n} rows into an empty copy of the target`, value: Math.round(r.plainCopyMs), unit: 'ms', shown: `${fmtSeconds(r.plainCopyMs)} · ${fmtInt(rate(rows, r.plainCopyMs))} rows/s` },
    { id: 'b_floor_empty_target_ms', label: `(b) floor, empty target: COPY into an unlogged stage + one merge, ${n} rows`, value: Math.round(r.floorEmpty.ms), unit: 'ms', shown: floorMs(r.floorEmpty), note: floorNote(r.floorEmpty) },
    { id: 'b_floor_ms', label: `(b) floor of (a2): COPY of version 2 into an unlogged stage + one merge over version 1 (every row updated)`, value: Math.round(r.floorUpdate.ms), unit: 'ms', shown: floorMs(r.floorUpdate), note: floorNote(r.floorUpdate) },
    {
      id: 'b2_floor_no_change_merge_ms',
      label: `(b') the floor's no-change merge: the same ${n} rows merged into the copy holding them`,
      value: Math.round(r.floorNoChange.mergeMs),
      unit: 'ms',
      shown: `${fmtSeconds(r.floorNoChange.mergeMs)} (with its COPY ${fmtSeconds(r.floorNoChange.ms)})`,
      note: floorNote(r.floorNoChange),
    },
    {
      id: 'a_full_refresh_ms',
      label: `(a) refreshTable, full refresh of ${n} rows into an empty table`,
      value: Math.round(full.wallMs),
      unit: 'ms',
      shown: `${fmtSeconds(full.wallMs)} · ${fmtInt(rate(rows, full.wallMs))} rows/s`,
      note: fullOk ? `${auditCounts(full)}; ${whereTime(full, r.floorEmpty)}` : unexpected(full),
    },
    ratio('a_over_b0', '(a) ÷ (b0)', full.wallMs / r.plainCopyMs, 1.5, fullOk, `for comparison, (a) ÷ the floor for an empty target = ${(full.wallMs / r.floorEmpty.ms).toFixed(2)}×`),
    {
      id: 'a_publish_ms',
      label: `(a) publish time of ${n} rows (audit row's publishMs: writing the target in the publish transaction)`,
      value: publish(full),
      unit: 'ms',
      shown: publish(full) === null ? '—' : fmtSeconds(publish(full)!),
      note: `the floor's merge into the empty copy: ${fmtSeconds(r.floorEmpty.mergeMs)}${full.audit?.auditMs == null ? '' : `; the publish transaction's audit (diff, quality) took ${fmtSeconds(full.audit.auditMs)} more`}`,
    },
    {
      id: 'a2_all_changed_ms',
      label: `(a2) refreshTable, every one of ${n} rows changed (version 2)`,
      value: Math.round(update.wallMs),
      unit: 'ms',
      shown: `${fmtSeconds(update.wallMs)} · ${fmtInt(rate(rows, update.wallMs))} rows/s`,
      note: updateOk ? `${auditCounts(update)}; ${whereTime(update, r.floorUpdate)}` : unexpected(update),
    },
    ratio('a2_over_b', '(a2) ÷ (b)', update.wallMs / r.floorUpdate.ms, 1.25, updateOk),
    {
      id: 'a2_publish_ms',
      label: `(a2) publish time of ${n} changed rows (audit row's publishMs)`,
      value: publish(update),
      unit: 'ms',
      shown: publish(update) === null ? '—' : fmtSeconds(publish(update)!),
      note: `the floor's merge of version 2 over version 1: ${fmtSeconds(r.floorUpdate.mergeMs)}${update.audit?.auditMs == null ? '' : `; the publish transaction's audit (diff, quality) took ${fmtSeconds(update.audit.auditMs)} more`}`,
    },
    {
      id: 'a_prime_no_change_ms',
      label: `(a') refreshTable, no-change refresh of the same ${n} rows`,
      value: Math.round(noChange.wallMs),
      unit: 'ms',
      shown: `${fmtSeconds(noChange.wallMs)} · ${fmtInt(rate(rows, noChange.wallMs))} rows/s`,
      note: noChangeOk ? `${auditCounts(noChange)}; ${whereTime(noChange, r.floorNoChange)}` : unexpected(noChange),
    },
    {
      id: 'a_prime_tuples_written',
      label: "(a') tuples written to the target (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del; and row versions newer than the run)",
      value: written.tuples,
      unit: 'tuples',
      shown: `${fmtInt(written.tuples)} tuples · ${fmtInt(written.newRowVersions)} new row versions`,
      target: '0',
      pass: noChangeOk && written.tuples === 0 && written.newRowVersions === 0,
      note: `inserted ${written.stats.inserted}, updated ${written.stats.updated} (HOT ${written.stats.hotUpdated}), deleted ${written.stats.deleted}; ${fmtInt(r.rowsAfterNoChange)} rows in the target after`,
    },
    ratio('a_prime_over_b2_merge', "(a') ÷ (b')'s merge", noChange.wallMs / r.floorNoChange.mergeMs, 1, noChangeOk,
      `(b') with its COPY: (a') ÷ ${fmtSeconds(r.floorNoChange.ms)} = ${(noChange.wallMs / r.floorNoChange.ms).toFixed(2)}×`),
    {
      id: 'c_per_row_rows_per_s',
      label: `(c) per-row upsert (one INSERT … ON CONFLICT DO UPDATE per round trip), ${fmtInt(r.sampleRows)} rows`,
      value: Math.round(perRowRate),
      unit: 'rows/s',
      shown: `${fmtSeconds(r.perRowMs)} · ${fmtInt(perRowRate)} rows/s`,
    },
    {
      id: 'a_over_c_per_row',
      label: '(a) per-row speed ÷ (c)',
      value: Math.round((rate(rows, full.wallMs) / perRowRate) * 10) / 10,
      unit: '×',
      shown: `${(rate(rows, full.wallMs) / perRowRate).toFixed(1)}×`,
      target: '≥ 30×',
      pass: fullOk && rate(rows, full.wallMs) / perRowRate >= 30,
      note: `for comparison, (b0) ÷ (c) = ${(rate(rows, r.plainCopyMs) / perRowRate).toFixed(1)}×`,
    },
    {
      id: 'rss_peak_1m_bytes',
      label: `peak RSS of (a), ${n} rows (50 ms samples in the child)`,
      value: full.rssPeak,
      unit: 'bytes',
      shown: `${fmtMb(full.rssPeak)} (at rest ${fmtMb(full.rssBaseline)}; kernel VmHWM ${full.rssKernelPeak === null ? '?' : fmtMb(full.rssKernelPeak)})`,
      target: '≤ 200 MB',
      pass: fullOk && full.rssPeak <= 200 * MB,
      note: `(a') peaked at ${fmtMb(noChange.rssPeak)}, (a2) at ${fmtMb(update.rssPeak)}`,
    },
  ];
  return [...figures, ...bigFigures(r)];
}

/** The 5M run's figures, or the same ids marked not measured. */
function bigFigures(r: EngineResults): Figure[] {
  const { big, full } = r;
  const rssLabel = `peak RSS of (a), ${fmtInt(r.bigRows)} rows`;
  const growthLabel = `peak RSS growth, ${short(r.bigRows)} vs ${short(r.rows)} rows`;
  if (!big) {
    return [
      { id: 'rss_peak_5m_bytes', label: rssLabel, value: null, unit: 'bytes', shown: 'skipped (BENCH_SKIP_5M=1)', target: '≤ 200 MB', pass: null },
      { id: 'rss_growth_5m_vs_1m', label: growthLabel, value: null, unit: '%', shown: 'skipped (BENCH_SKIP_5M=1)', target: '< +20%', pass: null },
    ];
  }
  const bigOk = big.outcome.status === 'success' && big.outcome.rowsInserted === r.bigRows;
  const growth = big.rssPeak / full.rssPeak - 1;
  return [
    {
      id: 'a_5m_full_refresh_ms',
      label: `(a) at ${fmtInt(r.bigRows)} rows, into an emptied table`,
      value: Math.round(big.wallMs),
      unit: 'ms',
      shown: `${fmtSeconds(big.wallMs)} · ${fmtInt(rate(r.bigRows, big.wallMs))} rows/s`,
      note: bigOk ? `${auditCounts(big)}; publish ${big.audit?.publishMs == null ? '?' : fmtSeconds(big.audit.publishMs)}; ${cpuNote(big)}` : unexpected(big),
    },
    {
      id: 'rss_peak_5m_bytes',
      label: rssLabel,
      value: big.rssPeak,
      unit: 'bytes',
      shown: `${fmtMb(big.rssPeak)} (at rest ${fmtMb(big.rssBaseline)}; kernel VmHWM ${big.rssKernelPeak === null ? '?' : fmtMb(big.rssKernelPeak)})`,
      target: '≤ 200 MB',
      pass: bigOk && big.rssPeak <= 200 * MB,
    },
    {
      id: 'rss_growth_5m_vs_1m',
      label: growthLabel,
      value: Math.round(growth * 1000) / 10,
      unit: '%',
      shown: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
      target: '< +20%',
      pass: bigOk && growth < 0.2,
    },
  ];
}
