import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidScheduleError } from './errors.js';
import { type GetDatesOptions, getDates, iterateDates, type ScheduleLike } from './getDates.js';

type Case = readonly [name: string, schedule: ScheduleLike, options: GetDatesOptions, expected: readonly string[]];

const iso = (dates: readonly Date[]) =>
  dates.map((date) =>
    date
      .toISOString()
      .replace(/:00\.000Z$/, 'Z')
      .replace(/\.000Z$/, 'Z'),
  );

function table(cases: readonly Case[]) {
  it.each(cases)('%s', (_name, schedule, options, expected) => {
    expect(iso(getDates(schedule, options))).toEqual(expected);
  });
}

const NY = 'America/New_York';
const LONDON = 'Europe/London';
const LORD_HOWE = 'Australia/Lord_Howe';
const TOKYO = 'Asia/Tokyo';

describe('cron', () => {
  describe('America/New_York', () => {
    table([
      // Prefect's tests: local 23, 0, 1, 3, 4 (the 2 am slot folds onto 3 am and is dropped)
      [
        'hourly across spring-forward',
        { cron: '0 * * * *', timezone: NY },
        { start: '2018-03-10T23:00', n: 5 },
        ['2018-03-11T04:00Z', '2018-03-11T05:00Z', '2018-03-11T06:00Z', '2018-03-11T07:00Z', '2018-03-11T08:00Z'],
      ],
      // local 23, 0, 1, 2, 3: the repeated 1 am (EST) never fires
      [
        'hourly across fall-back',
        { cron: '0 * * * *', timezone: NY },
        { start: '2018-11-03T23:00', n: 5 },
        ['2018-11-04T03:00Z', '2018-11-04T04:00Z', '2018-11-04T05:00Z', '2018-11-04T07:00Z', '2018-11-04T08:00Z'],
      ],
      [
        'daily 09:00 stays 09:00 across spring-forward',
        { cron: '0 9 * * *', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T14:00Z', '2025-03-09T13:00Z', '2025-03-10T13:00Z'],
      ],
      [
        'daily 09:00 stays 09:00 across fall-back',
        { cron: '0 9 * * *', timezone: NY },
        { start: '2025-11-01T00:00', n: 3 },
        ['2025-11-01T13:00Z', '2025-11-02T14:00Z', '2025-11-03T14:00Z'],
      ],
      [
        '02:30 on spring-forward day moves to 03:30 EDT',
        { cron: '30 2 * * *', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T07:30Z', '2025-03-09T07:30Z', '2025-03-10T06:30Z'],
      ],
      [
        '01:30 on fall-back day fires once, at the first (EDT) 01:30',
        { cron: '30 1 * * *', timezone: NY },
        { start: '2025-11-01T00:00', n: 3 },
        ['2025-11-01T05:30Z', '2025-11-02T05:30Z', '2025-11-03T06:30Z'],
      ],
      [
        'every 30 minutes through the repeated hour',
        { cron: '*/30 * * * *', timezone: NY },
        { start: '2025-11-02T00:30', n: 5 },
        ['2025-11-02T04:30Z', '2025-11-02T05:00Z', '2025-11-02T05:30Z', '2025-11-02T07:00Z', '2025-11-02T07:30Z'],
      ],
      [
        'start inside the repeated hour (second 01:30, EST) skips the first pass',
        { cron: '*/30 * * * *', timezone: NY },
        { start: '2025-11-02T06:30:00Z', n: 2 },
        ['2025-11-02T07:00Z', '2025-11-02T07:30Z'],
      ],
      [
        'month ends: 0 0 31 * *',
        { cron: '0 0 31 * *', timezone: NY },
        { start: '2025-01-01T00:00', n: 4 },
        ['2025-01-31T05:00Z', '2025-03-31T04:00Z', '2025-05-31T04:00Z', '2025-07-31T04:00Z'],
      ],
      // An hourly cron without timezone is UTC, whatever the zone of start (Prefect test).
      [
        'no timezone means UTC; start given with an offset',
        { cron: '0 * * * *' },
        { start: '2025-01-01T00:30:00-05:00', n: 2 },
        ['2025-01-01T06:00Z', '2025-01-01T07:00Z'],
      ],
    ]);
  });

  describe('Europe/London', () => {
    table([
      [
        'hourly across spring-forward: local 0, 2, 3',
        { cron: '0 * * * *', timezone: LONDON },
        { start: '2025-03-30T00:00', n: 3 },
        ['2025-03-30T00:00Z', '2025-03-30T01:00Z', '2025-03-30T02:00Z'],
      ],
      [
        'hourly across fall-back: local 0, 1 (BST), 2, 3',
        { cron: '0 * * * *', timezone: LONDON },
        { start: '2025-10-26T00:00', n: 4 },
        ['2025-10-25T23:00Z', '2025-10-26T00:00Z', '2025-10-26T02:00Z', '2025-10-26T03:00Z'],
      ],
      [
        'daily 09:00 across spring-forward',
        { cron: '0 9 * * *', timezone: LONDON },
        { start: '2025-03-29T00:00', n: 2 },
        ['2025-03-29T09:00Z', '2025-03-30T08:00Z'],
      ],
      [
        'daily 09:00 across fall-back',
        { cron: '0 9 * * *', timezone: LONDON },
        { start: '2025-10-25T00:00', n: 2 },
        ['2025-10-25T08:00Z', '2025-10-26T09:00Z'],
      ],
    ]);
  });

  describe('Australia/Lord_Howe (30-minute DST)', () => {
    table([
      // 2025-10-05 02:00 +10:30 jumps to 02:30 +11:00: 02:15 moves to 02:45 and lands after 02:30.
      [
        'spring-forward: a moved 02:15 sorts after a real 02:30',
        { cron: '15,30 2 * * *', timezone: LORD_HOWE },
        { start: '2025-10-04T00:00', n: 4 },
        ['2025-10-03T15:45Z', '2025-10-03T16:00Z', '2025-10-04T15:30Z', '2025-10-04T15:45Z'],
      ],
      // 2025-04-06 02:00 +11:00 falls back to 01:30 +10:30: 01:30 and 01:45 fire once, at +11:00.
      [
        'fall-back: the repeated half hour fires once',
        { cron: '*/15 1 * * *', timezone: LORD_HOWE },
        { start: '2025-04-06T00:00', n: 5 },
        ['2025-04-05T14:00Z', '2025-04-05T14:15Z', '2025-04-05T14:30Z', '2025-04-05T14:45Z', '2025-04-06T14:30Z'],
      ],
      [
        'daily 09:00 across spring-forward',
        { cron: '0 9 * * *', timezone: LORD_HOWE },
        { start: '2025-10-04T00:00', n: 2 },
        ['2025-10-03T22:30Z', '2025-10-04T22:00Z'],
      ],
      [
        'daily 09:00 across fall-back',
        { cron: '0 9 * * *', timezone: LORD_HOWE },
        { start: '2025-04-05T00:00', n: 2 },
        ['2025-04-04T22:00Z', '2025-04-05T22:30Z'],
      ],
    ]);
  });

  describe('Asia/Tokyo (no DST)', () => {
    table([
      ['daily 09:00', { cron: '0 9 * * *', timezone: TOKYO }, { start: '2025-03-08T00:00', n: 2 }, ['2025-03-08T00:00Z', '2025-03-09T00:00Z']],
      ['hourly', { cron: '0 * * * *', timezone: TOKYO }, { start: '2025-03-09T01:30', n: 3 }, ['2025-03-08T17:00Z', '2025-03-08T18:00Z', '2025-03-08T19:00Z']],
    ]);
  });

  describe('calendar', () => {
    table([
      [
        'month ends skip short months',
        { cron: '0 0 31 * *' },
        { start: '2025-01-01T00:00:01Z', n: 5 },
        ['2025-01-31T00:00Z', '2025-03-31T00:00Z', '2025-05-31T00:00Z', '2025-07-31T00:00Z', '2025-08-31T00:00Z'],
      ],
      ['leap days', { cron: '0 0 29 2 *' }, { start: '2025-01-01', n: 3 }, ['2028-02-29T00:00Z', '2032-02-29T00:00Z', '2036-02-29T00:00Z']],
      ['leap days skip 2100', { cron: '0 0 29 2 *' }, { start: '2097-01-01', n: 2 }, ['2104-02-29T00:00Z', '2108-02-29T00:00Z']],
      ['far future start', { cron: '0 12 1 1 *', timezone: NY }, { start: '2999-06-01', n: 2 }, ['3000-01-01T17:00Z', '3001-01-01T17:00Z']],
      ['far past start', { cron: '0 12 1 7 *', timezone: NY }, { start: '1901-01-01', n: 1 }, ['1901-07-01T17:00Z']],
    ]);
  });

  describe('dayOr', () => {
    table([
      [
        'both restricted, dayOr true (default): either',
        { cron: '0 0 13 * 5' },
        { start: '2025-01-01', n: 3 },
        ['2025-01-03T00:00Z', '2025-01-10T00:00Z', '2025-01-13T00:00Z'],
      ],
      [
        'both restricted, dayOr false: Friday the 13th',
        { cron: '0 0 13 * 5', dayOr: false },
        { start: '2025-01-01', n: 3 },
        ['2025-06-13T00:00Z', '2026-02-13T00:00Z', '2026-03-13T00:00Z'],
      ],
      [
        '*/2 counts as restricted (dayOr true): odd days or Mondays',
        { cron: '0 0 */2 * 1' },
        { start: '2025-01-01', n: 5 },
        ['2025-01-01T00:00Z', '2025-01-03T00:00Z', '2025-01-05T00:00Z', '2025-01-06T00:00Z', '2025-01-07T00:00Z'],
      ],
      [
        '*/2 counts as restricted (dayOr false): odd Mondays',
        { cron: '0 0 */2 * 1', dayOr: false },
        { start: '2025-01-01', n: 3 },
        ['2025-01-13T00:00Z', '2025-01-27T00:00Z', '2025-02-03T00:00Z'],
      ],
      [
        '1-31 counts as restricted: with dayOr true every day fires',
        { cron: '0 0 1-31 * 1' },
        { start: '2025-01-01', n: 2 },
        ['2025-01-01T00:00Z', '2025-01-02T00:00Z'],
      ],
      [
        'day of week only: dayOr has no effect',
        { cron: '0 0 * * MON', dayOr: false },
        { start: '2025-01-01', n: 2 },
        ['2025-01-06T00:00Z', '2025-01-13T00:00Z'],
      ],
      [
        'day of month only: dayOr has no effect',
        { cron: '0 0 15 * *', dayOr: false },
        { start: '2025-01-01', n: 2 },
        ['2025-01-15T00:00Z', '2025-02-15T00:00Z'],
      ],
      ['7 is Sunday', { cron: '0 0 1 * 7', dayOr: false }, { start: '2025-01-01', n: 2 }, ['2025-06-01T00:00Z', '2026-02-01T00:00Z']],
    ]);
  });

  describe('macros', () => {
    table([
      ['@hourly', { cron: '@hourly', timezone: NY }, { start: '2025-01-01T10:30', n: 2 }, ['2025-01-01T16:00Z', '2025-01-01T17:00Z']],
      ['@daily', { cron: '@daily', timezone: NY }, { start: '2025-01-01T10:30', n: 2 }, ['2025-01-02T05:00Z', '2025-01-03T05:00Z']],
      ['@weekly (Sunday)', { cron: '@weekly' }, { start: '2025-01-01', n: 2 }, ['2025-01-05T00:00Z', '2025-01-12T00:00Z']],
      ['@monthly', { cron: '@MONTHLY' }, { start: '2025-01-01T00:00:01Z', n: 2 }, ['2025-02-01T00:00Z', '2025-03-01T00:00Z']],
      ['@yearly', { cron: '@yearly', timezone: TOKYO }, { start: '2025-06-01', n: 2 }, ['2025-12-31T15:00Z', '2026-12-31T15:00Z']],
    ]);
  });
});

describe('interval', () => {
  describe('America/New_York', () => {
    table([
      [
        'hourly across spring-forward: local 23, 0, 1, 3, 4',
        { interval: 3600, anchorDate: '2018-03-10T23:00', timezone: NY },
        { start: '2018-03-10T23:00', n: 5 },
        ['2018-03-11T04:00Z', '2018-03-11T05:00Z', '2018-03-11T06:00Z', '2018-03-11T07:00Z', '2018-03-11T08:00Z'],
      ],
      // Sub-day intervals are exact UTC (Python 3.13 Prefect): 1 am fires once per offset.
      [
        'hourly across fall-back: local 23, 0, 1, 1, 2',
        { interval: 3600, anchorDate: '2018-11-03T23:00', timezone: NY },
        { start: '2018-11-03T23:00', n: 5 },
        ['2018-11-04T03:00Z', '2018-11-04T04:00Z', '2018-11-04T05:00Z', '2018-11-04T06:00Z', '2018-11-04T07:00Z'],
      ],
      [
        'daily 09:00 across spring-forward',
        { interval: 86_400, anchorDate: '2025-03-07T09:00', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T14:00Z', '2025-03-09T13:00Z', '2025-03-10T13:00Z'],
      ],
      [
        'daily 09:00 across fall-back',
        { interval: 86_400, anchorDate: '2025-10-01T09:00', timezone: NY },
        { start: '2025-11-01T00:00', n: 3 },
        ['2025-11-01T13:00Z', '2025-11-02T14:00Z', '2025-11-03T14:00Z'],
      ],
      // Unlike Prefect (which would give 10:00 EDT here), the anchor's wall time is kept.
      [
        'anchor in winter, start in summer: still 09:00',
        { interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: NY },
        { start: '2025-07-01', n: 2 },
        ['2025-07-01T13:00Z', '2025-07-02T13:00Z'],
      ],
      [
        '3 days across fall-back (Prefect test)',
        { interval: 3 * 86_400, anchorDate: '2025-10-31T09:00', timezone: NY },
        { start: '2025-10-31T00:00', n: 2 },
        ['2025-10-31T13:00Z', '2025-11-03T14:00Z'],
      ],
      [
        '25 h = 1 calendar day + 1 exact hour',
        { interval: 90_000, anchorDate: '2025-03-08T09:00', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T14:00Z', '2025-03-09T14:00Z', '2025-03-10T15:00Z'],
      ],
      [
        'a naive anchor keeps its written wall time; on the gap day it moves forward',
        { interval: 86_400, anchorDate: '2025-03-09T02:30', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T07:30Z', '2025-03-09T07:30Z', '2025-03-10T06:30Z'],
      ],
      [
        'anchor far in the past',
        { interval: 86_400, anchorDate: '1900-01-01T09:00', timezone: NY },
        { start: '2025-07-01', n: 2 },
        ['2025-07-01T13:00Z', '2025-07-02T13:00Z'],
      ],
      [
        'anchor far in the future',
        { interval: 86_400, anchorDate: '2999-01-01T09:00', timezone: NY },
        { start: '2025-07-01', n: 2 },
        ['2025-07-01T13:00Z', '2025-07-02T13:00Z'],
      ],
      [
        'start after a far-past anchor, on an occurrence (inclusive)',
        { interval: 7 * 86_400, anchorDate: '1950-01-02T09:00', timezone: NY },
        { start: '2025-01-06T09:00', n: 2 },
        ['2025-01-06T14:00Z', '2025-01-13T14:00Z'],
      ],
    ]);
  });

  describe('other zones and anchors', () => {
    table([
      [
        '17 h with a future anchor lands on the first occurrence after start (Prefect test)',
        { interval: 61_200, anchorDate: '2030-01-01T00:00:00Z' },
        { start: '2025-01-01T00:00:00Z', n: 2 },
        ['2025-01-01T15:00Z', '2025-01-02T08:00Z'],
      ],
      [
        'no anchor: 2020-01-01T00:00 in the zone',
        { interval: 7 * 3600, timezone: TOKYO },
        { start: '2020-01-01T00:00', n: 3 },
        ['2019-12-31T15:00Z', '2019-12-31T22:00Z', '2020-01-01T05:00Z'],
      ],
      [
        'London daily 09:00 across spring-forward',
        { interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: LONDON },
        { start: '2025-03-29', n: 2 },
        ['2025-03-29T09:00Z', '2025-03-30T08:00Z'],
      ],
      [
        'London daily 09:00 across fall-back',
        { interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: LONDON },
        { start: '2025-10-25', n: 2 },
        ['2025-10-25T08:00Z', '2025-10-26T09:00Z'],
      ],
      [
        'Amsterdam 2 days keeps 10:00 (Prefect test)',
        { interval: 172_800, anchorDate: '2025-03-28T10:00', timezone: 'Europe/Amsterdam' },
        { start: '2025-03-28T00:00', n: 2 },
        ['2025-03-28T09:00Z', '2025-03-30T08:00Z'],
      ],
      [
        'Lord Howe daily 09:00 across spring-forward',
        { interval: 86_400, anchorDate: '2025-10-01T09:00', timezone: LORD_HOWE },
        { start: '2025-10-04T00:00', n: 2 },
        ['2025-10-03T22:30Z', '2025-10-04T22:00Z'],
      ],
      [
        'Lord Howe daily 09:00 across fall-back',
        { interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: LORD_HOWE },
        { start: '2025-04-05T00:00', n: 2 },
        ['2025-04-04T22:00Z', '2025-04-05T22:30Z'],
      ],
      [
        'Lord Howe 30 minutes through the gap (exact time)',
        { interval: 1800, anchorDate: '2025-10-05T01:30', timezone: LORD_HOWE },
        { start: '2025-10-05T01:30', n: 4 },
        ['2025-10-04T15:00Z', '2025-10-04T15:30Z', '2025-10-04T16:00Z', '2025-10-04T16:30Z'],
      ],
      [
        'Tokyo: a fixed-offset anchor keeps its instant (Prefect #19301)',
        { interval: 86_400, anchorDate: '2024-07-01T01:15+09:00', timezone: TOKYO },
        { start: '2024-07-05', n: 2 },
        ['2024-07-04T16:15Z', '2024-07-05T16:15Z'],
      ],
      [
        'Date objects for anchor and start',
        { interval: 900, anchorDate: new Date('2025-01-01T00:05:00Z') },
        { start: new Date('2025-06-01T00:00:00Z'), n: 2 },
        ['2025-06-01T00:05Z', '2025-06-01T00:20Z'],
      ],
      [
        'fractional seconds',
        { interval: 1.5, anchorDate: '2025-01-01T00:00:00Z' },
        { start: '2025-01-01T00:00:01Z', n: 2 },
        ['2025-01-01T00:00:01.500Z', '2025-01-01T00:00:03Z'],
      ],
    ]);
  });
});

describe('rrule', () => {
  describe('America/New_York', () => {
    table([
      [
        'hourly across spring-forward: local 23, 0, 1, 3, 4',
        { rrule: 'DTSTART:20180310T230000\nRRULE:FREQ=HOURLY', timezone: NY },
        { start: '2018-03-10T23:00', n: 5 },
        ['2018-03-11T04:00Z', '2018-03-11T05:00Z', '2018-03-11T06:00Z', '2018-03-11T07:00Z', '2018-03-11T08:00Z'],
      ],
      [
        'hourly across fall-back: local 23, 0, 1, 2, 3',
        { rrule: 'DTSTART:20181103T230000\nRRULE:FREQ=HOURLY', timezone: NY },
        { start: '2018-11-03T23:00', n: 5 },
        ['2018-11-04T03:00Z', '2018-11-04T04:00Z', '2018-11-04T05:00Z', '2018-11-04T07:00Z', '2018-11-04T08:00Z'],
      ],
      [
        'daily 09:00 across spring-forward',
        { rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T14:00Z', '2025-03-09T13:00Z', '2025-03-10T13:00Z'],
      ],
      [
        'daily 09:00 across fall-back',
        { rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-11-01T00:00', n: 3 },
        ['2025-11-01T13:00Z', '2025-11-02T14:00Z', '2025-11-03T14:00Z'],
      ],
      [
        'a Z on DTSTART is still wall time in the zone',
        { rrule: 'DTSTART:20250301T090000Z\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-03-08T00:00', n: 2 },
        ['2025-03-08T14:00Z', '2025-03-09T13:00Z'],
      ],
      [
        'no DTSTART: 2020-01-01T00:00 in the zone; RRULE: prefix optional',
        { rrule: 'FREQ=DAILY;BYHOUR=9', timezone: NY },
        { start: '2025-03-08T00:00', n: 2 },
        ['2025-03-08T14:00Z', '2025-03-09T13:00Z'],
      ],
      [
        '02:30 on spring-forward day moves to 03:30 EDT',
        { rrule: 'DTSTART:20250301T023000\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-03-08T00:00', n: 3 },
        ['2025-03-08T07:30Z', '2025-03-09T07:30Z', '2025-03-10T06:30Z'],
      ],
      [
        'rule set: RRULE, EXRULE, RDATE, EXDATE',
        {
          rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=DAILY\nEXRULE:FREQ=WEEKLY;BYDAY=SA,SU\nRDATE:20250308T120000\nEXDATE:20250304T090000',
          timezone: NY,
        },
        { start: '2025-03-03T00:00', end: '2025-03-09T23:59' },
        ['2025-03-03T14:00Z', '2025-03-05T14:00Z', '2025-03-06T14:00Z', '2025-03-07T14:00Z', '2025-03-08T17:00Z'],
      ],
      [
        'two RRULEs merge in order and RDATE duplicates drop',
        {
          rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=8\nRDATE:20250303T090000,20250304T070000',
          timezone: NY,
        },
        { start: '2025-03-03T00:00', n: 5 },
        ['2025-03-03T13:00Z', '2025-03-03T14:00Z', '2025-03-04T12:00Z', '2025-03-05T13:00Z', '2025-03-10T12:00Z'],
      ],
      [
        'UNTIL is wall time and inclusive',
        { rrule: 'DTSTART:20250301T090000\nRRULE:FREQ=DAILY;UNTIL=20250303T090000', timezone: NY },
        { start: '2025-03-01T00:00', end: '2026-01-01T00:00' },
        ['2025-03-01T14:00Z', '2025-03-02T14:00Z', '2025-03-03T14:00Z'],
      ],
      [
        'COUNT counts from DTSTART',
        { rrule: 'DTSTART:20250101T090000\nRRULE:FREQ=DAILY;COUNT=3', timezone: NY },
        { start: '2025-01-02T00:00', end: '2026-01-01T00:00' },
        ['2025-01-02T14:00Z', '2025-01-03T14:00Z'],
      ],
      [
        'DTSTART far in the past',
        { rrule: 'DTSTART:19000101T090000\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-07-01', n: 2 },
        ['2025-07-01T13:00Z', '2025-07-02T13:00Z'],
      ],
      [
        'DTSTART far in the future',
        { rrule: 'DTSTART:29990101T090000\nRRULE:FREQ=DAILY', timezone: NY },
        { start: '2025-07-01', n: 2 },
        ['2999-01-01T14:00Z', '2999-01-02T14:00Z'],
      ],
    ]);
  });

  describe('other zones and calendars', () => {
    table([
      [
        'London hourly across spring-forward: local 0, 2, 3',
        { rrule: 'DTSTART:20250330T000000\nRRULE:FREQ=HOURLY', timezone: LONDON },
        { start: '2025-03-30T00:00', n: 3 },
        ['2025-03-30T00:00Z', '2025-03-30T01:00Z', '2025-03-30T02:00Z'],
      ],
      [
        'London hourly across fall-back: local 0, 1 (BST), 2, 3',
        { rrule: 'DTSTART:20251026T000000\nRRULE:FREQ=HOURLY', timezone: LONDON },
        { start: '2025-10-26T00:00', n: 4 },
        ['2025-10-25T23:00Z', '2025-10-26T00:00Z', '2025-10-26T02:00Z', '2025-10-26T03:00Z'],
      ],
      [
        'Lord Howe daily 09:00 across spring-forward',
        { rrule: 'DTSTART:20250101T090000\nRRULE:FREQ=DAILY', timezone: LORD_HOWE },
        { start: '2025-10-04T00:00', n: 2 },
        ['2025-10-03T22:30Z', '2025-10-04T22:00Z'],
      ],
      [
        'Lord Howe 15-minutely through the 30-minute gap',
        { rrule: 'DTSTART:20251005T014500\nRRULE:FREQ=MINUTELY;INTERVAL=15', timezone: LORD_HOWE },
        { start: '2025-10-05T01:45', n: 4 },
        ['2025-10-04T15:15Z', '2025-10-04T15:30Z', '2025-10-04T15:45Z', '2025-10-04T16:00Z'],
      ],
      [
        'Lord Howe: the repeated half hour fires once',
        { rrule: 'DTSTART:20250406T010000\nRRULE:FREQ=MINUTELY;INTERVAL=15', timezone: LORD_HOWE },
        { start: '2025-04-06T01:00', n: 6 },
        ['2025-04-05T14:00Z', '2025-04-05T14:15Z', '2025-04-05T14:30Z', '2025-04-05T14:45Z', '2025-04-05T15:30Z', '2025-04-05T15:45Z'],
      ],
      [
        'Tokyo daily 09:00',
        { rrule: 'DTSTART:20250101T090000\nRRULE:FREQ=DAILY', timezone: TOKYO },
        { start: '2025-03-08T00:00', n: 2 },
        ['2025-03-08T00:00Z', '2025-03-09T00:00Z'],
      ],
      [
        'monthly on the 31st skips short months',
        { rrule: 'DTSTART:20250131T090000\nRRULE:FREQ=MONTHLY' },
        { start: '2025-02-01', n: 3 },
        ['2025-03-31T09:00Z', '2025-05-31T09:00Z', '2025-07-31T09:00Z'],
      ],
      ['yearly on Feb 29', { rrule: 'DTSTART:20240229T000000\nRRULE:FREQ=YEARLY' }, { start: '2025-01-01', n: 2 }, ['2028-02-29T00:00Z', '2032-02-29T00:00Z']],
      [
        'minutely from 2000 jumps ahead in phase',
        { rrule: 'DTSTART:20000101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=7' },
        { start: '2025-07-01T00:00:00Z', n: 2 },
        ['2025-07-01T00:06Z', '2025-07-01T00:13Z'],
      ],
      [
        'monthly with INTERVAL from far back keeps phase',
        { rrule: 'DTSTART:19990315T120000\nRRULE:FREQ=MONTHLY;INTERVAL=5' },
        { start: '2025-01-01', n: 2 },
        ['2025-01-15T12:00Z', '2025-06-15T12:00Z'],
      ],
    ]);
  });
});

describe('the get_dates contract', () => {
  table([
    [
      'start and end are inclusive',
      { cron: '0 9 * * *' },
      { start: '2025-01-01T09:00:00Z', end: '2025-01-03T09:00:00Z' },
      ['2025-01-01T09:00Z', '2025-01-02T09:00Z', '2025-01-03T09:00Z'],
    ],
    ['a millisecond after an occurrence skips it', { cron: '0 9 * * *' }, { start: '2025-01-01T09:00:00.001Z', n: 1 }, ['2025-01-02T09:00Z']],
    ['n defaults to 1 without end', { interval: 60 }, { start: '2025-01-01T00:00:00Z' }, ['2025-01-01T00:00Z']],
    [
      'n limits the dates up to end',
      { rrule: 'FREQ=HOURLY' },
      { start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z', n: 2 },
      ['2025-01-01T00:00Z', '2025-01-01T01:00Z'],
    ],
    ['end before start gives nothing', { cron: '* * * * *' }, { start: '2025-01-02T00:00:00Z', end: '2025-01-01T00:00:00Z' }, []],
    ['n = 0 gives nothing', { cron: '* * * * *' }, { start: '2025-01-02T00:00:00Z', n: 0 }, []],
    // Prefect test: a naive start is wall time in the schedule's zone (UTC here).
    ['a naive start is wall time in the zone', { interval: 86_400, anchorDate: '2018-01-01T00:00:00Z' }, { start: '2018-01-01T06:00' }, ['2018-01-02T00:00Z']],
    ['a naive start in New York', { cron: '0 * * * *', timezone: NY }, { start: '2025-07-01T06:00' }, ['2025-07-01T10:00Z']],
    ['a date-only start is midnight in the zone', { cron: '0 * * * *', timezone: TOKYO }, { start: '2025-07-01' }, ['2025-06-30T15:00Z']],
  ]);

  it('n defaults to 1000 with end', () => {
    const dates = getDates({ cron: '* * * * *' }, { start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z' });
    expect(dates).toHaveLength(1000);
    expect(iso(dates.slice(-1))).toEqual(['2025-01-01T16:39Z']);
  });

  it('more than 1000 when n says so', () => {
    const dates = getDates({ interval: 60 }, { start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z', n: 5000 });
    expect(dates).toHaveLength(1441);
  });

  it('iterateDates is lazy, ascending and matches getDates', () => {
    for (const schedule of [
      { cron: '*/20 * * * *', timezone: NY },
      { interval: 1200, timezone: NY },
      { rrule: 'FREQ=MINUTELY;INTERVAL=20', timezone: NY },
    ] satisfies ScheduleLike[]) {
      const iterator = iterateDates(schedule, '2025-11-01T00:00');
      const taken: Date[] = [];
      for (const date of iterator) {
        taken.push(date);
        if (taken.length === 200) break;
      }
      expect(taken).toEqual(getDates(schedule, { start: '2025-11-01T00:00', n: 200 }));
      for (let i = 1; i < taken.length; i++) expect((taken[i] as Date) > (taken[i - 1] as Date)).toBe(true);
    }
  });

  // Stepping from the anchor one occurrence at a time would take billions of steps here (and time
  // the test out); both jump straight to the start. 32,345,913,600 s lie between 1000-01-01 and
  // 2025-01-01, 5 more than a multiple of 19, so the first 19 s step after midnight is at 00:00:14.
  it('a far anchor or DTSTART jumps to the start, exactly', () => {
    expect(iso(getDates({ interval: 60, anchorDate: '0001-01-01T00:00:00Z' }, { start: '9000-01-01T00:00:00Z', n: 3 }))).toEqual([
      '9000-01-01T00:00Z',
      '9000-01-01T00:01Z',
      '9000-01-01T00:02Z',
    ]);
    expect(iso(getDates({ rrule: 'DTSTART:10000101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=19', timezone: NY }, { start: '2025-01-01', n: 3 }))).toEqual([
      '2025-01-01T05:00:14Z',
      '2025-01-01T05:00:33Z',
      '2025-01-01T05:00:52Z',
    ]);
  });
});

describe('errors', () => {
  const cases: readonly [string, () => unknown, new (...args: never[]) => Error, string, string][] = [
    [
      'unknown timezone',
      () => getDates({ cron: '* * * * *', timezone: 'Mars/Olympus' }, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid timezone "Mars/Olympus": expected an IANA name such as America/New_York',
    ],
    [
      'bad cron',
      () => getDates({ cron: '61 * * * *' }, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid cron "61 * * * *": minute must be 0-59',
    ],
    [
      'cron that never fires',
      () => getDates({ cron: '0 0 30 2 *' }, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid cron "0 0 30 2 *": day-of-month "30" never occurs in month "2", so it never fires',
    ],
    [
      'bad rrule',
      () => getDates({ rrule: 'FREQ=SOMETIMES' }, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid rrule "FREQ=SOMETIMES": FREQ=SOMETIMES is not valid',
    ],
    [
      'TZID on DTSTART (the schedule timezone says where wall times are)',
      () => getDates({ rrule: 'DTSTART;TZID=Europe/Paris:20250301T090000\nRRULE:FREQ=DAILY', timezone: NY }, { start: '2025-03-08T00:00' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid rrule "DTSTART;TZID=Europe/Paris:20250301T090000\nRRULE:FREQ=DAILY": TZID is not supported in "DTSTART;TZID=Europe/Paris:20250301T090000": DTSTART, RDATE and EXDATE are wall times in the schedule\'s timezone',
    ],
    [
      'non-positive interval',
      () => getDates({ interval: 0 }, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid interval 0: expected a number of seconds of at least 0.001',
    ],
    [
      'iterateDates checks at the call, not on first next()',
      () => iterateDates({ interval: -5 }, '2025-01-01'),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid interval -5: expected a number of seconds of at least 0.001',
    ],
    [
      'two kinds',
      () => getDates({ cron: '* * * * *', interval: 60 } as unknown as ScheduleLike, { start: '2025-01-01' }),
      InvalidScheduleError,
      'INVALID_SCHEDULE',
      'Invalid schedule: expected exactly one of cron, interval or rrule (found cron and interval)',
    ],
    [
      'bad start',
      () => getDates({ interval: 60 }, { start: '2025-02-30T00:00' }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'Invalid start "2025-02-30T00:00": expected an ISO-8601 date-time such as 2025-03-09T09:00:00 or 2025-03-09T14:00:00Z',
    ],
    [
      'invalid Date as end',
      () => getDates({ interval: 60 }, { start: '2025-01-01', end: new Date(Number.NaN) }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'Invalid end: the Date is invalid',
    ],
    [
      'bad anchor',
      () => getDates({ interval: 60, anchorDate: 'yesterday' }, { start: '2025-01-01' }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'Invalid anchorDate "yesterday": expected an ISO-8601 date-time such as 2025-03-09T09:00:00 or 2025-03-09T14:00:00Z',
    ],
    [
      'negative n',
      () => getDates({ interval: 60 }, { start: '2025-01-01', n: -1 }),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'Invalid n -1: expected a whole number of at least 0',
    ],
  ];
  it.each(cases)('%s', (_name, call, type, code, message) => {
    let caught: unknown;
    try {
      call();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(type);
    expect(caught).toMatchObject({ code, message, name: type.name });
  });
});
