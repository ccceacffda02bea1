/**
 * Errors of @drover/scheduling. Each has a stable `code`; callers branch on the code, not on the
 * message. The schemas in @drover/schemas reject most bad input before it gets here, so these
 * mean that something unvalidated slipped through.
 */

/** The codes this package throws. Stable: never renamed, only added. */
export type SchedulingErrorCode = 'INVALID_SCHEDULE' | 'INVALID_ARGUMENT';

/** Base class of this package's errors: a stable `code` and the values the message names. */
export class SchedulingError extends Error {
  override readonly name: string = 'SchedulingError';
  constructor(
    readonly code: SchedulingErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Thrown when a schedule cannot be evaluated: an unknown timezone, an unparseable cron or rrule,
 * a non-positive interval, a cron that can never fire.
 */
export class InvalidScheduleError extends SchedulingError {
  override readonly name = 'InvalidScheduleError';
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}, options?: { cause?: unknown }) {
    super('INVALID_SCHEDULE', message, details, options);
  }
}

/** Thrown when `start`, `end`, `anchorDate` or `n` is not a usable value (bad ISO string, invalid Date, negative n). */
export class InvalidArgumentError extends SchedulingError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_ARGUMENT', message, details);
  }
}
