/**
 * The SDK's errors, and the one place where transport errors become them: every call to the
 * server goes through `toSdkError`, so callers catch `DeploymentNotFoundError` or check
 * `isDroverError(e, 'IDEMPOTENCY_CONFLICT')`, never a tRPC or fetch error.
 */
import { DroverError, type ErrorCode, ERROR_CODES, type ErrorDetails, type State } from '@drover/schemas';
import { TRPCClientError } from '@trpc/client';

/** Thrown when a deployment named or id'd by the caller does not exist. */
export class DeploymentNotFoundError extends DroverError {
  override readonly name = 'DeploymentNotFoundError';
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('DEPLOYMENT_NOT_FOUND', message, details, options);
  }
}

/** Thrown when `runDeployment` gives up waiting; carries the run's id and its last state. */
export class FlowRunTimeoutError extends DroverError {
  override readonly name = 'FlowRunTimeoutError';
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

/** Thrown when the server cannot be reached at all. */
export class ServerUnreachableError extends DroverError {
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
    if (code && (ERROR_CODES as readonly string[]).includes(code)) {
      const details = { ...data?.details, ...(data?.issues ? { issues: data.issues } : {}) };
      if (code === 'DEPLOYMENT_NOT_FOUND') return new DeploymentNotFoundError(error.message, details, { cause: error });
      return new DroverError(code as ErrorCode, error.message, details, { cause: error });
    }
    const cause = error.cause as (Error & { code?: string; cause?: { code?: string } }) | undefined;
    const network = cause?.cause?.code ?? cause?.code;
    if (!data && (network || cause?.name === 'TypeError' || /fetch failed/i.test(error.message))) {
      return new ServerUnreachableError(apiUrl, (network && NETWORK_REASONS[network]) ?? network ?? error.message, { cause: error });
    }
    return new DroverError('INTERNAL', `The Drover server at ${apiUrl} answered: ${error.message}`, {}, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
