// Every evaluation of an rrule is bounded: a rule that slips past validation yet never matches
// ends at once instead of walking every period to the year 9999, and rare rules still work.
import { describe, expect, it } from 'vitest';
import { getDates } from './getDates.js';

describe('rrule evaluation bounds', () => {
  it.each([['FREQ=DAILY;BYYEARDAY=1;BYMONTH=2'], ['FREQ=YEARLY;BYYEARDAY=1;BYMONTH=2'], ['FREQ=HOURLY;BYYEARDAY=1;BYMONTH=2;BYMINUTE=0']])(
    'gives no dates, promptly, for %s, which never matches',
    (rrule) => {
      const started = process.hrtime.bigint();
      expect(getDates({ rrule }, { start: '2026-01-01T00:00:00Z', n: 3 })).toEqual([]);
      // Unbounded, rrule walks ~8,000 years of periods here: 9 s and more. Bounded, about 0.1 s.
      expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(2);
    },
  );

  it('still finds a rule whose matches are 8 years apart (29 February across 2100)', () => {
    const dates = getDates({ rrule: 'FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9;BYMINUTE=0;BYSECOND=0' }, { start: '2096-03-01T00:00:00Z', n: 2 });
    expect(dates.map((d) => d.toISOString())).toEqual(['2104-02-29T09:00:00.000Z', '2108-02-29T09:00:00.000Z']);
  });

  it('still counts a COUNT rule from a DTSTART decades back', () => {
    const dates = getDates({ rrule: 'DTSTART:19900101T090000\nRRULE:FREQ=DAILY;COUNT=20000' }, { start: '2026-01-01T00:00:00Z', n: 1 });
    expect(dates.map((d) => d.toISOString())).toEqual(['2026-01-01T09:00:00.000Z']);
  });

  it('refuses, naming the reason, a rule it can see never fires', () => {
    expect(() => getDates({ rrule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' }, { start: '2026-01-01T00:00:00Z' })).toThrow(
      'Invalid rrule "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30": it never fires: no month in BYMONTH=2 has a day 30 (BYMONTHDAY)',
    );
  });
});
