// When a table is next due.

const HOUR = 3_600_000;

/**
 * After a successful refresh: the previous due time plus whole frequencies, the first such
 * instant after `now`. No drift (it is anchored to the due time, not to when the run ended),
 * and missed intervals collapse into this one run instead of a burst. A refresh forced before
 * its due time keeps that due time.
 */
export function nextRefreshAfterSuccess(dueAt: Date | null, frequencyHours: number, now: Date): Date {
  const step = Math.max(1, frequencyHours) * HOUR;
  const base = dueAt ?? now;
  if (base.getTime() > now.getTime()) return base;
  const periods = Math.floor((now.getTime() - base.getTime()) / step) + 1;
  return new Date(base.getTime() + periods * step);
}
