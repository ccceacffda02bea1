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

/** Why `text` is not a valid rrule, or undefined when it is. */
export function rruleError(text: string): string | undefined {
  if (text.length > MAX_RRULE_LENGTH) return `at most ${MAX_RRULE_LENGTH} characters, got ${text.length}`;
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length === 0) return 'it is empty';
  let rules = 0;
  let dtstarts = 0;
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
        if (name === 'RRULE') rules++;
        break;
      }
      case 'DTSTART':
      case 'RDATE':
      case 'EXDATE': {
        const bad = body.split(',').find((date) => !DATE.test(date));
        if (bad !== undefined) return `${name} "${bad}" is not a date like 20250101T090000`;
        if (name === 'DTSTART') dtstarts++;
        if (name === 'RDATE') rules++;
        break;
      }
      default:
        return `line "${line}" is not DTSTART, RRULE, EXRULE, RDATE or EXDATE`;
    }
  }
  if (dtstarts > 1) return 'it has more than one DTSTART';
  if (rules === 0) return 'it has no RRULE or RDATE';
  return undefined;
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
