#!/usr/bin/env node
/**
 * The engine as a program: what a worker's job runs. It reads the run named by
 * DROVER_FLOW_RUN_ID from the server at DROVER_API_URL, runs its deployment's pull steps, loads
 * the entrypoint and runs the flow, under the claim whose token is DROVER_CLAIM_TOKEN, beating
 * every DROVER_RUN_HEARTBEAT_SECONDS (default 10; keep it well under the server's
 * DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS). SIGTERM cancels the run (it ends CANCELLED). Log lines
 * go to the API; with DROVER_LOG_ECHO=marked they are also written to stdout, marked, for the
 * worker. Exit code 0 when the run reached a final state (even FAILED: the server has the
 * truth), 1 when the engine could not finish, 2 when its environment is wrong.
 *
 * With DROVER_ENGINE_WAIT=ipc (a worker's warm process pool) it starts before its run exists,
 * loads what every run needs (tsx too with DROVER_ENGINE_PRELOAD=typescript), and waits for the
 * run, its claim token and its own variables over the IPC channel (engineHandoff.ts); then it
 * runs it exactly as above, and ends, or with `reuse` stays for the next run of the same
 * deployment, keeping the flow it loaded.
 */
import { isTerminal, type State } from '@drover/schemas';
import { z } from 'zod';
import { getClient } from './api.js';
import { executeFlowRun, FlowCancelledError } from './engine.js';
import { becomeWarm, type EngineHandoff, nextHandoff, reportToWorker, writeDoneMarker } from './engineHandoff.js';
import type { AnyFlow } from './flow.js';
import { loadFlow, useTypeScriptLoader } from './loadFlow.js';
import { runLogs } from './logShipper.js';
import { runPullSteps } from './pullSteps.js';
import { untilServerAnswers } from './serverRetry.js';
import { setupTracing } from './tracing.js';

// A warm engine (DROVER_ENGINE_WAIT=ipc) is started by a worker's process pool before its run
// exists, and is handed the run and its claim token over the IPC channel (engineHandoff.ts).
const warm = process.env.DROVER_ENGINE_WAIT === 'ipc' && typeof process.send === 'function';
const envFlowRunId = process.env.DROVER_FLOW_RUN_ID;
if (!warm && !envFlowRunId) {
  process.stderr.write('drover-engine: DROVER_FLOW_RUN_ID is not set; a worker starts this program with the run to execute\n');
  process.exit(2);
}
const heartbeat = z.coerce
  .number()
  .min(0.1)
  .max(3600)
  .default(10)
  .safeParse(process.env.DROVER_RUN_HEARTBEAT_SECONDS || undefined);
if (!heartbeat.success) {
  process.stderr.write(
    `drover-engine: Invalid DROVER_RUN_HEARTBEAT_SECONDS "${process.env.DROVER_RUN_HEARTBEAT_SECONDS}": expected seconds between 0.1 and 3600\n`,
  );
  process.exit(2);
}
const echoToStdout = process.env.DROVER_LOG_ECHO === 'marked';
// The worker that reads our output may be gone (SIGKILLed, restarted): a write to the closed pipe
// must not kill a job that can still finish its run and report it to the server itself.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
const cancel = new AbortController();
/** A warm engine between runs has no run to cancel: a signal then just ends it. */
let waiting = warm;
const stop = (signal: string) => () => {
  if (waiting) process.exit(0);
  cancel.abort(new FlowCancelledError(`The job was stopped (${signal})`));
};
process.once('SIGTERM', stop('SIGTERM'));
process.once('SIGINT', stop('SIGINT'));

// This process exists to run a flow: a TypeScript entrypoint loads through tsx as the process's
// loader, sharing the SDK and zod already loaded (see useTypeScriptLoader).
void useTypeScriptLoader();
const client = getClient();
// Traced only when OTEL_EXPORTER_OTLP_ENDPOINT is set; the worker passes its job span as TRACEPARENT.
const tracing = await setupTracing('drover-engine').catch((error: Error) => {
  process.stderr.write(`drover-engine: tracing is off: ${error.message}\n`);
  return undefined;
});
let traceParent = process.env.TRACEPARENT || undefined;
/** Runs `fn` in a span named `name` under the job's span, when traced. */
async function traced<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const span = tracing?.startSpan(name, { parent: traceParent });
  try {
    return await fn();
  } catch (error) {
    span?.fail((error as Error).message);
    throw error;
  } finally {
    span?.end();
  }
}
/** Flows a reused warm engine has loaded, by deployment: the module cache it keeps between runs. */
const loadedFlows = new Map<string, { updated: string; flow: AnyFlow }>();
async function loadFlowOnce(deploymentId: string, updated: string, entrypoint: string, directory: string, reuse: boolean): Promise<AnyFlow> {
  const cached = loadedFlows.get(deploymentId);
  if (reuse && cached?.updated === updated) return cached.flow;
  const flow = await loadFlow(entrypoint, directory);
  if (reuse) loadedFlows.set(deploymentId, { updated, flow });
  return flow;
}

/**
 * Runs one flow run under its claim; the exit code the job ends with, or `stale` when a reused
 * warm engine holds older code than the run's deployment (it has then written nothing).
 */
async function runFlowRun(flowRunId: string, claimToken: string | undefined, handoff?: EngineHandoff): Promise<number | 'stale'> {
  try {
    const onWait = (error: Error) => process.stderr.write(`drover-engine: ${error.message}; retrying\n`);
    const run = await untilServerAnswers(() => client.flowRuns.read(flowRunId), { onWait });
    if (!run.deploymentId) throw new Error(`Flow run ${run.id} has no deployment, so there is no entrypoint to run`);
    const deploymentId = run.deploymentId;
    const deployment = await untilServerAnswers(() => client.deployments.read(deploymentId), { onWait });
    if (handoff?.reuse) {
      // A reused engine keeps the flow it loaded; code deployed since then needs a new process.
      const cached = loadedFlows.get(deploymentId);
      if (cached && cached.updated !== deployment.updated) return 'stale';
      reportToWorker({ type: 'accepted' });
    }
    const logs = runLogs(client, run.id, echoToStdout);
    let state: State;
    try {
      const directory = await traced('pull steps', () => runPullSteps(deployment.pullSteps, process.cwd(), logs.add));
      const flow = await traced('load flow', () =>
        loadFlowOnce(deploymentId, deployment.updated, deployment.entrypoint ?? '', directory, handoff?.reuse === true),
      );
      state = await executeFlowRun(client, run, flow, {
        cancel: cancel.signal,
        logs,
        claimToken,
        heartbeatIntervalMs: (heartbeat.data ?? 10) * 1000,
        traceParent,
      });
    } catch (error) {
      // Code that cannot be fetched or loaded is the run's failure, not the engine's: record it.
      const message = (error as Error).message;
      logs.add('error', message);
      await logs.flush();
      state = (await untilServerAnswers(() => client.flowRuns.setState({ flowRunId, state: { type: 'FAILED', message }, claimToken }), { onWait })).state;
    }
    return isTerminal(state.type) ? 0 : 1;
  } catch (error) {
    process.stderr.write(`drover-engine: ${(error as Error).message}\n`);
    return 1;
  }
}

/** Ends the job once what was written to stdout is out, even when the flow left timers or sockets open. */
async function exitWith(code: number): Promise<never> {
  process.exitCode = code;
  await tracing?.flush().catch(() => {});
  process.stdout.write('', () => process.exit());
  return new Promise<never>(() => {});
}

if (!warm) {
  // The run is over: end the job now, even when the flow left timers or sockets open, which would
  // keep the process (and the worker's slot) alive.
  await exitWith((await runFlowRun(envFlowRunId as string, process.env.DROVER_CLAIM_TOKEN || undefined)) as number);
}
await becomeWarm({ typescript: process.env.DROVER_ENGINE_PRELOAD === 'typescript', warmUp: () => client.health() });
let previousRunEnv: string[] = [];
for (;;) {
  const handoff = await nextHandoff();
  if (!handoff) process.exit(0); // the worker has gone before handing a run over
  waiting = false;
  // What a cold job has in its environment from the start, a warm one gets now: the run's own
  // variables (run id, trace parent) and its claim token, as the flow and its children read them.
  for (const name of previousRunEnv) delete process.env[name];
  Object.assign(process.env, handoff.env, handoff.claimToken ? { DROVER_CLAIM_TOKEN: handoff.claimToken } : {});
  previousRunEnv = [...Object.keys(handoff.env), 'DROVER_CLAIM_TOKEN'];
  traceParent = process.env.TRACEPARENT || undefined;
  const code = await runFlowRun(handoff.flowRunId, handoff.claimToken, handoff);
  if (code === 'stale') {
    reportToWorker({ type: 'stale' });
    await exitWith(0);
  }
  // A signalled engine (cancelled) and one whose worker has gone end with their run.
  if (!handoff.reuse || cancel.signal.aborted || !process.connected) await exitWith(code as number);
  await writeDoneMarker(handoff.doneMarker);
  waiting = true;
  reportToWorker({ type: 'done', exitCode: code as number });
}
