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
 */
import { isTerminal, type State } from '@drover/schemas';
import { z } from 'zod';
import { getClient } from './api.js';
import { executeFlowRun, FlowCancelledError } from './engine.js';
import { loadFlow } from './loadFlow.js';
import { runLogs } from './logShipper.js';
import { runPullSteps } from './pullSteps.js';
import { untilServerAnswers } from './serverRetry.js';

const flowRunId = process.env.DROVER_FLOW_RUN_ID;
if (!flowRunId) {
  process.stderr.write('drover-engine: DROVER_FLOW_RUN_ID is not set; a worker starts this program with the run to execute\n');
  process.exit(2);
}
const claimToken = process.env.DROVER_CLAIM_TOKEN || undefined;
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
const stop = (signal: string) => () => cancel.abort(new FlowCancelledError(`The job was stopped (${signal})`));
process.once('SIGTERM', stop('SIGTERM'));
process.once('SIGINT', stop('SIGINT'));

const client = getClient();
try {
  const onWait = (error: Error) => process.stderr.write(`drover-engine: ${error.message}; retrying\n`);
  const run = await untilServerAnswers(() => client.flowRuns.read(flowRunId), { onWait });
  if (!run.deploymentId) throw new Error(`Flow run ${run.id} has no deployment, so there is no entrypoint to run`);
  const deploymentId = run.deploymentId;
  const deployment = await untilServerAnswers(() => client.deployments.read(deploymentId), { onWait });
  const logs = runLogs(client, run.id, echoToStdout);
  let state: State;
  try {
    const directory = await runPullSteps(deployment.pullSteps, process.cwd(), logs.add);
    const flow = await loadFlow(deployment.entrypoint ?? '', directory);
    state = await executeFlowRun(client, run, flow, { cancel: cancel.signal, logs, claimToken, heartbeatIntervalMs: heartbeat.data * 1000 });
  } catch (error) {
    // Code that cannot be fetched or loaded is the run's failure, not the engine's: record it.
    const message = (error as Error).message;
    logs.add('error', message);
    await logs.flush();
    state = (await untilServerAnswers(() => client.flowRuns.setState({ flowRunId, state: { type: 'FAILED', message }, claimToken }), { onWait })).state;
  }
  process.exitCode = isTerminal(state.type) ? 0 : 1;
} catch (error) {
  process.stderr.write(`drover-engine: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
// The run is over: end the job now, even when the flow left timers or sockets open, which would
// keep the process (and the worker's slot) alive. Exit once what was written to stdout is out.
process.stdout.write('', () => process.exit());
