/**
 * tRPC set-up and the one place where Drover errors become transport errors: a domain code maps
 * to an HTTP status, and the code, the message and the zod issues travel in the error's data so
 * the client can rebuild the same error on its side.
 */
import { assertNever, describeIssues, ERROR_TABLE, type ErrorCode, isDroverError, toIssues } from '@drover/schemas';
import { initTRPC, TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';
import type { Store } from './store/store.js';

/** @public The context of every call: exported because the router's type names it. */
export interface RequestContext {
  readonly store: Store;
}

type TrpcCode = TRPCError['code'];

/** The transport code of every domain code, by its family (ERROR_TABLE in @drover/schemas). */
export function trpcCodeOf(code: ErrorCode): TrpcCode {
  const family = ERROR_TABLE[code];
  switch (family) {
    case 'validation':
      return 'BAD_REQUEST';
    case 'unauthorized':
      return 'UNAUTHORIZED';
    case 'notFound':
      return 'NOT_FOUND';
    case 'conflict':
      return 'CONFLICT';
    case 'unavailable':
    case 'run':
    case 'internal':
      return 'INTERNAL_SERVER_ERROR';
    default:
      return assertNever(family);
  }
}

/** The tRPC codes of requests refused for how they were sent. */
const CALLER_FAULTS = new Set<TrpcCode>(['BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'TIMEOUT', 'UNPROCESSABLE_CONTENT']);

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
      // A domain error thrown by the store reached tRPC as a 500: it leaves with its own status.
      const code = trpcCodeOf(cause.code);
      const httpStatus = getHTTPStatusCodeFromError(new TRPCError({ code }));
      return {
        ...shape,
        code: TRPC_ERROR_CODES_BY_KEY[code],
        message: cause.message,
        data: { ...shape.data, code, httpStatus, droverCode: cause.code, issues: [], details: cause.details },
      };
    }
    if (error.code === 'NOT_FOUND') {
      // The caller asked for a procedure this server does not have: usually a client newer than the server.
      const message = `${error.message} (is the client newer than the server? upgrade the server)`;
      return { ...shape, message, data: { ...shape.data, droverCode: 'VALIDATION_ERROR' as ErrorCode, issues: [], details: {} } };
    }
    if (error.code === 'METHOD_NOT_SUPPORTED') {
      const message = `${error.message}: send queries with GET and mutations with POST, as tRPC's httpLink does`;
      return { ...shape, message, data: { ...shape.data, droverCode: 'VALIDATION_ERROR' as ErrorCode, issues: [], details: {} } };
    }
    // What the caller sent is at fault (its form, size or pace): a validation error, never INTERNAL.
    const droverCode: ErrorCode = error.code === 'UNAUTHORIZED' ? 'UNAUTHORIZED' : CALLER_FAULTS.has(error.code) ? 'VALIDATION_ERROR' : 'INTERNAL';
    return { ...shape, data: { ...shape.data, droverCode, issues: [], details: {} } };
  },
});

export const router = t.router;
export const procedure = t.procedure;
