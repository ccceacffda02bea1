/**
 * The PostgreSQL tables: the same tables, columns, keys and indexes as schema.ts (SQLite), so one
 * store logic and one row mapping (store/rows.ts) serve both; `postgres.test.ts` fails when the two
 * drift apart.
 *
 * Chosen per type:
 * - Timestamps stay ISO-8601 UTC text (`toISOString()`), as in SQLite, in the "C" collation: the
 *   same strings in both stores, and byte order is time order (with a locale's collation the order
 *   would still hold for this fixed shape, but comparisons cost more and an index would serve only
 *   that collation). `timestamptz` would make every read and write convert.
 * - JSON objects are `json`, which keeps the text as written: `jsonb` reorders an object's keys
 *   (shorter first), so parameters, schemas and job templates would come back in another order
 *   than SQLite gives and than the user wrote. Tag lists are `jsonb`, for `@>` (containment) in
 *   filters; an array keeps its order in both. Booleans are `boolean`; the integer keys of states
 *   and logs are 64-bit identities (a busy server writes billions of log lines over its life).
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, index, integer, jsonb, json as jsonText, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';

/** An ISO-8601 UTC timestamp compared byte by byte. */
const isoTime = customType<{ data: string; driverData: string }>({ dataType: () => 'text COLLATE "C"' });
const json = <T>(name: string) => jsonText(name).$type<T>().notNull();
const tagList = (name: string) => jsonb(name).$type<string[]>().notNull();
const created = () => isoTime('created').notNull();
const serial = () => bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity();

export const flows = pgTable('flows', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  tags: tagList('tags'),
  created: created(),
});

export const workPools = pgTable('work_pools', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  type: text('type', { enum: ['process', 'docker', 'kubernetes'] }).notNull(),
  description: text('description'),
  isPaused: boolean('is_paused').notNull(),
  concurrencyLimit: integer('concurrency_limit'),
  defaultQueueId: text('default_queue_id').notNull(),
  baseJobTemplate: json<{ jobConfiguration: Record<string, unknown>; variables: Record<string, unknown> }>('base_job_template'),
  created: created(),
  updated: isoTime('updated').notNull(),
});

export const workQueues = pgTable(
  'work_queues',
  {
    id: text('id').primaryKey(),
    workPoolId: text('work_pool_id')
      .notNull()
      .references(() => workPools.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    isPaused: boolean('is_paused').notNull(),
    concurrencyLimit: integer('concurrency_limit'),
    priority: integer('priority').notNull(),
    lastPolled: isoTime('last_polled'),
    created: created(),
  },
  (t) => [uniqueIndex('work_queues_pool_name').on(t.workPoolId, t.name)],
);

export const workers = pgTable(
  'workers',
  {
    id: text('id').primaryKey(),
    workPoolId: text('work_pool_id')
      .notNull()
      .references(() => workPools.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    lastHeartbeat: isoTime('last_heartbeat').notNull(),
    heartbeatIntervalSeconds: integer('heartbeat_interval_seconds').notNull(),
    created: created(),
  },
  (t) => [uniqueIndex('workers_pool_name').on(t.workPoolId, t.name)],
);

export const deployments = pgTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    flowId: text('flow_id')
      .notNull()
      .references(() => flows.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    entrypoint: text('entrypoint'),
    parameters: json<Record<string, unknown>>('parameters'),
    parameterSchema: jsonText('parameter_schema').$type<Record<string, unknown>>(),
    enforceParameterSchema: boolean('enforce_parameter_schema').notNull(),
    tags: tagList('tags'),
    description: text('description'),
    version: text('version'),
    workQueueId: text('work_queue_id').references(() => workQueues.id, { onDelete: 'set null' }),
    jobVariables: json<Record<string, unknown>>('job_variables'),
    concurrencyLimit: integer('concurrency_limit'),
    collisionStrategy: text('collision_strategy', { enum: ['ENQUEUE', 'CANCEL_NEW'] }).notNull(),
    pullSteps: json<unknown[]>('pull_steps'),
    flowRunName: text('flow_run_name'),
    paused: boolean('paused').notNull(),
    lastPolled: isoTime('last_polled'),
    created: created(),
    updated: isoTime('updated').notNull(),
  },
  (t) => [uniqueIndex('deployments_flow_name').on(t.flowId, t.name), index('deployments_work_queue').on(t.workQueueId)],
);

export const deploymentSchedules = pgTable(
  'deployment_schedules',
  {
    id: text('id').primaryKey(),
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    schedule: json<Record<string, unknown>>('schedule'),
    active: boolean('active').notNull(),
    slug: text('slug'),
    parameters: json<Record<string, unknown>>('parameters'),
    maxScheduledRuns: integer('max_scheduled_runs'),
    catchup: text('catchup', { enum: ['all', 'latest', 'none'] }).notNull(),
    maxLateSeconds: integer('max_late_seconds'),
    created: created(),
    updated: isoTime('updated').notNull(),
  },
  (t) => [
    index('deployment_schedules_deployment').on(t.deploymentId),
    uniqueIndex('deployment_schedules_slug').on(t.deploymentId, t.slug).where(sql`slug IS NOT NULL`),
  ],
);

export const flowRuns = pgTable(
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
    stateTimestamp: isoTime('state_timestamp').notNull(),
    stateMessage: text('state_message'),
    nextScheduledStartTime: isoTime('next_scheduled_start_time'),
    expectedStartTime: isoTime('expected_start_time').notNull(),
    startTime: isoTime('start_time'),
    endTime: isoTime('end_time'),
    runCount: integer('run_count').notNull(),
    retries: integer('retries'),
    retryDelaySeconds: integer('retry_delay_seconds'),
    retryInProcess: boolean('retry_in_process').notNull(),
    parameters: json<Record<string, unknown>>('parameters'),
    tags: tagList('tags'),
    idempotencyKey: text('idempotency_key'),
    jobVariables: json<Record<string, unknown>>('job_variables'),
    autoScheduled: boolean('auto_scheduled').notNull(),
    parentFlowRunId: text('parent_flow_run_id'),
    scheduleId: text('schedule_id'),
    workerName: text('worker_name'),
    claimHash: text('claim_hash'),
    infrastructureId: text('infrastructure_id'),
    lastHeartbeat: isoTime('last_heartbeat'),
    traceContext: text('trace_context'),
    result: jsonText('result'),
    created: created(),
    updated: isoTime('updated').notNull(),
  },
  (t) => [
    uniqueIndex('flow_runs_idempotency').on(t.flowId, t.idempotencyKey),
    // Claims read due runs in (due time, id) order under FOR UPDATE, which keeps the planner from a
    // top-N sort: without `id` in these indexes each claim sorted every due run of its queue.
    index('flow_runs_claim').on(t.workQueueId, t.stateType, t.nextScheduledStartTime, t.id),
    index('flow_runs_deployment_state').on(t.deploymentId, t.stateType, t.nextScheduledStartTime, t.id),
    index('flow_runs_deployment_expected').on(t.deploymentId, t.expectedStartTime),
    index('flow_runs_flow_expected').on(t.flowId, t.expectedStartTime),
    index('flow_runs_schedule_state').on(t.scheduleId, t.stateType, t.nextScheduledStartTime),
    index('flow_runs_state_expected').on(t.stateType, t.expectedStartTime),
    index('flow_runs_expected').on(t.expectedStartTime),
    index('flow_runs_parent').on(t.parentFlowRunId),
  ],
);

export const flowRunStates = pgTable(
  'flow_run_states',
  {
    id: serial(),
    flowRunId: text('flow_run_id')
      .notNull()
      .references(() => flowRuns.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    name: text('name').notNull(),
    timestamp: isoTime('timestamp').notNull(),
    message: text('message'),
    scheduledTime: isoTime('scheduled_time'),
  },
  (t) => [index('flow_run_states_run').on(t.flowRunId)],
);

export const logs = pgTable(
  'logs',
  {
    id: serial(),
    flowRunId: text('flow_run_id')
      .notNull()
      .references(() => flowRuns.id, { onDelete: 'cascade' }),
    timestamp: isoTime('timestamp').notNull(),
    level: text('level', { enum: ['debug', 'info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('logs_run').on(t.flowRunId, t.id)],
);
