// A table's freshness SLA: within how many hours of its latest success it must succeed again,
// or it is late. The one place the default is written: the read model, the graph's
// RefreshConfig and /metrics all take it from here.

const HOUR = 3_600_000;

/** The longest SLA an operator may set, in hours (two years): the column's CHECK says the same (migration 038). */
export const MAX_FRESHNESS_SLA_HOURS = 17_568;

/** The SLA in force: the table's own, else twice its refresh frequency (one missed refresh is tolerated, two are late). */
export function freshnessSlaHours(configured: number | null, refreshFrequencyHours: number): number {
  return configured ?? 2 * refreshFrequencyHours;
}

/** When a table becomes late unless it succeeds first: its latest success (or, never refreshed, its registration) plus its SLA. */
export function lateAfter(lastSuccessAt: Date | null, registeredAt: Date | null, slaHours: number): Date {
  return new Date((lastSuccessAt ?? registeredAt ?? new Date(0)).getTime() + slaHours * HOUR);
}
