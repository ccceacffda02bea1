/**
 * @drover/schemas: the one source of truth for every object Drover exchanges. The server
 * validates its API with these schemas, the client and worker parse with them, the CLI prints
 * from them and `drover.yaml` is read through them. Each schema has an inferred type of the same
 * name. Depends on zod alone and runs anywhere.
 *
 * @example
 * import { Schedule } from '@drover/schemas';
 * const schedule = Schedule.parse({ cron: '0 9 * * 1-5', timezone: 'Europe/London' });
 */
export { assertNever } from './assertNever.js';
export { CRON_MACROS, cronError, cronFields } from './cron.js';
export {
  CatchupPolicy,
  ConcurrencyOptions,
  Deployment,
  DeploymentCreate,
  DeploymentDeleted,
  DeploymentFilter,
  DeploymentImage,
  type DeploymentImageInput,
  DeploymentRef,
  DeploymentSchedule,
  DeploymentScheduleCreate,
  DeploymentScheduleUpdate,
  DeploymentUpdate,
  DeploymentUpserted,
  fillStepOutputs,
  GitCloneStep,
  MAX_SCHEDULED_RUNS,
  PULL_STEP_OUTPUTS,
  PullStep,
  PullSteps,
  SchedulePreview,
  SchedulePreviewInput,
} from './deployments.js';
export {
  ConflictError,
  DroverError,
  droverErrorOf,
  ERROR_CODES,
  ERROR_TABLE,
  type ErrorCode,
  type ErrorDetails,
  type ErrorFamily,
  InternalError,
  isDroverError,
  NotFoundError,
  RunError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from './errors.js';
export {
  ClaimedFlowRun,
  ClaimToken,
  FlowRun,
  FlowRunCount,
  FlowRunCountFilter,
  FlowRunCreate,
  FlowRunDeleted,
  FlowRunFilter,
  LogBatch,
  LogCreate,
  LogLevel,
  LogQuery,
  LogRecord,
  LogsAppended,
  OrchestrationResult,
  RunActivity,
  RunActivityBucket,
  RunActivityQuery,
  RunHeartbeat,
  RunHeartbeatResult,
  SetInfrastructureInput,
  SetStateInput,
} from './flowRuns.js';
export { Flow, FlowCreate } from './flows.js';
export { describeIssues, type Issue, toIssues } from './issues.js';
export { defaultBaseJobTemplate } from './jobTemplates.js';
export {
  DeploymentFullName,
  DeploymentName,
  FlowName,
  Id,
  JsonObject,
  MAX_JSON_OBJECT_BYTES,
  Page,
  ScheduleSlug,
  splitDeploymentName,
  Tag,
  Timestamp,
  WorkerName,
  WorkPoolName,
  WorkQueueName,
} from './names.js';
export { BuildStep, PROJECT_FILE, Project, ProjectDeployment, ProjectSchedule, toScheduleCreate } from './project.js';
export { MAX_RRULE_LENGTH, rruleError } from './rrule.js';
export { RUN_NAME_BUILTINS, RunNameTemplate, renderRunName, runNamePlaceholders, unknownRunNameKeys } from './runNames.js';
export {
  byScheduleKind,
  CronSchedule,
  IntervalSchedule,
  MAX_INTERVAL_SECONDS,
  MIN_INTERVAL_SECONDS,
  RRuleSchedule,
  Schedule,
  type ScheduleInput,
} from './schedules.js';
export { ServerHealth, ServerVersion } from './server.js';
export {
  ACTIVE_STATE_TYPES,
  defaultStateName,
  isTerminal,
  OrchestrationStatus,
  STATE_NAMES,
  State,
  StateProposal,
  StateType,
  TERMINAL_STATE_TYPES,
} from './states.js';
export { DateTimeInput, isTimezone, Timezone } from './timezone.js';
export {
  BaseJobTemplate,
  ClaimDeploymentRunsInput,
  ClaimRunsInput,
  PoolWorker,
  WorkerHeartbeat,
  WorkerStatus,
  WorkPool,
  WorkPoolCreate,
  WorkPoolDeleted,
  WorkPoolJobConfiguration,
  WorkPoolStatus,
  WorkPoolType,
  WorkPoolUpdate,
  WorkQueue,
  WorkQueueCreate,
  WorkQueueDeleted,
  WorkQueueRef,
  WorkQueueUpdate,
} from './workPools.js';
