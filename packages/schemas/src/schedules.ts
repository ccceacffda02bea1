import { z } from 'zod';
import { cronError, cronNeverFiresError } from './cron.js';
import { rruleError } from './rrule.js';
import { DateTimeInput, Timezone } from './timezone.js';

const cronShape = {
  cron: z
    .string()
    .max(200)
    .superRefine((value, ctx) => {
      const problem = cronError(value);
      if (problem) ctx.addIssue({ code: 'custom', message: `Invalid cron "${value}": ${problem}` });
    }),
  timezone: Timezone.optional(),
  /** When both day fields are restricted: true fires on either (vixie cron), false only on days matching both. */
  dayOr: z.boolean().default(true),
};

/** Refuses a valid expression whose days never occur (`0 0 30 2 *`): it would schedule nothing, silently. */
function refineCronFires(schedule: { cron: string; dayOr: boolean }, ctx: z.RefinementCtx): void {
  if (cronError(schedule.cron)) return; // reported on the field already
  const problem = cronNeverFiresError(schedule.cron, schedule.dayOr);
  if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: `Invalid cron "${schedule.cron}": ${problem}` });
}

/** A cron schedule, evaluated on wall time in `timezone` (UTC when absent). */
export const CronSchedule = z.strictObject(cronShape).superRefine(refineCronFires);
export type CronSchedule = z.infer<typeof CronSchedule>;

/** Longest interval accepted: 100 years, far beyond any real schedule, small enough for exact date maths. */
export const MAX_INTERVAL_SECONDS = 100 * 366 * 86_400;
/** Shortest interval accepted: runs more often than once a second are not what an orchestrator is for. */
export const MIN_INTERVAL_SECONDS = 1;

/**
 * Every `interval` seconds from `anchorDate` (default 2020-01-01T00:00 wall time in the zone). Whole
 * days step in calendar days in `timezone`, so a daily 09:00 stays 09:00 across DST.
 */
export const IntervalSchedule = z.strictObject({
  interval: z.number().superRefine((value, ctx) => {
    if (!(value >= MIN_INTERVAL_SECONDS) || value > MAX_INTERVAL_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        message: `Invalid interval ${value}: must be at least ${MIN_INTERVAL_SECONDS} and at most ${MAX_INTERVAL_SECONDS} seconds`,
      });
    }
  }),
  anchorDate: DateTimeInput.optional(),
  timezone: Timezone.optional(),
});
export type IntervalSchedule = z.infer<typeof IntervalSchedule>;

/** An RFC 5545 rule (set); DTSTART, UNTIL, RDATE and EXDATE are wall times in `timezone`. */
export const RRuleSchedule = z.strictObject({
  rrule: z.string().superRefine((value, ctx) => {
    const problem = rruleError(value);
    if (problem) {
      const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
      ctx.addIssue({ code: 'custom', message: `Invalid rrule "${shown}": ${problem}` });
    }
  }),
  timezone: Timezone.optional(),
});
export type RRuleSchedule = z.infer<typeof RRuleSchedule>;

const SCHEDULE_KINDS = ['cron', 'interval', 'rrule'] as const;

/**
 * A union of one schema per schedule kind, told apart by which of `cron`, `interval` or `rrule`
 * the value has; a value with none or several gets one clear message instead of a union error.
 */
export function byScheduleKind<A extends z.ZodType, B extends z.ZodType, C extends z.ZodType>(cron: A, interval: B, rrule: C) {
  return z.preprocess(
    (value, ctx) => {
      if (typeof value !== 'object' || value === null) return value;
      const kinds = SCHEDULE_KINDS.filter((kind) => kind in value);
      if (kinds.length !== 1) {
        const found = kinds.length === 0 ? 'none' : kinds.join(' and ');
        ctx.addIssue({ code: 'custom', message: `A schedule needs exactly one of cron, interval or rrule (found ${found})`, input: value });
        return z.NEVER;
      }
      return value;
    },
    z.union([cron, interval, rrule]),
  );
}

/** One of the three schedule kinds, told apart by which of `cron`, `interval` or `rrule` it has. */
export const Schedule = byScheduleKind(CronSchedule, IntervalSchedule, RRuleSchedule);
export type Schedule = z.infer<typeof Schedule>;
/** A schedule as callers write it (`dayOr` optional, `anchorDate` a string or Date). */
export type ScheduleInput = z.input<typeof CronSchedule> | z.input<typeof IntervalSchedule> | z.input<typeof RRuleSchedule>;
