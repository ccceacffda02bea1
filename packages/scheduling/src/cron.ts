/**
 * Cron schedules, walked on "floating" wall time (no DST) and put in the zone by `placeWalls`.
 *
 * The walker is our own rather than cron-parser's: cron-parser has no day-AND mode, its own idea
 * of which day fields are "restricted", and it steps through luxon (about 50 µs per daily
 * occurrence even in UTC). Here matching is table lookups: months that cannot match are skipped
 * whole, days are checked once, and times within a day come from the sorted hour and minute lists.
 */
import { cronError, cronFields } from '@drover/schemas';
import { InvalidScheduleError } from './errors.js';
import { civil, DAY, daysInMonth, MINUTE } from './wallTime.js';

/** A parsed cron expression. */
export interface CronPlan {
  readonly expression: string;
  /** Minutes of the day (hour·60 + minute) that match, ascending. */
  readonly times: readonly number[];
  /** Index 1–31 / 1–12 / 0–6 (Sunday 0): does the value match? */
  readonly daysOfMonth: readonly boolean[];
  readonly months: readonly boolean[];
  readonly weekdays: readonly boolean[];
  /** How the two day fields combine: 'dom', 'dow' (only that field is restricted), 'or', 'and' or 'any'. */
  readonly dayRule: 'any' | 'dom' | 'dow' | 'or' | 'and';
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** Gregorian calendar repeats every 400 years: a cron with no match in that span never fires. */
const CYCLE_DAYS = 146_097;

const plans = new Map<string, CronPlan>();

/** Parses and checks a cron expression once; plans are cached by expression and dayOr. */
export function cronPlan(expression: string, dayOr: boolean): CronPlan {
  const key = `${dayOr ? 'or' : 'and'} ${expression}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = buildPlan(expression, dayOr);
    if (plans.size >= 1024) plans.clear();
    plans.set(key, plan);
  }
  return plan;
}

function buildPlan(expression: string, dayOr: boolean): CronPlan {
  const problem = cronError(expression);
  if (problem) throw new InvalidScheduleError(`Invalid cron "${expression}": ${problem}`, { cron: expression });
  const [minute, hour, dom, month, dow] = cronFields(expression) as [string, string, string, string, string];
  const minutes = expand(minute, 0, 59);
  const hours = expand(hour, 0, 23);
  const times: number[] = [];
  for (let h = 0; h < 24; h++) if (hours[h]) for (let m = 0; m < 60; m++) if (minutes[m]) times.push(h * 60 + m);
  const weekdays = expand(dow, 0, 6, DAY_NAMES, 7);
  if (weekdays[7]) weekdays[0] = true;
  weekdays.length = 7;
  // As in croniter (Prefect), a day field is restricted unless it is exactly `*`: `*/2` counts.
  const domRestricted = dom !== '*';
  const dowRestricted = dow !== '*';
  const dayRule = domRestricted && dowRestricted ? (dayOr ? 'or' : 'and') : domRestricted ? 'dom' : dowRestricted ? 'dow' : 'any';
  const daysOfMonth = expand(dom, 1, 31);
  const months = expand(month, 1, 12, MONTH_NAMES);
  if (dayRule === 'dom' || dayRule === 'and') {
    // Every day-of-month/month pair exists in some year (Feb 29 in leap years), and every such date
    // falls on every weekday within 400 years, so only a day past the end of each month can never fire.
    const possible = months.some((allowed, m) => allowed && daysOfMonth.some((d, day) => d && day <= daysInMonth(2000, m)));
    if (!possible) {
      throw new InvalidScheduleError(`Invalid cron "${expression}": day-of-month "${dom}" never occurs in month "${month}", so it never fires`, {
        cron: expression,
      });
    }
  }
  return { expression, times, daysOfMonth, months, weekdays, dayRule };
}

/** Which values in min..top a (validated) field allows; `*` spans min..max, explicit values up to `top`. */
function expand(field: string, min: number, max: number, names?: readonly string[], top = max): boolean[] {
  const allowed = new Array<boolean>(top + 1).fill(false);
  const value = (token: string) => {
    const index = names?.indexOf(token.toUpperCase()) ?? -1;
    return index < 0 ? Number(token) : min + index;
  };
  for (const item of field.split(',')) {
    const [base = '*', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let low = min;
    let high = max;
    if (base !== '*') {
      const [a = '', b] = base.split('-');
      low = value(a);
      // `5/15` means 5-max/15, as in croniter and cron-parser.
      high = b !== undefined ? value(b) : stepText !== undefined ? max : low;
    }
    for (let v = low; v <= high; v += step) allowed[v] = true;
  }
  return allowed;
}

/** Matching wall times (floating ms) at or after `fromWall`, ascending and distinct. */
export function* cronWalls(plan: CronPlan, fromWall: number): Generator<number, void, undefined> {
  const { times, daysOfMonth, months, weekdays, dayRule } = plan;
  if (times.length === 0) return;
  let day = Math.floor(fromWall / DAY);
  // Cron fires on whole minutes: the first candidate minute of the first day.
  let firstMinute = Math.ceil((fromWall - day * DAY) / MINUTE);
  let lastMatch = day;
  while (day - lastMatch <= CYCLE_DAYS) {
    const [year, month, dayOfMonth] = civil(day);
    if (!months[month]) {
      day += daysInMonth(year, month) - dayOfMonth + 1;
      firstMinute = 0;
      continue;
    }
    const dom = daysOfMonth[dayOfMonth] === true;
    const dow = weekdays[(((day + 4) % 7) + 7) % 7] === true; // 1970-01-01 was a Thursday
    const matches =
      dayRule === 'any' || (dayRule === 'dom' && dom) || (dayRule === 'dow' && dow) || (dayRule === 'or' && (dom || dow)) || (dayRule === 'and' && dom && dow);
    if (matches) {
      lastMatch = day;
      const base = day * DAY;
      for (const time of times) if (time >= firstMinute) yield base + time * MINUTE;
    }
    day++;
    firstMinute = 0;
  }
}
