// `sqp-refresh plan [--hours N] [--json]`: what the runner will refresh next, in order, and why.
import { loadPlanInput } from '../runner/state/plan-input.ts';
import { planRefreshes, type Plan } from '../runner/state/planner.ts';
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';
import { formatDue, formatLocalTime, renderTable } from './format.ts';
import { withReadOnlyDatabase } from './read-database.ts';

const MAX_HOURS = 24 * 31;

const help = `Usage: sqp-refresh plan [--hours N] [--json]

What the runner will refresh within the next N hours, in order, and why: due (its time has
passed), scheduled, cascade (a parent refreshes first) or retry (after a retryable failure).
A table is blocked while a hard parent's latest refresh failed, or when it is in a
dependency cycle; cycles are listed after the plan.

Options:
  --hours N   horizon in hours, 0-${MAX_HOURS} (default 24)
  --json      print the plan as JSON
  -h, --help  show this help

Exit code: 0, or 1 when the database cannot be read, 2 for a usage mistake.`;

function render(plan: Plan, now: Date, hours: number): string {
  const out: string[] = [];
  if (plan.items.length === 0) out.push(`Nothing to refresh in the next ${hours} hours.`);
  else {
    out.push(`Refreshes in the next ${hours} hours (${plan.items.length}):`, '');
    out.push(
      renderTable(
        ['#', 'time', 'table', 'reason', 'cascade from', 'state', 'notes'],
        plan.items.map((item, i) => [
          String(i + 1),
          `${formatLocalTime(item.at)} (${formatDue(item.at, now)})`,
          item.table,
          item.reason,
          item.cascadeFrom ?? '-',
          item.state,
          item.notes.join('; '),
        ]),
      ),
    );
  }
  if (plan.cycles.length) {
    // Each cycle is a strongly connected set of tables, listed as the planner names it.
    out.push('', 'Dependency cycles (these tables do not run until an edge is removed):');
    for (const cycle of plan.cycles) out.push(`  ${cycle.join(' -> ')}`);
  }
  return out.join('\n');
}

export const planCommand: Command = {
  name: 'plan',
  synopsis: 'plan [--hours N] [--json]',
  summary: 'What runs next (default: within 24 hours), and why',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { hours: { type: 'string' }, json: { type: 'boolean' } }, help);
    if (positionals.length) throw new UsageError(`plan: unexpected argument ${positionals[0]}`, help);
    const hours = values.hours === undefined ? 24 : /^\d{1,4}$/.test(values.hours) ? Number(values.hours) : NaN;
    if (!(hours <= MAX_HOURS)) {
      throw new UsageError(`plan: --hours must be a whole number from 0 to ${MAX_HOURS}`, help);
    }
    const now = new Date();
    const plan = await withReadOnlyDatabase(async (client, config) => planRefreshes({ ...(await loadPlanInput(client, now, hours)), retry: config.runner.retry }));
    if (values.json) {
      const items = plan.items.map((item, i) => ({ position: i + 1, ...item }));
      console.log(JSON.stringify({ generatedAt: now, horizonHours: hours, items, cycles: plan.cycles }, null, 2));
    } else console.log(render(plan, now, hours));
    return EXIT.ok;
  },
};
