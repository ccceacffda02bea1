/**
 * The SDK's own errors, and the one place where transport errors become Drover errors: every call
 * to the server goes through `toSdkError`, which rebuilds the server's error as its family's class
 * (`NotFoundError`, `ConflictError`, `ValidationError`... from @drover/schemas), so callers catch
 * those or check `isDroverError(e, 'IDEMPOTENCY_CONFLICT')`, never a tRPC or fetch error.
 */
import {
  DroverError,
  droverErrorOf,
  ERROR_TABLE,
  type ErrorCode,
  type ErrorDetails,
  InternalError,
  RunError,
  type State,
  UnavailableError,
} from '@drover/schemas';
import { TRPCClientError } from '@trpc/client';

/** Thrown when `runDeployment` (or `drover … --watch`) gives up waiting; carries the run's id and its last state. */
export class RunWaitTimeoutError extends RunError {
  override readonly name = 'RunWaitTimeoutError';
  constructor(
    readonly flowRunId: string,
    readonly lastState: State,
    timeoutSeconds: number,
  ) {
    super('FLOW_RUN_TIMEOUT', `Flow run ${flowRunId} did not finish within ${timeoutSeconds} s (last state: ${lastState.type} ${lastState.name})`, {
      flowRunId,
      lastState,
    });
  }
}

/**
 * Thrown by `runDeployment` inside a flow (a subflow) when the child run it waited for ended
 * FAILED, CRASHED or CANCELLED, so the parent fails with the child named, as a function call
 * would. Carries the child's id and its final state.
 */
export class ChildRunFailedError extends RunError {
  override readonly name = 'ChildRunFailedError';
  constructor(
    readonly flowRunId: string,
    readonly childName: string,
    readonly finalState: State,
  ) {
    super('CHILD_RUN_FAILED', `Child run ${childName} (${flowRunId}) ended ${finalState.type}${finalState.message ? `: ${finalState.message}` : ''}`, {
      flowRunId,
      state: finalState,
    });
  }
}

/** Thrown when the server cannot be reached at all. */
export class ServerUnreachableError extends UnavailableError {
  override readonly name = 'ServerUnreachableError';
  constructor(
    readonly apiUrl: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'SERVER_UNREACHABLE',
      `Cannot reach the Drover server at ${apiUrl} (${reason}): start one with \`drover server start\`, or point DROVER_API_URL at a running server`,
      { apiUrl },
      options,
    );
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
};

/** Turns whatever a call to the server threw into the SDK's error for it. */
export function toSdkError(error: unknown, apiUrl: string): Error {
  if (error instanceof DroverError) return error;
  if (error instanceof TRPCClientError) {
    const data = error.data as { droverCode?: string; details?: ErrorDetails; issues?: unknown } | undefined;
    const code = data?.droverCode;
    if (code && Object.hasOwn(ERROR_TABLE, code)) {
      const details = { ...data?.details, ...(data?.issues ? { issues: data.issues } : {}) };
      return droverErrorOf(code as ErrorCode, error.message, details, { cause: error });
    }
    const cause = error.cause as (Error & { code?: string; cause?: { code?: string } }) | undefined;
    const network = cause?.cause?.code ?? cause?.code;
    if (!data && (network || cause?.name === 'TypeError' || /fetch failed/i.test(error.message))) {
      return new ServerUnreachableError(apiUrl, (network && NETWORK_REASONS[network]) ?? network ?? error.message, { cause: error });
    }
    return new InternalError('INTERNAL', `The Drover server at ${apiUrl} answered: ${error.message}`, {}, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
