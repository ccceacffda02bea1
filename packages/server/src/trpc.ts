/**
 * tRPC set-up and the one place where Drover errors become transport errors: a domain code maps
 * to an HTTP status, and the code, the message and the zod issues travel in the error's data so
 * the client can rebuild the same error on its side.
 */
import { describeIssues, type ErrorCode, isDroverError, toIssues } from '@drover/schemas';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import type { Store } from './store/store.js';

export interface RequestContext {
  readonly store: Store;
}

type TrpcCode = TRPCError['code'];

/** The transport code of every domain code; the switch is exhaustive so a new code must be placed. */
export function trpcCodeOf(code: ErrorCode): TrpcCode {
  switch (code) {
    case 'VALIDATION_ERROR':
    case 'PARAMETERS_INVALID':
      return 'BAD_REQUEST';
    case 'UNAUTHORIZED':
      return 'UNAUTHORIZED';
    case 'FLOW_NOT_FOUND':
    case 'DEPLOYMENT_NOT_FOUND':
    case 'SCHEDULE_NOT_FOUND':
    case 'FLOW_RUN_NOT_FOUND':
    case 'WORK_POOL_NOT_FOUND':
    case 'WORK_QUEUE_NOT_FOUND':
      return 'NOT_FOUND';
    case 'NAME_CONFLICT':
    case 'IDEMPOTENCY_CONFLICT':
    case 'INVALID_STATE_TRANSITION':
      return 'CONFLICT';
    case 'DATABASE_TOO_NEW':
    case 'ADDRESS_IN_USE':
    case 'SERVER_UNREACHABLE':
    case 'FLOW_RUN_TIMEOUT':
    case 'FLOW_LOAD_ERROR':
    case 'DOCKER_UNAVAILABLE':
    case 'FILE_EXISTS':
    case 'JOB_VARIABLES_INVALID':
    case 'INFRASTRUCTURE_ERROR':
    case 'INTERNAL':
      return 'INTERNAL_SERVER_ERROR';
  }
}

const t = initTRPC.context<RequestContext>().create({
  // Never send stack traces to clients, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error, path }) {
    const cause = error.cause;
    // Only a failed input parse is the caller's fault; a failed output parse is the server's (INTERNAL, below).
    if (cause instanceof ZodError && error.code === 'BAD_REQUEST') {
      const issues = toIssues(cause);
      return {
        ...shape,
        message: `Invalid input to ${path ?? 'the API'}: ${describeIssues(issues)}`,
        data: { ...shape.data, droverCode: 'VALIDATION_ERROR' as ErrorCode, issues, details: {} },
      };
    }
    if (isDroverError(cause)) {
      return { ...shape, message: cause.message, data: { ...shape.data, droverCode: cause.code, issues: [], details: cause.details } };
    }
    if (error.code === 'NOT_FOUND' || error.code === 'METHOD_NOT_SUPPORTED') {
      // The caller asked for a procedure this server does not have: usually a client newer than the server.
      const message = `${error.message} (is the client newer than the server? upgrade the server)`;
      return { ...shape, message, data: { ...shape.data, droverCode: 'VALIDATION_ERROR' as ErrorCode, issues: [], details: {} } };
    }
    const droverCode: ErrorCode = error.code === 'UNAUTHORIZED' ? 'UNAUTHORIZED' : error.code === 'BAD_REQUEST' ? 'VALIDATION_ERROR' : 'INTERNAL';
    return { ...shape, data: { ...shape.data, droverCode, issues: [], details: {} } };
  },
});

/** Domain errors thrown by the store leave with their own status instead of a 500. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && isDroverError(result.error.cause)) {
    const cause = result.error.cause;
    throw new TRPCError({ code: trpcCodeOf(cause.code), message: cause.message, cause });
  }
  return result;
});

export const router = t.router;
export const procedure = t.procedure.use(domainErrors);
