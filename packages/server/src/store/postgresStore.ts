/**
 * The PostgreSQL store: the second implementation of the `Store` contract, for several servers on
 * one database. Its operations live in ./postgres/, one module per SQLite one, with the same
 * names; what differs is how they stay correct with many writers (row locks, `FOR UPDATE SKIP
 * LOCKED` claims, unique keys) and that their events reach every server (NOTIFY, see
 * postgres/postgresEvents.ts).
 */
import type { Clock } from '../clock.js';
import type { PgDb } from '../db/postgres.js';
import type { ServerEvents } from '../events.js';
import { futureAutoRuns, insertAutoRuns, scheduledDeployments } from './postgres/autoRuns.js';
import { claimDeploymentRuns, claimRuns } from './postgres/claimRuns.js';
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
} from './postgres/deployments.js';
import {
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
} from './postgres/flowRuns.js';
import { createOrReadFlow, listFlows, readFlow } from './postgres/flows.js';
import { appendLogs, readLogs } from './postgres/logs.js';
import type { PostgresContext } from './postgres/postgresContext.js';
import { RecentRuns } from './postgres/recentRuns.js';
import { runActivity } from './postgres/runActivity.js';
import { applyCatchup, crashSilentRuns, expireCancellations, markLateRuns } from './postgres/runMaintenance.js';
import { schedulePreview } from './postgres/schedulePreview.js';
import { heartbeat, listWorkers } from './postgres/workers.js';
import { createWorkPool, deleteWorkPool, listWorkPools, readWorkPool, updateWorkPool } from './postgres/workPools.js';
import { createWorkQueue, deleteWorkQueue, listWorkQueues, readWorkQueue, updateWorkQueue } from './postgres/workQueues.js';
import type { Store } from './store.js';
import type { StoreSettings } from './storeContext.js';

export class PostgresStore implements Store, PostgresContext {
  readonly flows: Store['flows'];
  readonly deployments: Store['deployments'];
  readonly flowRuns: Store['flowRuns'];
  readonly workPools: Store['workPools'];
  readonly workQueues: Store['workQueues'];
  readonly workers: Store['workers'];
  readonly scheduling: Store['scheduling'];
  readonly maintenance: Store['maintenance'];
  readonly recentRuns = new RecentRuns();

  constructor(
    readonly db: PgDb,
    readonly clock: Clock,
    readonly events: ServerEvents,
    readonly settings: StoreSettings,
  ) {
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
      scheduledDeployments: (page) => scheduledDeployments(db, page),
      futureAutoRuns: (scheduleIds, now) => futureAutoRuns(db, scheduleIds, now),
      insertAutoRuns: (runs, now) => insertAutoRuns(this, runs, now),
    };
    this.maintenance = {
      markLateRuns: (lateAfterMs) => markLateRuns(this, lateAfterMs),
      applyCatchup: () => applyCatchup(this),
      crashSilentRuns: (heartbeatTimeoutMs, listeningSince) => crashSilentRuns(this, heartbeatTimeoutMs, listeningSince),
      expireCancellations: (graceMs) => expireCancellations(this, graceMs),
    };
  }
}
