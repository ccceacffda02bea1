import { type FlowRun, isTerminal } from '@drover/schemas';
import { type DroverClient, getClient } from './api.js';
import type { RunnerDeployment } from './deployments.js';
import { ChildRunFailedError, RunWaitTimeoutError } from './errors.js';
import type { AnyFlow, FlowParameters } from './flow.js';
import { currentFlowRunId } from './flowContext.js';
import { currentTracing } from './tracing.js';

export interface RunDeploymentOptions<P = Record<string, unknown>> {
  /** Shallow-merged over the deployment's default parameters by the server. */
  readonly parameters?: P;
  /** When the run should start (now when absent). */
  readonly scheduledTime?: Date | string;
  readonly flowRunName?: string;
  /** Seconds to wait for a final state; 0 returns at once; absent waits for ever. */
  readonly timeout?: number;
  /** Seconds between reads when the server's long-poll is not available (default 10). */
  readonly pollInterval?: number;
  readonly tags?: readonly string[];
  readonly idempotencyKey?: string;
  readonly workQueueName?: string;
  readonly jobVariables?: Record<string, unknown>;
  /**
   * Inside a running flow (default true there): the new run is a child of the current one, so it
   * is listed with it and cancelled with it, and a child that does not complete makes this call
   * throw `ChildRunFailedError` naming it. Outside a flow run there is no parent.
   */
  readonly asSubflow?: boolean;
  readonly client?: DroverClient;
}

/** Longest single long-poll; the wait loops until the run is final or the timeout passes. */
const LONG_POLL_MS = 30_000;

/**
 * Creates a run of `flow-name/deployment-name` (or of a `RunnerDeployment`, whose flow's types
 * then check `parameters`) and waits for its final state (unless `timeout`
 * is 0). Waiting is a server long-poll, so it returns as soon as the run ends. Throws
 * `NotFoundError` (code DEPLOYMENT_NOT_FOUND) for an unknown deployment and `RunWaitTimeoutError` (with the run id
 * and last state) when the timeout passes first. Called inside a flow run, the new run is its
 * child (see `asSubflow`).
 *
 * @example
 * const run = await runDeployment('etl/nightly', { parameters: { date: '2026-01-01' }, timeout: 600 });
 * console.log(run.state.type, run.result);
 */
export function runDeployment<F extends AnyFlow>(
  deployment: RunnerDeployment<F>,
  options?: RunDeploymentOptions<Partial<NonNullable<FlowParameters<F>>>>,
): Promise<FlowRun>;
export function runDeployment(name: string, options?: RunDeploymentOptions): Promise<FlowRun>;
export async function runDeployment(deployment: string | RunnerDeployment, options: RunDeploymentOptions<object> = {}): Promise<FlowRun> {
  const name = typeof deployment === 'string' ? deployment : deployment.fullName;
  const client = options.client ?? getClient();
  // Traced (inside a flow run whose job traces): the new run joins this trace, under a span of its own.
  const span = currentTracing()?.startSpan(`runDeployment ${name}`, { attributes: { 'drover.deployment.name': name } });
  const parentFlowRunId = (options.asSubflow ?? true) ? currentFlowRunId() : undefined;
  let run = await client.flowRuns.create({
    deployment: name,
    parameters: (options.parameters ?? {}) as Record<string, unknown>,
    scheduledTime: options.scheduledTime === undefined ? undefined : new Date(options.scheduledTime).toISOString(),
    name: options.flowRunName,
    tags: [...(options.tags ?? [])],
    idempotencyKey: options.idempotencyKey,
    workQueueName: options.workQueueName,
    jobVariables: options.jobVariables ?? {},
    traceContext: span?.traceParent,
    parentFlowRunId,
  });
  span?.setAttributes({ 'drover.flow_run.id': run.id });
  span?.end();
  if (options.timeout === 0) return run;
  const deadline = options.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeout * 1000;
  while (!isTerminal(run.state.type)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new RunWaitTimeoutError(run.id, run.state, options.timeout as number);
    try {
      run = await client.flowRuns.wait(run.id, Math.min(left, LONG_POLL_MS));
    } catch (error) {
      // A server without long-polls (or a dropped connection): fall back to reading at the poll interval.
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, (options.pollInterval ?? 10) * 1000)));
      run = await client.flowRuns.read(run.id).catch(() => {
        throw error;
      });
    }
  }
  if (parentFlowRunId !== undefined && run.state.type !== 'COMPLETED') throw new ChildRunFailedError(run.id, run.name, run.state);
  return run;
}
