/**
 * The repository contract: every read and write the API and the background services make, and
 * nothing of how. The SQLite store (`SqliteStore`, below) is one implementation; the PostgreSQL
 * store (`PostgresStore`, postgresStore.ts) is the second, run by the same API-level test suite.
 * Every operation is async so a networked driver fits; the SQLite one does its work synchronously
 * inside each call.
 */
import type {
  ClaimDeploymentRunsInput,
  ClaimedFlowRun,
  ClaimRunsInput,
  Deployment,
  DeploymentCreate,
  DeploymentDeleted,
  DeploymentFilter,
  DeploymentRef,
  DeploymentScheduleCreate,
  DeploymentScheduleUpdate,
  DeploymentUpdate,
  DeploymentUpserted,
  Flow,
  FlowCreate,
  FlowRun,
  FlowRunCount,
  FlowRunCountFilter,
  FlowRunCreate,
  FlowRunDeleted,
  FlowRunFilter,
  LogBatch,
  LogQuery,
  LogRecord,
  LogsAppended,
  OrchestrationResult,
  PoolWorker,
  RunActivity,
  RunActivityQuery,
  RunHeartbeat,
  RunHeartbeatResult,
  SchedulePreview,
  SchedulePreviewInput,
  SetInfrastructureInput,
  SetStateInput,
  State,
  WorkerHeartbeat,
  WorkPool,
  WorkPoolCreate,
  WorkPoolDeleted,
  WorkPoolUpdate,
  WorkQueue,
  WorkQueueCreate,
  WorkQueueDeleted,
  WorkQueueRef,
  WorkQueueUpdate,
} from '@drover/schemas';
import type { Clock } from '../clock.js';
import { GroupCommit, type SqliteDb } from '../db/sqlite.js';
import type { ServerEvents } from '../events.js';
import { type AutoRun, futureAutoRuns, insertAutoRuns, type ScheduledDeployment, scheduledDeployments } from './autoRuns.js';
import { claimDeploymentRuns, claimRuns } from './claimRuns.js';
import {
  addSchedule,
  deleteDeployment,
  listDeployments,
  readDeployment,
  removeSchedule,
  setDeploymentPaused,
  updateDeployment,
  updateSchedule,
  upsertDeployment,
  upsertDeployments,
} from './deployments.js';
import {
  announceRunsAvailable,
  cancelFlowRun,
  countFlowRuns,
  createFlowRun,
  deleteFlowRun,
  heartbeatFlowRuns,
  listFlowRuns,
  readFlowRun,
  readStateHistory,
  retryFlowRun,
  setFlowRunState,
  setInfrastructure,
  waitForFlowRun,
} from './flowRuns.js';
import { createOrReadFlow, listFlows, readFlow } from './flows.js';
import { appendLogs, readLogs } from './logs.js';
import { runActivity } from './runActivity.js';
import { applyCatchup, crashSilentRuns, expireCancellations, markLateRuns } from './runMaintenance.js';
import { schedulePreview } from './schedulePreview.js';
import type { StoreContext, StoreSettings } from './storeContext.js';
import { heartbeat, listWorkers } from './workers.js';
import { createWorkPool, deleteWorkPool, listWorkPools, readWorkPool, updateWorkPool } from './workPools.js';
import { createWorkQueue, deleteWorkQueue, listWorkQueues, readWorkQueue, updateWorkQueue } from './workQueues.js';

export type { ActiveSchedule, AutoRun, ScheduledDeployment } from './autoRuns.js';

/** A page of a list: at most `limit` items after skipping `offset`. */
export interface PageInput {
  readonly limit: number;
  readonly offset: number;
}

export interface Store {
  /** Where every operation reads the time. */
  readonly clock: Clock;
  /** What the store tells long-polls and services (runs available, deployments changed, states). */
  readonly events: ServerEvents;
  readonly settings: StoreSettings;

  readonly flows: {
    createOrRead(input: FlowCreate): Promise<Flow>;
    read(idOrName: string): Promise<Flow>;
    list(page: PageInput): Promise<Flow[]>;
  };

  readonly deployments: {
    /** Creates `flowName/name`, or updates it in place, keeping schedule ids by slug or content. */
    upsert(input: DeploymentCreate): Promise<DeploymentUpserted>;
    /** Upserts every one in one transaction: all are saved, or none is. */
    upsertMany(inputs: readonly DeploymentCreate[]): Promise<DeploymentUpserted[]>;
    read(ref: DeploymentRef): Promise<Deployment>;
    list(filter: DeploymentFilter): Promise<Deployment[]>;
    update(ref: DeploymentRef, changes: DeploymentUpdate): Promise<Deployment>;
    setPaused(ref: DeploymentRef, paused: boolean): Promise<Deployment>;
    /** Deletes it and its not-yet-started scheduled runs. */
    delete(ref: DeploymentRef): Promise<DeploymentDeleted>;
    addSchedule(ref: DeploymentRef, schedule: DeploymentScheduleCreate): Promise<Deployment>;
    updateSchedule(ref: DeploymentRef, scheduleId: string, changes: DeploymentScheduleUpdate): Promise<Deployment>;
    removeSchedule(ref: DeploymentRef, scheduleId: string): Promise<Deployment>;
    schedulePreview(input: SchedulePreviewInput): Promise<SchedulePreview>;
    /** For runners: moves the due runs of these deployments to PENDING, waiting up to `waitMs` for one. */
    claimRuns(input: ClaimDeploymentRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]>;
  };

  readonly flowRuns: {
    create(input: FlowRunCreate): Promise<FlowRun>;
    read(id: string): Promise<FlowRun>;
    list(filter: FlowRunFilter): Promise<FlowRun[]>;
    count(filter: FlowRunCountFilter): Promise<FlowRunCount>;
    history(id: string): Promise<State[]>;
    /** Proposes a state; orchestration accepts, rejects or delays it. */
    setState(input: SetStateInput): Promise<OrchestrationResult>;
    cancel(id: string, message?: string): Promise<OrchestrationResult>;
    /** Runs a FAILED, CRASHED or CANCELLED run again: SCHEDULED (AwaitingRetry) now, history kept. */
    retry(id: string): Promise<OrchestrationResult>;
    delete(id: string): Promise<FlowRunDeleted>;
    /** Records where a run's job lives; only the holder of the run's claim may. */
    setInfrastructure(input: SetInfrastructureInput): Promise<FlowRun>;
    heartbeat(input: RunHeartbeat): Promise<RunHeartbeatResult>;
    /** Runs by state in each hour of a window (the dashboard's chart). */
    activity(query: RunActivityQuery): Promise<RunActivity>;
    /** Resolves when the run reaches a final state, or after `timeoutMs` with the run as it is. */
    wait(id: string, timeoutMs: number): Promise<FlowRun>;
    appendLogs(batch: LogBatch): Promise<LogsAppended>;
    logs(query: LogQuery): Promise<LogRecord[]>;
  };

  readonly workPools: {
    create(input: WorkPoolCreate): Promise<WorkPool>;
    read(name: string): Promise<WorkPool>;
    list(): Promise<WorkPool[]>;
    update(name: string, changes: WorkPoolUpdate): Promise<WorkPool>;
    delete(name: string): Promise<WorkPoolDeleted>;
    /** Moves due runs to PENDING for a worker, in queue-priority order within every limit. */
    claimRuns(input: ClaimRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]>;
  };

  readonly workQueues: {
    create(input: WorkQueueCreate): Promise<WorkQueue>;
    read(ref: WorkQueueRef): Promise<WorkQueue>;
    list(workPoolName: string): Promise<WorkQueue[]>;
    update(ref: WorkQueueRef, changes: WorkQueueUpdate): Promise<WorkQueue>;
    delete(ref: WorkQueueRef): Promise<WorkQueueDeleted>;
  };

  readonly workers: {
    heartbeat(input: WorkerHeartbeat): Promise<PoolWorker>;
    list(workPoolName: string): Promise<PoolWorker[]>;
  };

  /** The scheduler's reads and writes. */
  readonly scheduling: {
    /** Unpaused deployments with active schedules: a page in id order after `afterId`, or exactly `ids`. */
    scheduledDeployments(page: { afterId: string; limit: number } | { ids: readonly string[] }): Promise<ScheduledDeployment[]>;
    /** Per schedule: how many scheduler runs lie ahead of `now`, and the last one's time. */
    futureAutoRuns(scheduleIds: readonly string[], now: Date): Promise<Map<string, { count: number; last: string }>>;
    /** Inserts the runs whose keys do not exist yet, in one transaction, and wakes their workers; returns how many. */
    insertAutoRuns(runs: readonly AutoRun[], now: Date): Promise<number>;
  };

  /** What the health services do to runs that time has overtaken; each returns the ids it changed. */
  readonly maintenance: {
    markLateRuns(lateAfterMs: number): Promise<string[]>;
    applyCatchup(): Promise<string[]>;
    /** Runs silent for `heartbeatTimeoutMs`, counted from no earlier than `listeningSince` (when this server could first hear). */
    crashSilentRuns(heartbeatTimeoutMs: number, listeningSince: Date): Promise<string[]>;
    expireCancellations(graceMs: number): Promise<string[]>;
  };
}

/**
 * The SQLite store. It is also the `StoreContext` its operations take, so SQLite-only code
 * (migrations, checkpoints, the crash tests) reaches `db` through it.
 */
export class SqliteStore implements Store, StoreContext {
  readonly flows: Store['flows'];
  readonly deployments: Store['deployments'];
  readonly flowRuns: Store['flowRuns'];
  readonly workPools: Store['workPools'];
  readonly workQueues: Store['workQueues'];
  readonly workers: Store['workers'];
  readonly scheduling: Store['scheduling'];
  readonly maintenance: Store['maintenance'];
  readonly commits: GroupCommit;

  constructor(
    readonly db: SqliteDb,
    readonly clock: Clock,
    readonly events: ServerEvents,
    readonly settings: StoreSettings,
  ) {
    this.commits = new GroupCommit(db.$client);
    this.flows = {
      createOrRead: (input) => createOrReadFlow(this, input),
      read: (idOrName) => readFlow(this, idOrName),
      list: (page) => listFlows(this, page),
    };
    this.deployments = {
      upsert: (input) => upsertDeployment(this, input),
      upsertMany: (inputs) => upsertDeployments(this, inputs),
      read: (ref) => readDeployment(this, ref),
      list: (filter) => listDeployments(this, filter),
      update: (ref, changes) => updateDeployment(this, ref, changes),
      setPaused: (ref, paused) => setDeploymentPaused(this, ref, paused),
      delete: (ref) => deleteDeployment(this, ref),
      addSchedule: (ref, schedule) => addSchedule(this, ref, schedule),
      updateSchedule: (ref, scheduleId, changes) => updateSchedule(this, ref, scheduleId, changes),
      removeSchedule: (ref, scheduleId) => removeSchedule(this, ref, scheduleId),
      schedulePreview: (input) => schedulePreview(this, input),
      claimRuns: (input, signal) => claimDeploymentRuns(this, input, signal),
    };
    this.flowRuns = {
      create: (input) => createFlowRun(this, input),
      read: (id) => readFlowRun(this, id),
      list: (filter) => listFlowRuns(this, filter),
      count: (filter) => countFlowRuns(this, filter),
      history: (id) => readStateHistory(this, id),
      setState: (input) => setFlowRunState(this, input),
      cancel: (id, message) => cancelFlowRun(this, id, message),
      retry: (id) => retryFlowRun(this, id),
      delete: (id) => deleteFlowRun(this, id),
      setInfrastructure: (input) => setInfrastructure(this, input),
      heartbeat: (input) => heartbeatFlowRuns(this, input),
      activity: (query) => runActivity(this, query),
      wait: (id, timeoutMs) => waitForFlowRun(this, id, timeoutMs),
      appendLogs: (batch) => appendLogs(this, batch),
      logs: (query) => readLogs(this, query),
    };
    this.workPools = {
      create: (input) => createWorkPool(this, input),
      read: (name) => readWorkPool(this, name),
      list: () => listWorkPools(this),
      update: (name, changes) => updateWorkPool(this, name, changes),
      delete: (name) => deleteWorkPool(this, name),
      claimRuns: (input, signal) => claimRuns(this, input, signal),
    };
    this.workQueues = {
      create: (input) => createWorkQueue(this, input),
      read: (ref) => readWorkQueue(this, ref),
      list: (workPoolName) => listWorkQueues(this, workPoolName),
      update: (ref, changes) => updateWorkQueue(this, ref, changes),
      delete: (ref) => deleteWorkQueue(this, ref),
    };
    this.workers = {
      heartbeat: (input) => heartbeat(this, input),
      list: (workPoolName) => listWorkers(this, workPoolName),
    };
    this.scheduling = {
      scheduledDeployments: async (page) => scheduledDeployments(db, page),
      futureAutoRuns: async (scheduleIds, now) => futureAutoRuns(db, scheduleIds, now),
      insertAutoRuns: async (runs, now) => {
        if (runs.length === 0) return 0;
        const { inserted, channels } = db.transaction(() => insertAutoRuns(db, runs, now), { behavior: 'immediate' });
        announceRunsAvailable(this, channels);
        return inserted;
      },
    };
    this.maintenance = {
      markLateRuns: async (lateAfterMs) => markLateRuns(this, lateAfterMs),
      applyCatchup: async () => applyCatchup(this),
      crashSilentRuns: async (heartbeatTimeoutMs, listeningSince) => crashSilentRuns(this, heartbeatTimeoutMs, listeningSince),
      expireCancellations: async (graceMs) => expireCancellations(this, graceMs),
    };
  }
}
