/**
 * @drover/schemas: the one source of truth for every object Drover exchanges. The server
 * validates its API with these schemas, the client and worker parse with them, the CLI prints
 * from them and `drover.yaml` is read through them. Each schema has an inferred type of the same name.
 *
 * @example
 * import { Schedule } from '@drover/schemas';
 * const schedule = Schedule.parse({ cron: '0 9 * * 1-5', timezone: 'Europe/London' });
 */
export { CRON_MACROS, cronError, cronFields } from './cron.js';
export { MAX_RRULE_LENGTH, rruleError } from './rrule.js';
export {
  CronSchedule,
  IntervalSchedule,
  MAX_INTERVAL_SECONDS,
  RRuleSchedule,
  Schedule,
  type ScheduleInput,
} from './schedules.js';
export { DateTimeInput, isTimezone, Timezone } from './timezone.js';
