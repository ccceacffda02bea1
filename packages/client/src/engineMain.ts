#!/usr/bin/env node
/**
 * The engine as a program: what a worker's job runs. It reads the run named by
 * DROVER_FLOW_RUN_ID from the server at DROVER_API_URL, loads its deployment's entrypoint from
 * the working directory, and runs it. Exit code 0 when the run reached a final state (even
 * FAILED: the server has the truth), 1 when the engine itself could not finish.
 */
import { isTerminal } from '@drover/schemas';
import { getClient } from './api.js';
import { executeFlowRun } from './engine.js';
import { loadFlow } from './loadFlow.js';

const flowRunId = process.env.DROVER_FLOW_RUN_ID;
if (!flowRunId) {
  process.stderr.write('drover-engine: DROVER_FLOW_RUN_ID is not set; a worker starts this program with the run to execute\n');
  process.exit(2);
}
const client = getClient();
try {
  const run = await client.flowRuns.read(flowRunId);
  if (!run.deploymentId) throw new Error(`Flow run ${run.id} has no deployment, so there is no entrypoint to run`);
  const deployment = await client.deployments.read(run.deploymentId);
  let state;
  try {
    const flow = await loadFlow(deployment.entrypoint ?? '', process.cwd());
    state = await executeFlowRun(client, run, flow);
  } catch (error) {
    // A flow that cannot load is the run's failure, not the engine's: record it and say so.
    const message = (error as Error).message;
    process.stderr.write(`${message}\n`);
    state = (await client.flowRuns.setState({ flowRunId, state: { type: 'FAILED', message } })).state;
  }
  process.exitCode = isTerminal(state.type) ? 0 : 1;
} catch (error) {
  process.stderr.write(`drover-engine: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
