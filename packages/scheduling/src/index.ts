/**
 * @drover/scheduling: when does a schedule fire? Pure date maths for Drover's cron, interval and
 * rrule schedules in any IANA timezone, with Prefect's `get_dates` contract and DST rules. It
 * never reads the clock (pass `start`) and gives the same answer whatever the process's TZ.
 *
 * @example
 * import { getDates, iterateDates } from '@drover/scheduling';
 *
 * getDates({ cron: '0 9 * * *', timezone: 'America/New_York' }, { start: '2025-03-08T00:00', n: 3 });
 * // [2025-03-08T14:00Z, 2025-03-09T13:00Z, 2025-03-10T13:00Z]: 09:00 local on both sides of DST
 *
 * const next = iterateDates({ interval: 86_400, anchorDate: '2025-01-01T09:00', timezone: 'Europe/London' }, now);
 */
export { InvalidArgumentError, InvalidScheduleError, type SchedulingErrorCode } from './errors.js';
export {
  type DateInput,
  type GetDatesOptions,
  getDates,
  iterateDates,
  MAX_DATES,
  type ScheduleLike,
} from './getDates.js';
