/**
 * Errors of @drover/scheduling: validation errors of the shared table in @drover/schemas, with
 * this package's two codes. The schemas reject most bad input before it gets here, so these mean
 * that something unvalidated slipped through.
 */
import { ValidationError } from '@drover/schemas';

/** The codes this package throws. Stable: never renamed, only added. */
export type SchedulingErrorCode = 'INVALID_SCHEDULE' | 'INVALID_ARGUMENT';

/**
 * Thrown when a schedule cannot be evaluated: an unknown timezone, an unparseable cron or rrule,
 * a non-positive interval, a cron that can never fire.
 */
export class InvalidScheduleError extends ValidationError {
  override readonly name = 'InvalidScheduleError';
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}, options?: { cause?: unknown }) {
    super('INVALID_SCHEDULE', message, details, options);
  }
}

/** Thrown when `start`, `end`, `anchorDate` or `n` is not a usable value (bad ISO string, invalid Date, negative n). */
export class InvalidArgumentError extends ValidationError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_ARGUMENT', message, details);
  }
}
