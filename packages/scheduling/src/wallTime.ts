/**
 * Wall-clock times as "floating" milliseconds: the UTC fields of the number are the local fields
 * (2025-03-09T02:30 wall time is Date.UTC(2025, 2, 9, 2, 30)). Floating time has no DST, so adding
 * whole days to it is calendar-day arithmetic. `Zone` turns floating times into instants.
 */
import { InvalidArgumentError } from './errors.js';
import type { Zone } from './zone.js';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil; any year). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** [year, month 1–12, day 1–31] of a day count from 1970-01-01 (H. Hinnant's civil_from_days). */
export function civil(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** Floating milliseconds of a wall time. */
export function floating(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  return daysFromCivil(year, month, day) * DAY + hour * HOUR + minute * MINUTE + second * SECOND + ms;
}

/** 2020-01-01T00:00 wall time: the default interval anchor and rrule DTSTART, so results never depend on the clock. */
export const DEFAULT_ANCHOR_WALL = floating(2020, 1, 1);

/** Days in `month` (1–12) of `year`, Gregorian. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** True when the fields name a real calendar date and time of day. */
export function isValidWall(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) && h <= 23 && mi <= 59 && s <= 59;
}

const ISO = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The instant (epoch ms) of a `Date` or an ISO-8601 string. A string without an offset is wall
 * time in `zone` (a nonexistent time moves forward by the DST gap; an ambiguous one takes the
 * first occurrence). `what` names the argument in error messages.
 */
export function toInstant(value: Date | string, zone: Zone, what: string): number {
  const { wall, instant } = parseDateInput(value, what);
  return instant ?? zone.resolve(wall);
}

/**
 * The wall time (floating ms) in `zone` and the instant of a `Date` or ISO-8601 string. A string
 * without an offset keeps its wall time as written (02:30 stays 02:30 even on the day it does not
 * exist, when the instant is 03:30).
 */
export function toWallAndInstant(value: Date | string, zone: Zone, what: string): { wall: number; instant: number } {
  const { wall, instant } = parseDateInput(value, what);
  return instant === undefined ? { wall, instant: zone.resolve(wall) } : { wall: zone.wallOf(instant), instant };
}

/** `wall` is the string's fields as written; `instant` is undefined when it has no offset. */
function parseDateInput(value: Date | string, what: string): { wall: number; instant: number | undefined } {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`Invalid ${what}: the Date is invalid`, { [what]: value });
    return { wall: ms, instant: ms };
  }
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`Invalid ${what} ${String(value)}: expected a Date or an ISO-8601 string`, {
      [what]: value,
    });
  }
  const m = ISO.exec(value.trim());
  const [y, mo, d, h, mi, s] = m ? [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) : [];
  if (!m || !isValidWall(y as number, mo as number, d as number, h as number, mi as number, s as number)) {
    throw new InvalidArgumentError(`Invalid ${what} "${value}": expected an ISO-8601 date-time such as 2025-03-09T09:00:00 or 2025-03-09T14:00:00Z`, {
      [what]: value,
    });
  }
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const wall = floating(y as number, mo as number, d as number, h as number, mi as number, s as number, ms);
  const offset = m[8];
  if (offset === undefined) return { wall, instant: undefined };
  if (offset.toUpperCase() === 'Z') return { wall, instant: wall };
  const sign = offset[0] === '-' ? -1 : 1;
  const digits = offset.slice(1).replace(':', '');
  return { wall, instant: wall - sign * (Number(digits.slice(0, 2)) * HOUR + Number(digits.slice(2) || 0) * MINUTE) };
}
