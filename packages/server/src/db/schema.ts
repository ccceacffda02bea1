/**
 * The SQLite tables. Timestamps are ISO-8601 UTC strings (`toISOString()`), which sort as text and
 * read the same in every dialect; JSON columns hold objects the schemas package validates.
 */
import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const json = <T>(name: string) => text(name, { mode: 'json' }).$type<T>().notNull();
const bool = (name: string) => integer(name, { mode: 'boolean' }).notNull();
const created = () => text('created').notNull();

export const flows = sqliteTable('flows', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  tags: json<string[]>('tags'),
  created: created(),
});

export const workPools = sqliteTable('work_pools', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  type: text('type', { enum: ['process', 'docker', 'kubernetes'] }).notNull(),
  description: text('description'),
  isPaused: bool('is_paused'),
  concurrencyLimit: integer('concurrency_limit'),
  defaultQueueId: text('default_queue_id').notNull(),
  baseJobTemplate: json<{ jobConfiguration: Record<string, unknown>; variables: Record<string, unknown> }>('base_job_template'),
  created: created(),
  updated: text('updated').notNull(),
});

export const workQueues = sqliteTable(
  'work_queues',
  {
    id: text('id').primaryKey(),
    workPoolId: text('work_pool_id')
      .notNull()
      .references(() => workPools.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    isPaused: bool('is_paused'),
    concurrencyLimit: integer('concurrency_limit'),
    priority: integer('priority').notNull(),
    lastPolled: text('last_polled'),
    created: created(),
  },
  (t) => [uniqueIndex('work_queues_pool_name').on(t.workPoolId, t.name)],
);

export const workers = sqliteTable(
  'workers',
  {
    id: text('id').primaryKey(),
    workPoolId: text('work_pool_id')
      .notNull()
      .references(() => workPools.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    lastHeartbeat: text('last_heartbeat').notNull(),
    heartbeatIntervalSeconds: integer('heartbeat_interval_seconds').notNull(),
    created: created(),
  },
  (t) => [uniqueIndex('workers_pool_name').on(t.workPoolId, t.name)],
);

export const deployments = sqliteTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    flowId: text('flow_id')
      .notNull()
      .references(() => flows.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    entrypoint: text('entrypoint'),
    parameters: json<Record<string, unknown>>('parameters'),
    parameterSchema: text('parameter_schema', { mode: 'json' }).$type<Record<string, unknown>>(),
    enforceParameterSchema: bool('enforce_parameter_schema'),
    tags: json<string[]>('tags'),
    description: text('description'),
    version: text('version'),
    workQueueId: text('work_queue_id').references(() => workQueues.id, { onDelete: 'set null' }),
    jobVariables: json<Record<string, unknown>>('job_variables'),
    concurrencyLimit: integer('concurrency_limit'),
    collisionStrategy: text('collision_strategy', { enum: ['ENQUEUE', 'CANCEL_NEW'] }).notNull(),
    pullSteps: json<unknown[]>('pull_steps'),
    /** A template for its runs' names (see `renderRunName` in @drover/schemas); null for generated names. */
    flowRunName: text('flow_run_name'),
    paused: bool('paused'),
    /** When a runner (`serve()`) last polled for this deployment's runs; workers' polls are on the queue. */
    lastPolled: text('last_polled'),
    created: created(),
    updated: text('updated').notNull(),
  },
  (t) => [uniqueIndex('deployments_flow_name').on(t.flowId, t.name), index('deployments_work_queue').on(t.workQueueId)],
);

export const deploymentSchedules = sqliteTable(
  'deployment_schedules',
  {
    id: text('id').primaryKey(),
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    /** Order within the deployment, as given. */
    position: integer('position').notNull(),
    schedule: json<Record<string, unknown>>('schedule'),
    active: bool('active'),
    slug: text('slug'),
    parameters: json<Record<string, unknown>>('parameters'),
    maxScheduledRuns: integer('max_scheduled_runs'),
    catchup: text('catchup', { enum: ['all', 'latest', 'none'] }).notNull(),
    maxLateSeconds: integer('max_late_seconds'),
    created: created(),
    updated: text('updated').notNull(),
  },
  (t) => [
    index('deployment_schedules_deployment').on(t.deploymentId),
    uniqueIndex('deployment_schedules_slug').on(t.deploymentId, t.slug).where(sql`slug IS NOT NULL`),
  ],
);

export const flowRuns = sqliteTable(
  'flow_runs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    flowId: text('flow_id')
      .notNull()
      .references(() => flows.id, { onDelete: 'cascade' }),
    deploymentId: text('deployment_id').references(() => deployments.id, { onDelete: 'set null' }),
    workQueueId: text('work_queue_id').references(() => workQueues.id, { onDelete: 'set null' }),
    stateType: text('state_type', {
      enum: ['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLING', 'CANCELLED', 'CRASHED', 'PAUSED'],
    }).notNull(),
    stateName: text('state_name').notNull(),
    stateTimestamp: text('state_timestamp').notNull(),
    stateMessage: text('state_message'),
    /** The current SCHEDULED state's due time; null in every other state. */
    nextScheduledStartTime: text('next_scheduled_start_time'),
    expectedStartTime: text('expected_start_time').notNull(),
    startTime: text('start_time'),
    endTime: text('end_time'),
    runCount: integer('run_count').notNull(),
    retries: integer('retries'),
    retryDelaySeconds: integer('retry_delay_seconds'),
    /** An AwaitingRetry the engine will run itself (in its process): workers must not claim it. */
    retryInProcess: bool('retry_in_process'),
    parameters: json<Record<string, unknown>>('parameters'),
    tags: json<string[]>('tags'),
    idempotencyKey: text('idempotency_key'),
    jobVariables: json<Record<string, unknown>>('job_variables'),
    autoScheduled: bool('auto_scheduled'),
    /** The run that started this one (a subflow); cancelling the parent cancels its children. */
    parentFlowRunId: text('parent_flow_run_id'),
    scheduleId: text('schedule_id'),
    workerName: text('worker_name'),
    /**
     * SHA-256 of the current claim's token (the token itself is only ever in the claimer's hands):
     * set when a claim takes the run, cleared when the run is offered again.
     */
    claimHash: text('claim_hash'),
    infrastructureId: text('infrastructure_id'),
    lastHeartbeat: text('last_heartbeat'),
    /**
     * The W3C `traceparent` of the span that triggered the run (set only when the trigger or the
     * server traces with OpenTelemetry): workers and jobs parent their spans to it, so a run's
     * claim, job and flow, and the child runs it starts, share one trace.
     */
    traceContext: text('trace_context'),
    result: text('result', { mode: 'json' }),
    created: created(),
    updated: text('updated').notNull(),
  },
  (t) => [
    uniqueIndex('flow_runs_idempotency').on(t.flowId, t.idempotencyKey),
    index('flow_runs_claim').on(t.workQueueId, t.stateType, t.nextScheduledStartTime),
    index('flow_runs_deployment_state').on(t.deploymentId, t.stateType),
    // A deployment's or a flow's runs newest first (the UI's run lists, filtered by either).
    index('flow_runs_deployment_expected').on(t.deploymentId, t.expectedStartTime),
    index('flow_runs_flow_expected').on(t.flowId, t.expectedStartTime),
    index('flow_runs_schedule_state').on(t.scheduleId, t.stateType, t.nextScheduledStartTime),
    index('flow_runs_state_expected').on(t.stateType, t.expectedStartTime),
    index('flow_runs_expected').on(t.expectedStartTime),
    index('flow_runs_parent').on(t.parentFlowRunId),
  ],
);

export const flowRunStates = sqliteTable(
  'flow_run_states',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    flowRunId: text('flow_run_id')
      .notNull()
      .references(() => flowRuns.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    name: text('name').notNull(),
    timestamp: text('timestamp').notNull(),
    message: text('message'),
    scheduledTime: text('scheduled_time'),
  },
  (t) => [index('flow_run_states_run').on(t.flowRunId)],
);

export const logs = sqliteTable(
  'logs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    flowRunId: text('flow_run_id')
      .notNull()
      .references(() => flowRuns.id, { onDelete: 'cascade' }),
    timestamp: text('timestamp').notNull(),
    level: text('level', { enum: ['debug', 'info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('logs_run').on(t.flowRunId, t.id)],
);
