/**
 * Row → schema mappers. The `satisfies` clauses tie each mapper to its table row and its schema:
 * a column or field added on one side and not the other fails the typecheck.
 */
import type { Deployment, DeploymentSchedule, Flow, FlowRun, PoolWorker, Schedule, State, WorkPool, WorkPoolStatus, WorkQueue } from '@drover/schemas';
import type { deploymentSchedules, deployments, flowRuns, flows, workers, workPools, workQueues } from '../db/schema.js';

type Row<T extends { $inferSelect: unknown }> = T['$inferSelect'];

export function toFlow(row: Row<typeof flows>): Flow {
  return { id: row.id, name: row.name, tags: row.tags, created: row.created } satisfies Flow;
}

function toSchedule(row: Row<typeof deploymentSchedules>): DeploymentSchedule {
  return {
    id: row.id,
    schedule: row.schedule as Schedule,
    active: row.active,
    slug: row.slug,
    parameters: row.parameters,
    maxScheduledRuns: row.maxScheduledRuns,
    catchup: row.catchup,
    maxLateSeconds: row.maxLateSeconds,
  } satisfies DeploymentSchedule;
}

export interface DeploymentNames {
  readonly flowName: string;
  readonly workPoolName: string | null;
  readonly workQueueName: string | null;
}

export function toDeployment(
  row: Row<typeof deployments>,
  names: DeploymentNames,
  schedules: readonly Row<typeof deploymentSchedules>[],
  readiness: Pick<Deployment, 'status' | 'statusReason' | 'lastPolled'>,
): Deployment {
  return {
    id: row.id,
    name: row.name,
    flowId: row.flowId,
    flowName: names.flowName,
    entrypoint: row.entrypoint,
    schedules: schedules.map(toSchedule),
    parameters: row.parameters,
    parameterSchema: row.parameterSchema,
    enforceParameterSchema: row.enforceParameterSchema,
    tags: row.tags,
    description: row.description,
    version: row.version,
    workPoolName: names.workPoolName,
    workQueueName: names.workQueueName,
    jobVariables: row.jobVariables,
    concurrencyLimit: row.concurrencyLimit,
    concurrencyOptions: { collisionStrategy: row.collisionStrategy },
    pullSteps: row.pullSteps as Deployment['pullSteps'],
    flowRunName: row.flowRunName,
    paused: row.paused,
    status: readiness.status,
    statusReason: readiness.statusReason,
    lastPolled: readiness.lastPolled,
    created: row.created,
    updated: row.updated,
  } satisfies Deployment;
}

/** A run row joined with the names the API shows beside the ids. */
export type FlowRunRow = Row<typeof flowRuns> & {
  flowName: string;
  deploymentName: string | null;
  workQueueName: string | null;
  workPoolName: string | null;
};

/** The columns of a run row that hold its current state. */
export type RunStateColumns = Pick<Row<typeof flowRuns>, 'stateType' | 'stateName' | 'stateTimestamp' | 'stateMessage' | 'nextScheduledStartTime'>;

export function toState(row: RunStateColumns): State {
  return {
    type: row.stateType,
    name: row.stateName,
    timestamp: row.stateTimestamp,
    message: row.stateMessage,
    scheduledTime: row.stateType === 'SCHEDULED' ? row.nextScheduledStartTime : null,
  } satisfies State;
}

export function toFlowRun(row: FlowRunRow): FlowRun {
  return {
    id: row.id,
    name: row.name,
    flowId: row.flowId,
    flowName: row.flowName,
    deploymentId: row.deploymentId,
    deploymentName: row.deploymentName,
    state: toState(row),
    parameters: row.parameters,
    tags: row.tags,
    idempotencyKey: row.idempotencyKey,
    workPoolName: row.workPoolName,
    workQueueName: row.workQueueName,
    jobVariables: row.jobVariables,
    expectedStartTime: row.expectedStartTime,
    nextScheduledStartTime: row.nextScheduledStartTime,
    startTime: row.startTime,
    endTime: row.endTime,
    runCount: row.runCount,
    retries: row.retries,
    retryDelaySeconds: row.retryDelaySeconds,
    parentFlowRunId: row.parentFlowRunId,
    autoScheduled: row.autoScheduled,
    scheduleId: row.scheduleId,
    workerName: row.workerName,
    infrastructureId: row.infrastructureId,
    lastHeartbeat: row.lastHeartbeat,
    result: (row.result ?? null) as FlowRun['result'],
    // Only when traced, so the runs of a server that does not trace read exactly as before.
    ...(row.traceContext ? { traceContext: row.traceContext } : {}),
    created: row.created,
    updated: row.updated,
  } satisfies FlowRun;
}

export function toWorkPool(row: Row<typeof workPools>, status: WorkPoolStatus): WorkPool {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    isPaused: row.isPaused,
    concurrencyLimit: row.concurrencyLimit,
    defaultQueueId: row.defaultQueueId,
    baseJobTemplate: row.baseJobTemplate as WorkPool['baseJobTemplate'],
    status,
    created: row.created,
    updated: row.updated,
  } satisfies WorkPool;
}

export function toWorkQueue(row: Row<typeof workQueues>, workPoolName: string, readiness: Pick<WorkQueue, 'status' | 'statusReason'>): WorkQueue {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    isPaused: row.isPaused,
    concurrencyLimit: row.concurrencyLimit,
    priority: row.priority,
    workPoolId: row.workPoolId,
    workPoolName,
    lastPolled: row.lastPolled,
    status: readiness.status,
    statusReason: readiness.statusReason,
    created: row.created,
  } satisfies WorkQueue;
}

/** A worker is ONLINE until it misses `missedHeartbeats` beats in a row. */
export function toPoolWorker(row: Row<typeof workers>, workPoolName: string, now: Date, missedHeartbeats: number): PoolWorker {
  return {
    id: row.id,
    name: row.name,
    workPoolName,
    status: isOnline(row, now, missedHeartbeats) ? 'ONLINE' : 'OFFLINE',
    lastHeartbeat: row.lastHeartbeat,
    heartbeatIntervalSeconds: row.heartbeatIntervalSeconds,
    created: row.created,
  } satisfies PoolWorker;
}

export function isOnline(row: Pick<Row<typeof workers>, 'lastHeartbeat' | 'heartbeatIntervalSeconds'>, now: Date, missedHeartbeats: number): boolean {
  return now.getTime() - Date.parse(row.lastHeartbeat) <= row.heartbeatIntervalSeconds * missedHeartbeats * 1000;
}
