import { describe, expect, it } from 'vitest';
import { cronFields } from './cron.js';
import { Schedule } from './schedules.js';

function messages(value: unknown): string[] {
  const result = Schedule.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => issue.message);
}

describe('cron', () => {
  it.each([
    '* * * * *',
    '0 9 * * 1-5',
    '*/15 0-6,18-23 * * *',
    '5/10 * * * *',
    '0 0 1,15 * MON-FRI',
    '0 0 * JAN,jul sun',
    '0 0 29 2 *',
    '0 0 * * 7',
    '@hourly',
    '@daily',
    '@weekly',
    '@monthly',
    '@yearly',
    '  0 12 * * *  ',
  ])('accepts %s', (cron) => {
    expect(messages({ cron })).toEqual([]);
  });

  it.each([
    ['61 * * * *', 'minute must be 0-59'],
    ['0 24 * * *', 'hour must be 0-23'],
    ['0 0 0 * *', 'day-of-month must be 1-31'],
    ['0 0 1 13 *', 'month must be 1-12'],
    ['0 0 * * 8', 'day-of-week must be 0-7'],
    ['* * * *', 'expected 5 fields (minute hour day-of-month month day-of-week), got 4'],
    ['* * * * * *', 'expected 5 fields (minute hour day-of-month month day-of-week), got 6'],
    ['', 'expected 5 fields (minute hour day-of-month month day-of-week), got 0'],
    ['H * * * *', 'minute "H": random and hashed forms (R, H) are not supported'],
    ['0 R * * *', 'hour "R": random and hashed forms (R, H) are not supported'],
    ['0 0 L * *', 'day-of-month "L": L, W, # and ? are not supported (list the days instead)'],
    ['0 0 * * 1#2', 'day-of-week "1#2": L, W, # and ? are not supported (list the days instead)'],
    ['0 0 * FOO *', 'month "FOO" is not a number or a name (JAN-DEC)'],
    ['0 0 * * FUNDAY', 'day-of-week "FUNDAY" is not a number or a name (SUN-SAT)'],
    ['*/0 * * * *', 'minute step "0" must be a whole number of at least 1'],
    ['0 5-1 * * *', 'hour range "5-1" must go from low to high'],
    ['0 1-2-3 * * *', 'hour "1-2-3" is not a value, range or step'],
    ['0 ,1 * * *', 'hour "" is not a value, range or step'],
    ['@every_minute', 'unknown macro @every_minute (use one of @yearly, @monthly, @weekly, @daily, @hourly)'],
  ])('rejects %s', (cron, problem) => {
    expect(messages({ cron })).toEqual([`Invalid cron "${cron}": ${problem}`]);
  });

  it.each([
    ['0 0 30 2 *', true, 'it never fires: no selected month has day 30'],
    ['0 0 31 4,6,9,11 *', true, 'it never fires: no selected month has day 31'],
    ['0 0 30-31 FEB *', false, 'it never fires: no selected month has day 30,31'],
    ['0 0 30 2 MON', false, 'it never fires: no selected month has day 30'],
  ])('rejects %s (dayOr %s): %s', (cron, dayOr, problem) => {
    expect(messages({ cron, dayOr })).toEqual([`Invalid cron "${cron}": ${problem}`]);
  });

  it.each([['0 0 29 2 *'], ['0 0 30 2 MON'], ['0 0 31 */2 *']])('accepts %s, which does fire', (cron) => {
    expect(messages({ cron })).toEqual([]);
  });

  it('expands macros to fields', () => {
    expect(cronFields('@weekly')).toEqual(['0', '0', '*', '*', '0']);
    expect(cronFields(' 1  2 3 4 5 ')).toEqual(['1', '2', '3', '4', '5']);
  });

  it('defaults dayOr to true', () => {
    expect(Schedule.parse({ cron: '0 0 1 * 1' })).toEqual({ cron: '0 0 1 * 1', dayOr: true });
  });
});

describe('timezone', () => {
  it.each(['UTC', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5'])('accepts %s', (timezone) => {
    expect(messages({ cron: '* * * * *', timezone })).toEqual([]);
  });
  it.each(['Mars/Olympus', 'New York', '+05:00', '', 'America/New_York/Extra'])('rejects %s', (timezone) => {
    expect(messages({ interval: 60, timezone })).toEqual([`Invalid timezone "${timezone}" (use an IANA name such as America/New_York)`]);
  });
});

describe('interval', () => {
  it.each([0, -5, 0.5, 4e9])('rejects %s', (interval) => {
    expect(messages({ interval })).toEqual([`Invalid interval ${interval}: must be at least 1 and at most 3162240000 seconds`]);
  });
  it('accepts an anchor with or without offset, or a Date', () => {
    expect(Schedule.parse({ interval: 90, anchorDate: '2026-03-08T01:30:00' })).toEqual({ interval: 90, anchorDate: '2026-03-08T01:30:00' });
    expect(Schedule.parse({ interval: 90, anchorDate: new Date('2026-01-01T00:00:00Z') })).toEqual({
      interval: 90,
      anchorDate: '2026-01-01T00:00:00.000Z',
    });
    expect(messages({ interval: 90, anchorDate: 'yesterday' })).toEqual(['expected an ISO-8601 date-time such as 2026-01-01T09:00:00']);
  });
});

describe('rrule', () => {
  it.each([
    'FREQ=DAILY;BYHOUR=9;BYMINUTE=0',
    'RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;INTERVAL=2',
    'DTSTART:20250101T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1',
    'DTSTART:20250101T090000\nRRULE:FREQ=DAILY;COUNT=5\nEXDATE:20250102T090000',
    'RDATE:20250101T090000,20250201T090000',
    'FREQ=YEARLY;BYDAY=1MO;BYMONTH=9',
  ])('accepts %s', (rrule) => {
    expect(messages({ rrule })).toEqual([]);
  });
  it.each([
    ['FREQ=SOMETIMES', 'FREQ=SOMETIMES is not valid'],
    ['BYHOUR=9', 'the rule has no FREQ'],
    ['FREQ=DAILY;BYHOUR=25', 'BYHOUR=25 is not valid'],
    ['FREQ=DAILY;COLOR=RED', 'unknown rule part "COLOR"'],
    ['FREQ=DAILY;COUNT=3;UNTIL=20250101', 'COUNT and UNTIL cannot both be set'],
    ['DTSTART:20250101T090000', 'it has no RRULE or RDATE'],
    ['DTSTART:tomorrow\nFREQ=DAILY', 'DTSTART "tomorrow" is not a date like 20250101T090000'],
    ['hello', 'line "hello" is not DTSTART, RRULE, EXRULE, RDATE or EXDATE'],
    [
      'DTSTART;TZID=Asia/Tokyo:20250101T090000\nFREQ=DAILY',
      'TZID is not supported in "DTSTART;TZID=Asia/Tokyo:20250101T090000": DTSTART, RDATE and EXDATE are wall times in the schedule\'s timezone',
    ],
    ['FREQ=SECONDLY;COUNT=1000000', 'COUNT=1000000 is not valid'],
  ])('rejects %s', (rrule, problem) => {
    expect(messages({ rrule })).toEqual([`Invalid rrule "${rrule}": ${problem}`]);
  });
  it('rejects rules longer than 6500 characters', () => {
    const rrule = `RDATE:${Array.from({ length: 500 }, () => '20250101T090000').join(',')}`;
    expect(messages({ rrule })).toEqual([`Invalid rrule "${rrule.slice(0, 77)}...": at most 6500 characters, got ${rrule.length}`]);
  });
});

describe('schedule kind', () => {
  it.each([
    [{}, 'none'],
    [{ cron: '* * * * *', interval: 60 }, 'cron and interval'],
  ])('needs exactly one kind: %j', (value, found) => {
    expect(messages(value)).toEqual([`A schedule needs exactly one of cron, interval or rrule (found ${found})`]);
  });
  it('rejects unknown keys', () => {
    expect(messages({ cron: '* * * * *', tz: 'UTC' })).toEqual(['Unrecognized key: "tz"']);
  });
});
