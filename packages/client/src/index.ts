/**
 * @drover/client: what flow authors and callers import. Define flows with `flow()`, deploy them
 * to a work pool with `deploy()` or serve them from this process with `serve()`, trigger them
 * with `runDeployment()`, and manage everything through the typed `getClient()`. Its types come
 * from @drover/schemas only: installing it never installs the server or a database driver.
 *
 * @example
 * import { deploy, flow, runDeployment } from '@drover/client';
 * import { z } from 'zod';
 *
 * export const etl = flow({ name: 'etl', parameters: z.object({ date: z.string() }) }, async ({ date }, ctx) => {
 *   ctx.logger.info(`loading ${date}`);
 *   return { rows: 42 };
 * });
 * await deploy(etl, { workPoolName: 'local', schedule: { cron: '0 2 * * *', timezone: 'Europe/London' } });
 * const run = await runDeployment('etl/etl', { parameters: { date: '2026-01-01' }, timeout: 600 });
 */
import { flow as defineFlow } from './flow.js';
import { fromSource } from './fromSource.js';

export type { Deployment, DeploymentImage, FlowRun, State, WorkPoolJobConfiguration } from '@drover/schemas';
// Every error a call can throw, by family, so SDK users catch them without importing @drover/schemas.
export {
  ConflictError,
  DroverError,
  type ErrorCode,
  InternalError,
  isDroverError,
  NotFoundError,
  RunError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '@drover/schemas';
export { type ClientOptions, DroverClient, getClient } from './api.js';
export {
  buildAndPushImage,
  type DeployedDeployment,
  type DeploymentOptions,
  type DeployOptions,
  deploy,
  docker,
  findProjectRoot,
  imageRef,
  RunnerDeployment,
  type ScheduleSpec,
  toScheduleCreate,
} from './deployments.js';
export { type EngineOptions, executeFlowRun, FlowCancelledError, FlowClaimLostError } from './engine.js';
export { ChildRunFailedError, RunWaitTimeoutError, ServerUnreachableError, toSdkError } from './errors.js';
export { type AnyFlow, type Flow, type FlowOptions, type FlowParameters, FlowTimeoutError, isFlow, type SourcePosition } from './flow.js';
export type { FlowSource } from './fromSource.js';

/**
 * `flow(options, fn)` defines a flow; `flow.fromSource(source, entrypoint, options)` makes a
 * deployment of one that lives in a git repository, as Prefect's `flow.from_source`.
 */
export const flow = Object.assign(defineFlow, { fromSource });
export { type FlowContext, type FlowLogger, LOG_MARKER, type LogOutput, parseMarkedLine } from './flowContext.js';
export { importModule, isTypeScript, loadFlow, parseEntrypoint } from './loadFlow.js';
export { LogShipper, runLogs } from './logShipper.js';
export { createWorkQueue, deleteDeployment, getDeployment, getWorkPool, updateDeployment } from './management.js';
export { type InitializeProjectOptions, initializeProject, projectFor, RECIPES, type Recipe } from './project.js';
export { runPullSteps } from './pullSteps.js';
export { type RunDeploymentOptions, runDeployment } from './runDeployment.js';
export { Runner, SERVE_DEFAULTS, type ServeOptions, type ServiceState, serve } from './runner.js';
export { backoffDelayMs } from './serverRetry.js';
export { apiSettings, DEFAULT_API_URL, droverHome, Profile, type ProfileKey, profilePath, readProfile } from './settings.js';
export { setupTracing, type TraceSpan, type Tracing } from './tracing.js';
