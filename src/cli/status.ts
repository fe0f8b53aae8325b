// `sqp-refresh status [--json]`: every registered table, its schedule and its latest run.
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';
import { formatAgo, formatCount, formatDue, renderTable } from './format.ts';
import { withReadOnlyDatabase } from './read-database.ts';
import { selectTableStatus, type TableStatus } from './table-status.ts';
import { TABLE_STATES } from '../runner/state/table-state.ts';

const help = `Usage: sqp-refresh status [--json]

Every table registered in sqp.refresh_config: enabled, priority, refresh frequency, last and
next refresh, its latest run (status, rows read/inserted/updated/deleted) and whether a
refresh of it is running now (its refresh lock is held), and its state as the graph's
tableHealth says it, the first that holds of: ${TABLE_STATES.join(', ')}.
"interrupted" means the latest run's process died; a runner recovers it and resumes from its
checkpoint. "late": no success within its freshness SLA. --json adds why (reasons).

Options:
  --json      print the tables as JSON
  -h, --help  show this help

Exit code: 0, or 1 when the database cannot be read, 2 for a usage mistake.`;

function nextRefresh(t: TableStatus, now: Date): string {
  if (!t.enabled) return '- (disabled)';
  if (!t.nextRefreshAt) return '-';
  const due = formatDue(t.nextRefreshAt, now);
  // The runner skips a table without sync params, whatever its next_refresh_at says.
  return t.configured ? due : `${due} (no sync params: skipped)`;
}

function latestRun(t: TableStatus, now: Date): string {
  const r = t.latestRun;
  if (!r) return 'never run';
  if (r.status === 'running' || r.status === 'interrupted') return `${r.status}, started ${formatAgo(r.startedAt, now)}`;
  const outcome = r.outcome && r.outcome !== 'completed' && r.outcome !== r.status ? ` (${r.outcome})` : '';
  return `${r.status}${outcome} ${formatAgo(r.completedAt ?? r.startedAt, now)}`;
}

function running(t: TableStatus): string {
  if (t.runningNow) return 'yes';
  return t.latestRun?.status === 'interrupted' ? 'no (interrupted)' : 'no';
}

function render(tables: TableStatus[], now: Date): string {
  if (tables.length === 0) return 'No tables are registered in sqp.refresh_config.';
  const rows = tables.map((t) => {
    const r = t.latestRun;
    return [
      t.table,
      t.enabled ? 'yes' : 'no',
      String(t.priority),
      `${t.frequencyHours}h`,
      t.lastRefreshAt ? formatAgo(t.lastRefreshAt, now) : 'never',
      nextRefresh(t, now),
      latestRun(t, now),
      r ? [r.rowsProcessed, r.rowsInserted, r.rowsUpdated, r.rowsDeleted].map(formatCount).join(' / ') : '-',
      running(t),
      t.state,
    ];
  });
  const out = [
    renderTable(
      ['table', 'enabled', 'priority', 'every', 'last refresh', 'next refresh', 'latest run', 'rows read / ins / upd / del', 'running now', 'state'],
      rows,
    ),
  ];
  const failed = tables.filter((t) => t.latestRun?.status === 'failed' && t.latestRun.errorMessage);
  if (failed.length) {
    out.push('', 'Latest failures:');
    for (const t of failed) out.push(`  ${t.table} (run ${t.latestRun!.id}): ${t.latestRun!.errorMessage!.split('\n')[0]!.slice(0, 300)}`);
  }
  return out.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  synopsis: 'status [--json]',
  summary: 'Every registered table: schedule, latest run, running now, state',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, help);
    if (positionals.length) throw new UsageError(`status: unexpected argument ${positionals[0]}`, help);
    const tables = await withReadOnlyDatabase((pool, config) => selectTableStatus(pool, new Date(), config.runner.retry));
    const now = new Date();
    if (values.json) console.log(JSON.stringify({ generatedAt: now, tables }, null, 2));
    else console.log(render(tables, now));
    return EXIT.ok;
  },
};
