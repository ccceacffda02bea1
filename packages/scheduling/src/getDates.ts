/**
 * `getDates` and `iterateDates`: the one place that tells the schedule kinds apart and applies
 * Prefect's `get_dates` contract (inclusive start and end, n, sorted, distinct).
 */
import { assertNever, type CronSchedule, type IntervalSchedule, type RRuleSchedule } from '@drover/schemas';
import { cronPlan, cronWalls } from './cron.js';
import { InvalidArgumentError, InvalidScheduleError } from './errors.js';
import { intervalInstants } from './interval.js';
import { placeWalls, scanStart } from './placeWalls.js';
import { rrulePlan, rruleWalls } from './rrule.js';
import { DAY, DEFAULT_ANCHOR_WALL, toInstant, toWallAndInstant } from './wallTime.js';
import { getZone } from './zone.js';

/**
 * A schedule as a plain object, before zod defaults: one of @drover/schemas' `CronSchedule`
 * (`dayOr` optional, default true), `IntervalSchedule` (`anchorDate` may also be a `Date`) or
 * `RRuleSchedule`, told apart by which of `cron`, `interval` or `rrule` it has.
 */
export type ScheduleLike =
  | (Omit<CronSchedule, 'dayOr'> & { dayOr?: boolean | undefined })
  | (Omit<IntervalSchedule, 'anchorDate'> & { anchorDate?: Date | string | undefined })
  | RRuleSchedule;

/** A `Date`, or an ISO-8601 string; without an offset the string is wall time in the schedule's zone. */
export type DateInput = Date | string;

export interface GetDatesOptions {
  /** First instant to consider, inclusive. Required: this package never reads the clock. */
  readonly start: DateInput;
  /** Last instant to consider, inclusive. */
  readonly end?: DateInput | undefined;
  /** Most dates to return: default 1 without `end`, {@link MAX_DATES} with it. */
  readonly n?: number | undefined;
}

/** Default `n` when `end` is given (Prefect's MAX_ITERATIONS). */
export const MAX_DATES = 1000;

type Kind = 'cron' | 'interval' | 'rrule';

function kindOf(schedule: ScheduleLike): Kind {
  const kinds = (['cron', 'interval', 'rrule'] as const).filter((kind) => typeof schedule === 'object' && schedule !== null && kind in schedule);
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? 'none' : kinds.join(' and ');
    throw new InvalidScheduleError(`Invalid schedule: expected exactly one of cron, interval or rrule (found ${found})`, {
      schedule,
    });
  }
  return kinds[0] as Kind;
}

/**
 * Occurrences as epoch ms at or after `start`, ascending and distinct. `expected` and `endMs` only
 * size rrule's chunks; the caller still stops at its own n and end.
 */
function instants(schedule: ScheduleLike, start: DateInput, expected?: number, endMs?: number): Generator<number, void, undefined> {
  const kind = kindOf(schedule);
  const zone = getZone(schedule.timezone);
  switch (kind) {
    case 'cron': {
      const { cron, dayOr } = schedule as Extract<ScheduleLike, { cron: string }>;
      const plan = cronPlan(cron, dayOr ?? true);
      const startMs = toInstant(start, zone, 'start');
      return placeWalls(zone, cronWalls(plan, scanStart(zone, startMs)), startMs);
    }
    case 'interval': {
      const { interval, anchorDate } = schedule as Extract<ScheduleLike, { interval: number }>;
      const anchor =
        anchorDate === undefined ? { wall: DEFAULT_ANCHOR_WALL, instant: zone.resolve(DEFAULT_ANCHOR_WALL) } : toWallAndInstant(anchorDate, zone, 'anchorDate');
      return intervalInstants(zone, interval, anchor, toInstant(start, zone, 'start'));
    }
    case 'rrule': {
      const plan = rrulePlan((schedule as RRuleSchedule).rrule);
      const startMs = toInstant(start, zone, 'start');
      // Wall time is within a day of the instant in every zone; two days of slack covers DST gaps.
      const untilWall = endMs === undefined ? undefined : endMs + 2 * DAY;
      return placeWalls(zone, rruleWalls(plan, scanStart(zone, startMs), { expected, untilWall }), startMs);
    }
    default:
      return assertNever(kind);
  }
}

/**
 * Occurrences of `schedule` from `start` to `end`, both inclusive: at most `n` (default 1 without
 * `end`, 1000 with it), ascending, no duplicates.
 *
 * @example
 * getDates({ cron: '0 9 * * *', timezone: 'America/New_York' }, { start: '2025-03-08T00:00', n: 3 });
 * // 2025-03-08T14:00Z, 2025-03-09T13:00Z, 2025-03-10T13:00Z: 09:00 local on both sides of DST
 */
export function getDates(schedule: ScheduleLike, options: GetDatesOptions): Date[] {
  const { start, end, n } = options;
  const limit = n ?? (end === undefined ? 1 : MAX_DATES);
  if (!Number.isInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(`Invalid n ${String(n)}: expected a whole number of at least 0`, { n });
  }
  const dates: Date[] = [];
  kindOf(schedule);
  if (limit === 0) return dates;
  const zone = getZone(schedule.timezone);
  const endMs = end === undefined ? undefined : toInstant(end, zone, 'end');
  for (const instant of instants(schedule, start, limit, endMs)) {
    if (endMs !== undefined && instant > endMs) break;
    dates.push(new Date(instant));
    if (dates.length >= limit) break;
  }
  return dates;
}

/**
 * All occurrences of `schedule` at or after `start` (inclusive), lazily, ascending and without
 * duplicates. Infinite for most schedules: stop when you have enough.
 *
 * @example
 * for (const date of iterateDates({ interval: 3600 }, new Date('2025-01-01T00:00:00Z'))) {
 *   if (date > horizon) break;
 *   plan(date);
 * }
 */
export function iterateDates(schedule: ScheduleLike, start: DateInput): Generator<Date, void, undefined> {
  // Not a generator function itself, so a bad schedule or start throws here, not on first next().
  const source = instants(schedule, start);
  return (function* () {
    for (const instant of source) yield new Date(instant);
  })();
}
