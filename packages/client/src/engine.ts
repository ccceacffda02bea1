/**
 * The engine: runs one flow run against the server. It waits for the run's time, moves it
 * RUNNING, heartbeats, captures logs, enforces the timeout, retries as orchestration says, stores
 * a JSON result, and ends the run COMPLETED, FAILED or CANCELLED. A worker's job and `serve()`
 * both run flows through it.
 */
import {
  ConflictError,
  describeIssues,
  type FlowRun,
  MAX_JSON_OBJECT_BYTES,
  type OrchestrationResult,
  RunError,
  STATE_NAMES,
  type State,
  type StateProposal,
  toIssues,
} from '@drover/schemas';
import { ZodError } from 'zod';
import type { DroverClient } from './api.js';
import { type AnyFlow, FlowTimeoutError, runAttempt } from './flow.js';
import type { LogOutput } from './flowContext.js';
import { runLogs } from './logShipper.js';
import { untilServerAnswers } from './serverRetry.js';
import { currentTracing, type TraceSpan } from './tracing.js';

export interface EngineOptions {
  /**
   * The token the run's claim returned. The engine sends it with every heartbeat and proposal, so
   * once the server has given the run to another job (it judged this one dead) this engine learns
   * so, stops the flow and proposes nothing more.
   */
  readonly claimToken?: string;
  /** How often the engine tells the server the run is alive (default 10 s; the server crashes runs after 90 s of silence). */
  readonly heartbeatIntervalMs?: number;
  /** Aborting it cancels the run (used by `serve()` on shutdown, and by a job on SIGTERM). */
  readonly cancel?: AbortSignal;
  /** Where the run's log lines go (default: shipped to the API). */
  readonly logs?: LogOutput;
  /** The span the run's flow span goes under when traced (a job's: its worker's job span); default the run's own trace context. */
  readonly traceParent?: string;
}

/** Thrown into a flow when its run is cancelled. */
export class FlowCancelledError extends RunError {
  override readonly name = 'FlowCancelledError';
  constructor(message: string) {
    super('FLOW_RUN_CANCELLED', message);
  }
}

/** Thrown into a flow whose run the server gave to another job: this job must stop and write nothing. */
export class FlowClaimLostError extends ConflictError {
  override readonly name = 'FlowClaimLostError';
  constructor(message: string) {
    super('CLAIM_LOST', message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

/**
 * A JSON copy of `value` to store as the run's result, or null (with the reason) when it does not
 * survive JSON or is larger than the server keeps.
 */
function jsonResult(value: unknown): { result: StateProposal['result']; dropped?: string } {
  if (value === undefined) return { result: null };
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return { result: null };
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_JSON_OBJECT_BYTES) {
      return {
        result: null,
        dropped: `The flow's result is ${bytes} bytes of JSON, over the ${MAX_JSON_OBJECT_BYTES} the server keeps: it is not stored (return a reference to large data instead)`,
      };
    }
    return { result: JSON.parse(text) as StateProposal['result'] };
  } catch (error) {
    return { result: null, dropped: `The flow's result is not JSON (${(error as Error).message}): it is not stored` };
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ? `${error.stack}` : `${error.name}: ${error.message}`;
  return String(error);
}

/** Runs `run` with `flow` to a final state; returns the state it ended in. */
export async function executeFlowRun(client: DroverClient, run: FlowRun, flow: AnyFlow, options: EngineOptions = {}): Promise<State> {
  const tracing = currentTracing();
  if (!tracing) return executeTraced(client, run, flow, options, undefined);
  // One span for the flow to its final state, one child per attempt (a retry is the next attempt).
  const span = tracing.startSpan(`flow ${flow.name}`, {
    parent: options.traceParent ?? run.traceContext,
    attributes: { 'drover.flow_run.id': run.id, 'drover.flow_run.name': run.name, 'drover.flow.name': flow.name },
  });
  try {
    const state = await executeTraced(client, run, flow, options, span);
    span.setAttributes({ 'drover.state.type': state.type, 'drover.state.name': state.name });
    if (state.type !== 'COMPLETED') span.fail(state.message ?? state.type);
    return state;
  } finally {
    span.end();
  }
}

async function executeTraced(client: DroverClient, run: FlowRun, flow: AnyFlow, options: EngineOptions, flowSpan: TraceSpan | undefined): Promise<State> {
  const logs = options.logs ?? runLogs(client, run.id, false);
  const cancel = new AbortController();
  const onOuterCancel = () => {
    const reason: unknown = options.cancel?.reason;
    cancel.abort(reason instanceof Error ? reason : new FlowCancelledError(String(reason ?? 'Runner shut down')));
  };
  options.cancel?.addEventListener('abort', onOuterCancel, { once: true });
  const { claimToken } = options;
  // Proposals wait out a server restart: under a claim token the server applies each one once.
  const propose = (state: StateProposal): Promise<OrchestrationResult> =>
    untilServerAnswers(() => client.flowRuns.setState({ flowRunId: run.id, state, claimToken }), {
      onWait: (error) => process.stderr.write(`drover-engine: ${error.message}; retrying\n`),
    });
  // Beats from the claim to the end, retry waits included: a silent run is judged dead by the server.
  const heartbeat = setInterval(() => {
    client.flowRuns.heartbeat([{ id: run.id, claimToken }]).then(
      ({ cancelling, lost }) => {
        if (lost.includes(run.id))
          cancel.abort(
            new FlowClaimLostError(`The server no longer counts run ${run.name} as this job's (it heard nothing from it for too long and offered it again)`),
          );
        else if (cancelling.includes(run.id)) cancel.abort(new FlowCancelledError('Cancellation requested through the server'));
      },
      () => {}, // a missed beat is retried at the next interval
    );
  }, options.heartbeatIntervalMs ?? 10_000);
  /** Ends this job's part without a proposal: the run is another job's now. */
  const letGo = async (): Promise<State> => {
    logs.add('warn', `${(cancel.signal.reason as Error).message}: stopping without changing its state`);
    await logs.flush();
    return (await untilServerAnswers(() => client.flowRuns.read(run.id))).state;
  };
  try {
    let parameters: unknown;
    try {
      parameters = flow.parseParameters(run.parameters);
    } catch (error) {
      const detail = error instanceof ZodError ? describeIssues(toIssues(error)) : describeError(error);
      logs.add('error', `Invalid parameters for flow "${flow.name}": ${detail}`);
      return (await propose({ type: 'FAILED', message: `Invalid parameters for flow "${flow.name}": ${detail}` })).state;
    }
    let dueAt = run.nextScheduledStartTime;
    for (let attempt = 1; ; attempt++) {
      await sleep(dueAt ? Date.parse(dueAt) - Date.now() : 0, cancel.signal);
      if (cancel.signal.reason instanceof FlowClaimLostError) return await letGo();
      if (cancel.signal.aborted) return (await propose({ type: 'CANCELLED', message: String((cancel.signal.reason as Error)?.message ?? 'Cancelled') })).state;
      const start = await propose({ type: 'RUNNING', retries: flow.options.retries, retryDelaySeconds: flow.options.retryDelaySeconds });
      if (start.status === 'WAIT') {
        dueAt = new Date(Date.now() + (start.delaySeconds ?? 1) * 1000).toISOString();
        attempt--;
        continue;
      }
      if (start.status !== 'ACCEPT') {
        logs.add('warn', `The server did not let run ${run.name} start: ${start.reason}`);
        return start.state;
      }
      let outcome: OrchestrationResult;
      const attemptSpan =
        flowSpan && currentTracing()?.startSpan(`attempt ${attempt}`, { parent: flowSpan.traceParent, attributes: { 'drover.attempt': attempt } });
      try {
        const runIt = () =>
          runAttempt(
            flow.fn as never,
            parameters,
            flow.options,
            { flowRunId: run.id, flowRunName: run.name, deploymentName: run.deploymentName ? `${run.flowName}/${run.deploymentName}` : null, attempt },
            logs,
            cancel.signal,
          );
        const result = await (attemptSpan ? (currentTracing() as NonNullable<ReturnType<typeof currentTracing>>).withSpan(attemptSpan, runIt) : runIt());
        attemptSpan?.end();
        const stored = jsonResult(result);
        if (stored.dropped) logs.add('warn', stored.dropped);
        await logs.flush();
        outcome = await propose({ type: 'COMPLETED', result: stored.result });
      } catch (error) {
        attemptSpan?.fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        attemptSpan?.end();
        if (cancel.signal.reason instanceof FlowClaimLostError) return await letGo();
        if (cancel.signal.aborted && !(error instanceof FlowTimeoutError)) {
          logs.add('warn', `Run cancelled: ${(cancel.signal.reason as Error)?.message ?? 'cancelled'}`);
          await logs.flush();
          return (await propose({ type: 'CANCELLED', message: (cancel.signal.reason as Error)?.message ?? 'Cancelled' })).state;
        }
        logs.add('error', describeError(error));
        await logs.flush();
        const timedOut = error instanceof FlowTimeoutError;
        outcome = await propose({
          type: 'FAILED',
          name: timedOut ? STATE_NAMES.timedOut : undefined,
          message: timedOut ? error.message : `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`,
        });
        // Orchestration answers a FAILED with retries left by scheduling the retry.
        if (outcome.status === 'REJECT' && outcome.state.type === 'SCHEDULED' && outcome.state.name === STATE_NAMES.awaitingRetry) {
          logs.add('info', `Retrying at ${outcome.state.scheduledTime} (${outcome.reason})`);
          dueAt = outcome.state.scheduledTime;
          continue;
        }
      }
      if (outcome.status === 'ABORT') logs.add('warn', `The server refused run ${run.name}'s final state: ${outcome.reason}`);
      return outcome.state;
    }
  } finally {
    clearInterval(heartbeat);
    options.cancel?.removeEventListener('abort', onOuterCancel);
    await logs.flush();
  }
}
