// Watermark arithmetic of incremental reads (refresh-inputs.ts) in a process whose time zone
// is west of UTC: a `timestamp` watermark has no zone, and reading it as local time moved the
// lower bound by the process's offset (rows between midnight and 05:00 were never read).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greater, lowerBound } from '../src/runner/engine/refresh-inputs.ts';

const zone = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'America/New_York';
  expect(new Date(Date.UTC(2024, 1, 1)).getTimezoneOffset()).toBe(300); // the zone took effect
});
afterAll(() => {
  if (zone === undefined) delete process.env.TZ;
  else process.env.TZ = zone;
});

describe('lowerBound', () => {
  it('keeps the wall clock of a timestamp without time zone, whatever the process zone', () => {
    expect(lowerBound('2024-02-01 00:00:00', 0)).toBe('2024-02-01 00:00:00');
    expect(lowerBound('2024-02-01 00:00:00', 48)).toBe('2024-01-30 00:00:00');
    expect(lowerBound('2024-03-10 12:00:00.123456', 1)).toBe('2024-03-10 11:00:00.123456'); // µs kept, no DST shift
  });
  it('keeps the offset of a timestamptz, and reads a date as midnight', () => {
    expect(lowerBound('2024-02-01 10:30:00.5+05:30', 1)).toBe('2024-02-01 09:30:00.5+05:30');
    expect(lowerBound('2024-02-01 10:30:00-08', 24)).toBe('2024-01-31 10:30:00-08');
    expect(lowerBound('2024-02-01', 2)).toBe('2024-01-31 22:00:00');
  });
  it('leaves anything else as it is', () => {
    expect(lowerBound('12345', 5)).toBe('12345');
    expect(lowerBound('not a time', 5)).toBe('not a time');
  });
});

describe('greater', () => {
  it('compares instants, numbers as numbers', () => {
    expect(greater('2024-02-01 00:00:00.5', '2024-02-01 00:00:00')).toBe(true);
    expect(greater('2024-02-01 00:00:00+01', '2024-01-31 23:30:00+00')).toBe(false);
    expect(greater('10', '9')).toBe(true);
  });
});
