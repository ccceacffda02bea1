/**
 * Error codes shared by every Drover package, their families, and the error classes. A code is
 * stable: scripts and the client branch on it, so a code is never renamed, only added.
 */
import { assertNever } from './assertNever.js';

/**
 * Every code, with its family: the class a caller catches (`NotFoundError`, `ConflictError`...),
 * which also decides the HTTP status the server answers with. Adding a code means adding a row.
 */
export const ERROR_TABLE = {
  VALIDATION_ERROR: 'validation',
  PARAMETERS_INVALID: 'validation',
  JOB_VARIABLES_INVALID: 'validation',
  INVALID_SCHEDULE: 'validation',
  INVALID_ARGUMENT: 'validation',
  UNAUTHORIZED: 'unauthorized',
  FLOW_NOT_FOUND: 'notFound',
  DEPLOYMENT_NOT_FOUND: 'notFound',
  SCHEDULE_NOT_FOUND: 'notFound',
  FLOW_RUN_NOT_FOUND: 'notFound',
  WORK_POOL_NOT_FOUND: 'notFound',
  WORK_QUEUE_NOT_FOUND: 'notFound',
  NAME_CONFLICT: 'conflict',
  DATABASE_NOT_EMPTY: 'conflict',
  IDEMPOTENCY_CONFLICT: 'conflict',
  INVALID_STATE_TRANSITION: 'conflict',
  CLAIM_LOST: 'conflict',
  FILE_EXISTS: 'conflict',
  SERVER_UNREACHABLE: 'unavailable',
  ADDRESS_IN_USE: 'unavailable',
  DOCKER_UNAVAILABLE: 'unavailable',
  DATABASE_UNREACHABLE: 'unavailable',
  FLOW_RUN_TIMEOUT: 'run',
  FLOW_TIMEOUT: 'run',
  FLOW_RUN_CANCELLED: 'run',
  CHILD_RUN_FAILED: 'run',
  FLOW_LOAD_ERROR: 'run',
  INFRASTRUCTURE_ERROR: 'run',
  DATABASE_TOO_NEW: 'internal',
  INTERNAL: 'internal',
} as const;
export type ErrorCode = keyof typeof ERROR_TABLE;
export type ErrorFamily = (typeof ERROR_TABLE)[ErrorCode];

/** Every error code. */
export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

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

/** Codes of one family. */
type CodeOf<F extends ErrorFamily> = { [C in ErrorCode]: (typeof ERROR_TABLE)[C] extends F ? C : never }[ErrorCode];

/** Thrown when what the caller named (a flow, deployment, schedule, run, pool or queue) does not exist. */
export class NotFoundError extends DroverError {
  override readonly name: string = 'NotFoundError';
  constructor(code: CodeOf<'notFound'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Thrown when a request clashes with what exists: a name taken, a key reused, a state change refused, a claim lost. */
export class ConflictError extends DroverError {
  override readonly name: string = 'ConflictError';
  constructor(code: CodeOf<'conflict'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Thrown when input is not what was expected; `details.issues` lists every problem when there are several. */
export class ValidationError extends DroverError {
  override readonly name: string = 'ValidationError';
  constructor(code: CodeOf<'validation'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Thrown when the server refuses the caller's API key (or its absence). */
export class UnauthorizedError extends DroverError {
  override readonly name: string = 'UnauthorizedError';
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('UNAUTHORIZED', message, details, options);
  }
}

/** Thrown when something Drover needs cannot be reached or had: the server, a port, the Docker engine. */
export class UnavailableError extends DroverError {
  override readonly name: string = 'UnavailableError';
  constructor(code: CodeOf<'unavailable'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Thrown when a run cannot go on: its flow timed out or was cancelled, its code or job could not be had. */
export class RunError extends DroverError {
  override readonly name: string = 'RunError';
  constructor(code: CodeOf<'run'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Thrown when Drover itself failed: a bug, or a database newer than this release. */
export class InternalError extends DroverError {
  override readonly name: string = 'InternalError';
  constructor(code: CodeOf<'internal'>, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/**
 * The error of this code's family, rebuilt (from an API answer, a child process's JSON): the one
 * place a code becomes a class, so a caller catches `NotFoundError` however the error travelled.
 */
export function droverErrorOf(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }): DroverError {
  const family = ERROR_TABLE[code];
  switch (family) {
    case 'notFound':
      return new NotFoundError(code as CodeOf<'notFound'>, message, details, options);
    case 'conflict':
      return new ConflictError(code as CodeOf<'conflict'>, message, details, options);
    case 'validation':
      return new ValidationError(code as CodeOf<'validation'>, message, details, options);
    case 'unauthorized':
      return new UnauthorizedError(message, details, options);
    case 'unavailable':
      return new UnavailableError(code as CodeOf<'unavailable'>, message, details, options);
    case 'run':
      return new RunError(code as CodeOf<'run'>, message, details, options);
    case 'internal':
      return new InternalError(code as CodeOf<'internal'>, message, details, options);
    default:
      return assertNever(family);
  }
}
