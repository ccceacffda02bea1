/**
 * RRule syntax validation (RFC 5545 subset that the `rrule` library evaluates): one or more lines
 * of DTSTART, RRULE, EXRULE, RDATE and EXDATE, or a bare rule (`FREQ=DAILY;BYHOUR=9`). Kept
 * dependency-free so the schemas run anywhere; @drover/scheduling evaluates what passes here.
 */

export const MAX_RRULE_LENGTH = 6500;

const FREQS = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY', 'SECONDLY'];
const WEEKDAY = '(?:MO|TU|WE|TH|FR|SA|SU)';
const DATE = /^\d{8}(?:T\d{6}Z?)?$/;
const int = (min: number, max: number) => (v: string) => /^[+-]?\d+$/.test(v) && Number(v) >= min && Number(v) <= max;
const list = (ok: (v: string) => boolean) => (v: string) => v.split(',').every(ok);
const nonZero = (min: number, max: number) => (v: string) => int(min, max)(v) && Number(v) !== 0;

const PARTS: Record<string, (value: string) => boolean> = {
  FREQ: (v) => FREQS.includes(v),
  INTERVAL: int(1, 1_000_000),
  COUNT: int(1, 100_000),
  UNTIL: (v) => DATE.test(v),
  WKST: (v) => new RegExp(`^${WEEKDAY}$`).test(v),
  BYSECOND: list(int(0, 59)),
  BYMINUTE: list(int(0, 59)),
  BYHOUR: list(int(0, 23)),
  BYDAY: list((v) => new RegExp(`^(?:[+-]?\\d{1,2})?${WEEKDAY}$`).test(v)),
  BYMONTHDAY: list(nonZero(-31, 31)),
  BYYEARDAY: list(nonZero(-366, 366)),
  BYWEEKNO: list(nonZero(-53, 53)),
  BYMONTH: list(int(1, 12)),
  BYSETPOS: list(nonZero(-366, 366)),
};

/** DTSTART when a text has none: @drover/scheduling's default anchor (2020-01-01T00:00 wall time). */
const DEFAULT_DTSTART = '20200101T000000';

/** A DTSTART/UNTIL value as `YYYYMMDDTHHMMSS`, so two compare as strings. */
const sortable = (value: string) => (value.length === 8 ? `${value}T000000` : value.slice(0, 15)).toUpperCase();

/** Why `text` is not a valid rrule (or one that can never fire), or undefined when it is. */
export function rruleError(text: string): string | undefined {
  if (text.length > MAX_RRULE_LENGTH) return `at most ${MAX_RRULE_LENGTH} characters, got ${text.length}`;
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length === 0) return 'it is empty';
  let rules = 0;
  let dtstarts = 0;
  let dtstart = DEFAULT_DTSTART;
  const rruleBodies: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const isBareRule = colon < 0 && line.includes('=');
    const head = isBareRule ? 'RRULE' : line.slice(0, colon).toUpperCase();
    const body = isBareRule ? line : line.slice(colon + 1);
    const [name, ...params] = head.split(';');
    if (params.some((param) => /^TZID=/i.test(param))) {
      return `TZID is not supported in "${line}": DTSTART, RDATE and EXDATE are wall times in the schedule's timezone`;
    }
    switch (name) {
      case 'RRULE':
      case 'EXRULE': {
        const problem = ruleError(body);
        if (problem) return problem;
        if (name === 'RRULE') {
          rules++;
          rruleBodies.push(body);
        }
        break;
      }
      case 'DTSTART':
      case 'RDATE':
      case 'EXDATE': {
        const bad = body.split(',').find((date) => !DATE.test(date));
        if (bad !== undefined) return `${name} "${bad}" is not a date like 20250101T090000`;
        if (name === 'DTSTART') {
          dtstarts++;
          dtstart = sortable(body);
        }
        if (name === 'RDATE') rules++;
        break;
      }
      default:
        return `line "${line}" is not DTSTART, RRULE, EXRULE, RDATE or EXDATE`;
    }
  }
  if (dtstarts > 1) return 'it has more than one DTSTART';
  if (rules === 0) return 'it has no RRULE or RDATE';
  for (const body of rruleBodies) {
    const problem = neverFiresError(body, dtstart);
    if (problem) return `it never fires: ${problem}`;
  }
  return undefined;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const PERIOD: Record<string, string> = {
  YEARLY: 'year',
  MONTHLY: 'month',
  WEEKLY: 'week',
  DAILY: 'day',
  HOURLY: 'hour',
  MINUTELY: 'minute',
  SECONDLY: 'second',
};

/**
 * Why a valid RRULE can be seen, without evaluating it, never to match, or undefined. Evaluating
 * such a rule walks every period to the year 9999 (seconds per call), so it is refused here, as
 * cron's `0 0 30 2 *` is. Only sure cases are refused: an UNTIL before DTSTART, days of the month
 * that none of BYMONTH has, and a BYSETPOS beyond the most times one period can hold.
 */
function neverFiresError(rule: string, dtstart: string): string | undefined {
  const parts = new Map(rule.split(';').map((part) => part.toUpperCase().split('=') as [string, string]));
  const values = (name: string) => (parts.get(name)?.split(',') ?? []).map(Number);
  const until = parts.get('UNTIL');
  if (until !== undefined && sortable(until) < dtstart) {
    return `UNTIL=${until} is before DTSTART ${dtstart} (move UNTIL later, or DTSTART earlier)`;
  }
  const months = values('BYMONTH');
  const monthDays = values('BYMONTHDAY');
  if (months.length > 0 && monthDays.length > 0) {
    const exists = months.some((m) => monthDays.some((d) => Math.abs(d) <= (DAYS_IN_MONTH[m - 1] as number)));
    if (!exists) return `no month in BYMONTH=${parts.get('BYMONTH')} has a day ${parts.get('BYMONTHDAY')} (BYMONTHDAY)`;
  }
  const positions = values('BYSETPOS');
  if (positions.length > 0) {
    const freq = parts.get('FREQ') as string;
    const most = mostPerPeriod(freq, parts);
    if (positions.every((p) => Math.abs(p) > most)) {
      return `BYSETPOS=${parts.get('BYSETPOS')} asks for a position past the at most ${most} time${most === 1 ? '' : 's'} each ${PERIOD[freq]} gives`;
    }
  }
  return undefined;
}

/** An upper bound on the times one period of a rule holds, which BYSETPOS picks from. */
function mostPerPeriod(freq: string, parts: ReadonlyMap<string, string>): number {
  const count = (name: string) => parts.get(name)?.split(',').length ?? 1;
  const timesPerDay = count('BYHOUR') * count('BYMINUTE') * count('BYSECOND');
  switch (freq) {
    case 'SECONDLY':
      return 1;
    case 'MINUTELY':
      return count('BYSECOND');
    case 'HOURLY':
      return count('BYMINUTE') * count('BYSECOND');
    case 'DAILY':
      return timesPerDay;
  }
  // Without BYDAY, BYMONTHDAY, BYYEARDAY or BYWEEKNO, a period has one day (DTSTART's weekday, day or date).
  const byDay = parts.has('BYDAY');
  const otherDays = parts.has('BYMONTHDAY') || parts.has('BYYEARDAY') || parts.has('BYWEEKNO');
  const weekdays = new Set((parts.get('BYDAY') ?? '').split(',').map((day) => day.slice(-2))).size;
  let days: number;
  if (!byDay && !otherDays) days = 1;
  else if (freq === 'WEEKLY') days = 7;
  else if (otherDays) days = freq === 'MONTHLY' ? 31 : 366;
  // BYDAY alone: a weekday comes at most 5 times a month and 53 times a year.
  else days = freq === 'MONTHLY' ? 5 * weekdays : parts.has('BYMONTH') ? 5 * weekdays * count('BYMONTH') : 53 * weekdays;
  return days * timesPerDay;
}

function ruleError(rule: string): string | undefined {
  const seen = new Set<string>();
  for (const part of rule.split(';')) {
    const [key = '', value, ...rest] = part.split('=');
    const name = key.toUpperCase();
    const check = PARTS[name];
    if (!check) return `unknown rule part "${key}"`;
    if (value === undefined || rest.length > 0 || !check(value.toUpperCase())) {
      return `${name}=${value ?? ''} is not valid`;
    }
    if (seen.has(name)) return `${name} appears twice`;
    seen.add(name);
  }
  if (!seen.has('FREQ')) return 'the rule has no FREQ';
  if (seen.has('COUNT') && seen.has('UNTIL')) return 'COUNT and UNTIL cannot both be set';
  return undefined;
}
