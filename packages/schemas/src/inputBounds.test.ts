// Inputs whose evaluation would be unbounded are refused, and caches keyed by user input stay bounded.
import { describe, expect, it } from 'vitest';
import { DeploymentCreate } from './deployments.js';
import { MAX_JSON_OBJECT_BYTES } from './names.js';
import { rruleError } from './rrule.js';
import { isTimezone, timezoneCacheSize } from './timezone.js';

describe('rrules that never fire', () => {
  it.each([
    ['FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', 'it never fires: no month in BYMONTH=2 has a day 30 (BYMONTHDAY)'],
    ['FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31,-31', 'it never fires: no month in BYMONTH=4,6 has a day 31,-31 (BYMONTHDAY)'],
    [
      'DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20251231',
      'it never fires: UNTIL=20251231 is before DTSTART 20260101T090000 (move UNTIL later, or DTSTART earlier)',
    ],
    ['FREQ=DAILY;UNTIL=20191231T000000Z', 'it never fires: UNTIL=20191231T000000Z is before DTSTART 20200101T000000 (move UNTIL later, or DTSTART earlier)'],
    ['FREQ=DAILY;BYHOUR=9;BYSETPOS=2', 'it never fires: BYSETPOS=2 asks for a position past the at most 1 time each day gives'],
    ['FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6,-6', 'it never fires: BYSETPOS=6,-6 asks for a position past the at most 5 times each month gives'],
  ])('refuses %j', (rrule, problem) => {
    expect(rruleError(rrule)).toBe(problem);
  });

  it.each([
    'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29',
    'FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1',
    'FREQ=DAILY;BYHOUR=9,17;BYSETPOS=2',
    'DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260101T090000',
  ])('accepts %j, which fires', (rrule) => {
    expect(rruleError(rrule)).toBeUndefined();
  });
});

describe('the timezone cache', () => {
  it('stays bounded however many distinct names are rejected', () => {
    for (let i = 0; i < 5000; i++) expect(isTimezone(`Mars/Crater_${i}`)).toBe(false);
    expect(isTimezone('America/New_York')).toBe(true);
    expect(timezoneCacheSize()).toBeLessThanOrEqual(2048);
  });
});

describe('JSON object sizes', () => {
  const big = { blob: 'x'.repeat(MAX_JSON_OBJECT_BYTES) };
  it.each(['parameters', 'parameterSchema', 'jobVariables'])('refuses a deployment whose %s is over 512 KiB, naming the size and the limit', (field) => {
    const result = DeploymentCreate.safeParse({ flowName: 'etl', name: 'nightly', [field]: big });
    expect(result.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [field, `${field} is 524299 bytes of JSON, over the limit of 524288 bytes: pass large data by reference (a URL or file path) instead`],
    ]);
  });

  it('counts bytes, not characters', () => {
    const accents = { text: 'é'.repeat(MAX_JSON_OBJECT_BYTES / 2) };
    expect(DeploymentCreate.safeParse({ flowName: 'etl', name: 'nightly', parameters: accents }).success).toBe(false);
    expect(DeploymentCreate.safeParse({ flowName: 'etl', name: 'nightly', parameters: { text: 'é'.repeat(1000) } }).success).toBe(true);
  });
});
