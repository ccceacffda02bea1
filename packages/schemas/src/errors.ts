/**
 * Error codes shared by every Drover package, and the base error class. A code is stable: scripts
 * and the client branch on it, so a code is never renamed, only added.
 */

export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'UNAUTHORIZED',
  'FLOW_NOT_FOUND',
  'DEPLOYMENT_NOT_FOUND',
  'SCHEDULE_NOT_FOUND',
  'FLOW_RUN_NOT_FOUND',
  'WORK_POOL_NOT_FOUND',
  'WORK_QUEUE_NOT_FOUND',
  'NAME_CONFLICT',
  'IDEMPOTENCY_CONFLICT',
  'PARAMETERS_INVALID',
  'INVALID_STATE_TRANSITION',
  'CLAIM_LOST',
  'DATABASE_TOO_NEW',
  'ADDRESS_IN_USE',
  'SERVER_UNREACHABLE',
  'FLOW_RUN_TIMEOUT',
  'FLOW_LOAD_ERROR',
  'DOCKER_UNAVAILABLE',
  'FILE_EXISTS',
  'JOB_VARIABLES_INVALID',
  'INFRASTRUCTURE_ERROR',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const BRAND = Symbol.for('drover.error');

/** Extra, code-specific facts an error carries (the bad value, the id it was about, the issues). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/**
 * Thrown when Drover refuses or fails an operation for a reason it can name. `code` is stable;
 * `details` carries the values the message mentions.
 */
export class DroverError extends Error {
  override readonly name: string = 'DroverError';
  readonly [BRAND] = true;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * True when `error` is a Drover error (optionally with `code`). Checks a brand or the code's
 * presence rather than `instanceof`, so an error rebuilt from JSON in another process still counts.
 */
export function isDroverError(error: unknown, code?: ErrorCode): error is DroverError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { [BRAND]?: unknown; code?: unknown };
  const branded = candidate[BRAND] === true || (ERROR_CODES as readonly unknown[]).includes(candidate.code);
  return branded && (code === undefined || candidate.code === code);
}
