import { createHash, randomFillSync } from 'node:crypto';
import {
  ACTIVE_STATE_TYPES,
  type ClaimedFlowRun,
  droverErrorOf,
  type FlowRun,
  type FlowRunCount,
  FlowRunCountFilter,
  FlowRunCreate,
  type FlowRunDeleted,
  FlowRunFilter,
  isTerminal,
  type OrchestrationResult,
  RunHeartbeat,
  type RunHeartbeatResult,
  renderRunName,
  SetInfrastructureInput,
  SetStateInput,
  STATE_NAMES,
  type State,
  type StateType,
  splitDeploymentName,
} from '@drover/schemas';
import { and, asc, count, desc, eq, getTableColumns, gte, inArray, lte, or, type SQL, sql } from 'drizzle-orm';
import { alias, type SQLiteUpdateSetSource } from 'drizzle-orm/sqlite-core';
import { canonicalJson } from '../canonicalJson.js';
import { deployments, flowRunStates, flowRuns, flows, workPools, workQueues } from '../db/schema.js';
import { type Executor, placeholders, preparedStatements, type SqliteDb } from '../db/sqlite.js';
import { deploymentChannel, queueChannel } from '../events.js';
import { runName, uuidv7 } from '../ids.js';
import { type DeploymentSlots, holdsSlot, type NewState, orchestrate, type Proposal } from '../orchestration.js';
import { assertJobVariables, assertParameters } from '../parameters.js';
import { runTraceContext } from '../tracing.js';
import { requireDeployment } from './deployments.js';
import { type FlowRunRow, toFlowRun, toState } from './rows.js';
import { inJsonArray, jsonArrayContainsAll } from './sqlDialect.js';
import type { StoreContext } from './storeContext.js';

type RunRow = typeof flowRuns.$inferSelect;
type RunNames = { flowName: string; workQueueName: string | null; workPoolId: string | null; workPoolName: string | null };

const runQueue = alias(workQueues, 'run_queue');

/** Runs with the names the API shows beside their ids. */
function selectRuns(db: Executor) {
  return db
    .select({
      run: flowRuns,
      flowName: flows.name,
      deploymentName: deployments.name,
      workQueueName: runQueue.name,
      workPoolName: workPools.name,
    })
    .from(flowRuns)
    .innerJoin(flows, eq(flows.id, flowRuns.flowId))
    .leftJoin(deployments, eq(deployments.id, flowRuns.deploymentId))
    .leftJoin(runQueue, eq(runQueue.id, flowRuns.workQueueId))
    .leftJoin(workPools, eq(workPools.id, runQueue.workPoolId));
}

type SelectedRun = { run: RunRow; flowName: string; deploymentName: string | null; workQueueName: string | null; workPoolName: string | null };
const flatten = (r: SelectedRun): FlowRunRow => ({
  ...r.run,
  flowName: r.flowName,
  deploymentName: r.deploymentName,
  workQueueName: r.workQueueName,
  workPoolName: r.workPoolName,
});

/** The columns a new run's insert writes: all but `result`, which starts NULL (see `placeholders`). */
export const NEW_RUN_COLUMNS = (Object.keys(getTableColumns(flowRuns)) as (keyof RunRow)[]).filter((key) => key !== 'result') as Exclude<
  keyof RunRow,
  'result'
>[];

/**
 * Runs that hold a concurrency slot: PENDING, RUNNING or CANCELLING, and those waiting in their
 * engine's process for a retry (AwaitingRetry in process), whose job is still alive and will run
 * again without asking for a slot. Every limit (pool, queue, deployment) counts these.
 */
export const holdsSlotSql = or(
  inArray(flowRuns.stateType, [...ACTIVE_STATE_TYPES]),
  and(eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.retryInProcess, true)),
) as SQL;

/** The statements of the hot paths (create, state changes, claims), prepared once per database. */
const statements = preparedStatements((db: SqliteDb) => ({
  runsByIds: selectRuns(db).where(inJsonArray(flowRuns.id, 'ids')).prepare(),
  /** One run: the common case (a create, a read) without json_each's cost. */
  runByIdWithNames: selectRuns(db)
    .where(eq(flowRuns.id, sql.placeholder('id')))
    .prepare(),
  runById: db
    .select()
    .from(flowRuns)
    .where(eq(flowRuns.id, sql.placeholder('id')))
    .prepare(),
  deploymentById: db
    .select()
    .from(deployments)
    .where(eq(deployments.id, sql.placeholder('id')))
    .prepare(),
  deploymentByName: db
    .select({ d: deployments })
    .from(deployments)
    .innerJoin(flows, eq(flows.id, deployments.flowId))
    .where(and(eq(flows.name, sql.placeholder('flowName')), eq(deployments.name, sql.placeholder('deploymentName'))))
    .prepare(),
  runByIdempotencyKey: db
    .select()
    .from(flowRuns)
    .where(and(eq(flowRuns.flowId, sql.placeholder('flowId')), eq(flowRuns.idempotencyKey, sql.placeholder('key'))))
    .prepare(),
  activeRunsOfDeployment: db
    .select({ n: count() })
    .from(flowRuns)
    .where(and(eq(flowRuns.deploymentId, sql.placeholder('id')), holdsSlotSql))
    .prepare(),
  poolsOfQueues: db.select({ queue: workQueues.id, pool: workQueues.workPoolId }).from(workQueues).where(inJsonArray(workQueues.id, 'ids')).prepare(),
  poolOfQueue: db
    .select({ id: workQueues.workPoolId })
    .from(workQueues)
    .where(eq(workQueues.id, sql.placeholder('id')))
    .prepare(),
  namesOfRun: db
    .select({ flowName: flows.name, workQueueName: workQueues.name, workPoolId: workPools.id, workPoolName: workPools.name })
    .from(flows)
    .leftJoin(workQueues, eq(workQueues.id, sql.placeholder('queueId')))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(eq(flows.id, sql.placeholder('flowId')))
    .prepare(),
  insertRun: db.insert(flowRuns).values(placeholders(NEW_RUN_COLUMNS)).prepare(),
  insertState: db
    .insert(flowRunStates)
    .values(placeholders(['flowRunId', 'type', 'name', 'timestamp', 'message', 'scheduledTime']))
    .prepare(),
  /** `UPDATE flow_runs` by id, one statement per set of columns written (a handful: see `updateRun`). */
  runUpdates: new Map<string, { run(values: Record<string, unknown>): unknown }>(),
}));

/** The runs with these ids, in this order (ids not found are left out). */
function loadRuns(db: SqliteDb, ids: readonly string[]): FlowRun[] {
  if (ids.length === 0) return [];
  if (ids.length === 1) {
    const row = statements(db).runByIdWithNames.get({ id: ids[0] });
    return row ? [toFlowRun(flatten(row))] : [];
  }
  const rows = statements(db).runsByIds.all({ ids: JSON.stringify(ids) });
  const byId = new Map(rows.map((r) => [r.run.id, toFlowRun(flatten(r))]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** The run row; `db` is the root database, also inside its transactions (see `preparedStatements`). */
function requireRun(db: SqliteDb, id: string): RunRow {
  const row = statements(db).runById.get({ id });
  if (!row) throw droverErrorOf('FLOW_RUN_NOT_FOUND', `Flow run ${id} not found`, { flowRunId: id });
  return row;
}

/** How many of the deployment's runs hold a slot now (see `holdsSlot`). */
export function activeRunsOfDeployment(db: SqliteDb, deploymentId: string): number {
  return statements(db).activeRunsOfDeployment.get({ id: deploymentId })?.n ?? 0;
}

/** The deployment row by id, for claims and orchestration. */
export function deploymentRow(db: SqliteDb, deploymentId: string): typeof deployments.$inferSelect | undefined {
  return statements(db).deploymentById.get({ id: deploymentId });
}

/**
 * `UPDATE flow_runs SET <the keys of set> WHERE id = ?`, prepared once per shape of `set`. Null
 * values are written as SQL NULL in the statement itself: a placeholder passes its value through
 * the column's encoder even when null, and a JSON column's would store the text 'null'.
 */
function updateRun(db: SqliteDb, id: string, set: Partial<RunRow>): void {
  const keys = (Object.keys(set) as (keyof RunRow)[]).filter((key) => set[key] !== undefined);
  const shape = keys.map((key) => (set[key] === null ? `${key}=NULL` : key)).join(',');
  const cache = statements(db).runUpdates;
  let statement = cache.get(shape);
  if (!statement) {
    const values = Object.fromEntries(keys.map((key) => [key, set[key] === null ? sql`NULL` : sql.placeholder(key)]));
    // Drizzle binds a placeholder in `.set()` through the column's encoder, as it does a value; only its types leave placeholders out.
    statement = db
      .update(flowRuns)
      .set(values as SQLiteUpdateSetSource<typeof flowRuns>)
      .where(eq(flowRuns.id, sql.placeholder('whereId')))
      .prepare();
    cache.set(shape, statement);
  }
  statement.run({ ...set, whereId: id });
}

export interface StateExtras {
  readonly workerName?: string;
  /** With PENDING from a claim: the hash of the claim's new token. */
  readonly claimHash?: string;
  readonly retries?: number;
  readonly retryDelaySeconds?: number;
  readonly result?: unknown;
}

/** What writing an orchestrated state onto a run changes: its columns, its history row, and its state as the API shows it. */
export interface StateWrite {
  readonly set: Partial<RunRow>;
  readonly history: typeof flowRunStates.$inferInsert & { flowRunId: string };
  readonly state: State;
}

/**
 * The columns an orchestrated state writes onto a run, with the bookkeeping every accepted change
 * carries: run count and start time on RUNNING, end time on a final state; and its history row.
 */
export function stateWrite(run: RunRow, state: NewState, now: Date, extras: StateExtras = {}): StateWrite {
  const iso = now.toISOString();
  const entering = state.type !== run.stateType;
  const set: Partial<RunRow> = {
    stateType: state.type,
    stateName: state.name,
    stateTimestamp: iso,
    stateMessage: state.message,
    // PENDING keeps the due time, so a run claimed ahead of time still starts on time.
    nextScheduledStartTime: state.type === 'SCHEDULED' ? state.scheduledTime : state.type === 'PENDING' ? run.nextScheduledStartTime : null,
    retryInProcess: state.retryInProcess ?? false,
    updated: iso,
  };
  if (state.type === 'RUNNING' && entering) {
    set.runCount = run.runCount + 1;
    set.startTime = run.startTime ?? iso;
    set.lastHeartbeat = iso;
  }
  if (state.type === 'PENDING') set.lastHeartbeat = iso;
  if (isTerminal(state.type)) set.endTime = iso;
  else if (run.endTime !== null) set.endTime = null;
  if (extras.workerName !== undefined) set.workerName = extras.workerName;
  if (extras.claimHash !== undefined) {
    set.claimHash = extras.claimHash;
    set.infrastructureId = null;
  }
  // Offered again (not retried by its own engine): the old claim and its job are no longer the run's.
  if (state.type === 'SCHEDULED' && !state.retryInProcess && run.claimHash !== null) set.claimHash = null;
  if (extras.retries !== undefined) set.retries = extras.retries;
  if (extras.retryDelaySeconds !== undefined) set.retryDelaySeconds = extras.retryDelaySeconds;
  if (extras.result !== undefined) set.result = extras.result;
  return {
    set,
    history: { flowRunId: run.id, type: state.type, name: state.name, timestamp: iso, message: state.message, scheduledTime: state.scheduledTime },
    state: toState({
      stateType: state.type,
      stateName: state.name,
      stateTimestamp: iso,
      stateMessage: state.message,
      nextScheduledStartTime: set.nextScheduledStartTime ?? null,
    }),
  };
}

/**
 * Writes an orchestrated state onto a run and into its history (see `stateWrite`). Runs in the
 * caller's transaction on `db` (the root database: see `preparedStatements`). Returns the run's
 * state as written.
 */
function writeState(db: SqliteDb, run: RunRow, state: NewState, now: Date, extras: StateExtras = {}): State {
  const { set, history, state: written } = stateWrite(run, state, now, extras);
  updateRun(db, run.id, set);
  statements(db).insertState.run(history);
  return written;
}

/**
 * Runs orchestration for one proposal on `run` and writes the outcome. Callers run it inside a
 * transaction (a group commit's, or their own) on `ctx.db`, whose one connection that
 * transaction holds (see `preparedStatements`).
 */
export function transition(
  ctx: StoreContext,
  run: RunRow,
  proposal: Proposal,
  options: { extras?: StateExtras; deploymentSlots?: DeploymentSlots | null } = {},
): OrchestrationResult & { written: NewState | null } {
  const now = ctx.clock.now();
  let deploymentSlots = options.deploymentSlots ?? null;
  // A run entering PENDING, or RUNNING without a slot (straight from SCHEDULED), takes a slot.
  const takesSlot = proposal.type === 'PENDING' || (proposal.type === 'RUNNING' && !holdsSlot(run));
  if (options.deploymentSlots === undefined && takesSlot && run.deploymentId) {
    const deployment = deploymentRow(ctx.db, run.deploymentId);
    if (deployment?.concurrencyLimit != null) {
      deploymentSlots = {
        limit: deployment.concurrencyLimit,
        active: activeRunsOfDeployment(ctx.db, deployment.id),
        collisionStrategy: deployment.collisionStrategy,
      };
    }
  }
  const decision = orchestrate(run, proposal, { now, deploymentSlots, slotWaitSeconds: ctx.settings.slotWaitSeconds });
  switch (decision.status) {
    case 'ACCEPT':
      return {
        status: 'ACCEPT',
        reason: null,
        delaySeconds: null,
        state: writeState(ctx.db, run, decision.state, now, options.extras),
        written: decision.state,
      };
    case 'REJECT':
      return {
        status: 'REJECT',
        reason: decision.reason,
        delaySeconds: null,
        state: decision.state ? writeState(ctx.db, run, decision.state, now) : toState(run),
        written: decision.state,
      };
    case 'WAIT':
      return { status: 'WAIT', reason: decision.reason, delaySeconds: decision.delaySeconds, state: toState(run), written: null };
    case 'ABORT':
      return { status: 'ABORT', reason: decision.reason, delaySeconds: null, state: toState(run), written: null };
  }
}

/**
 * The `runsAvailable` channels on which these runs' claimers wait: their work pools and queues
 * (workers) and their deployments (runners), each with how many of the runs it offers.
 */
export function channelsOf(db: SqliteDb, runs: readonly RunPlace[]): Map<string, number> {
  const queues = queuesOf(runs);
  const pools = new Map<string, string>();
  if (queues.length === 1) {
    const pool = poolOfQueue(db, queues[0] as string);
    if (pool) pools.set(queues[0] as string, pool);
  } else if (queues.length > 1) {
    for (const { queue, pool } of statements(db).poolsOfQueues.all({ ids: JSON.stringify(queues) })) pools.set(queue, pool);
  }
  return runChannels(runs, pools);
}

/** Where a run is offered: its deployment and its queue. */
export type RunPlace = { readonly workQueueId: string | null; readonly deploymentId: string | null };

/** The distinct queues of these runs, whose pools `runChannels` needs. */
export function queuesOf(runs: readonly RunPlace[]): string[] {
  return [...new Set(runs.flatMap((run) => (run.workQueueId ? [run.workQueueId] : [])))];
}

/** `channelsOf` once the pools of the runs' queues are known (`pools`: queue id → pool id). */
export function runChannels(runs: readonly RunPlace[], pools: ReadonlyMap<string, string>): Map<string, number> {
  const channels = new Map<string, number>();
  const add = (channel: string, n: number) => channels.set(channel, (channels.get(channel) ?? 0) + n);
  const queues = new Map<string, number>();
  for (const run of runs) {
    if (run.deploymentId) add(deploymentChannel(run.deploymentId), 1);
    if (run.workQueueId) queues.set(run.workQueueId, (queues.get(run.workQueueId) ?? 0) + 1);
  }
  for (const [queue, n] of queues) add(queueChannel(queue), n);
  for (const [queue, n] of queues) {
    const pool = pools.get(queue);
    if (pool) add(pool, n);
  }
  return channels;
}

/** Wakes, on each channel, as many waiting claimers as it offers runs. */
export function announceRunsAvailable(ctx: StoreContext, channels: ReadonlyMap<string, number>): void {
  for (const [channel, n] of channels) ctx.events.emit('runsAvailable', channel, { remaining: n });
}

function poolOfQueue(db: SqliteDb, workQueueId: string | null): string | null {
  if (!workQueueId) return null;
  return statements(db).poolOfQueue.get({ id: workQueueId })?.id ?? null;
}

/** What tells one new run from another; every other column starts the same (see `newRunRow`). */
export type NewRunFields = Pick<
  RunRow,
  | 'id'
  | 'name'
  | 'flowId'
  | 'deploymentId'
  | 'workQueueId'
  | 'parameters'
  | 'tags'
  | 'idempotencyKey'
  | 'jobVariables'
  | 'autoScheduled'
  | 'scheduleId'
  | 'parentFlowRunId'
>;

/** The row of a new run, SCHEDULED for `scheduledTime` as of `now` (all but `result`, which starts NULL). */
export function newRunRow(fields: NewRunFields, scheduledTime: string, now: string): Omit<RunRow, 'result'> {
  return {
    ...fields,
    stateType: 'SCHEDULED',
    stateName: 'Scheduled',
    stateTimestamp: now,
    stateMessage: null,
    nextScheduledStartTime: scheduledTime,
    expectedStartTime: scheduledTime,
    startTime: null,
    endTime: null,
    runCount: 0,
    retries: null,
    retryDelaySeconds: null,
    retryInProcess: false,
    workerName: null,
    claimHash: null,
    infrastructureId: null,
    lastHeartbeat: null,
    traceContext: null,
    created: now,
    updated: now,
  };
}

/**
 * `requireDeployment` through prepared statements, for the create path: the same lookup (by id,
 * or by `flow/name`); a miss goes to `requireDeployment` itself for its error.
 */
function findDeployment(db: SqliteDb, ref: string): typeof deployments.$inferSelect {
  let row: typeof deployments.$inferSelect | undefined;
  if (!ref.includes('/')) row = statements(db).deploymentById.get({ id: ref });
  else row = statements(db).deploymentByName.get(splitDeploymentName(ref))?.d;
  return row ?? requireDeployment(db, ref);
}

/**
 * Creates a run of a deployment. Parameters are the deployment's, shallow-merged with the given
 * ones, and checked against its schema when it enforces one. An idempotency key returns the run
 * it made before; the same key with other parameters is IDEMPOTENCY_CONFLICT.
 */
export async function createFlowRun(ctx: StoreContext, input: FlowRunCreate): Promise<FlowRun> {
  const spec = FlowRunCreate.parse(input);
  const now = ctx.clock.now();
  const iso = now.toISOString();
  const db = ctx.db;
  const { run, channels } = await ctx.commits.run((): { run: FlowRun; channels: Map<string, number> } => {
    const deployment = findDeployment(db, spec.deployment);
    const fullName = () => `${db.select({ name: flows.name }).from(flows).where(eq(flows.id, deployment.flowId)).get()?.name}/${deployment.name}`;
    const parameters = { ...deployment.parameters, ...spec.parameters };
    if (deployment.enforceParameterSchema && deployment.parameterSchema) assertParameters(fullName(), deployment.parameterSchema, parameters);
    let workQueueId = deployment.workQueueId;
    if (spec.workQueueName !== undefined) workQueueId = requireQueueOfDeployment(db, deployment, spec.workQueueName, fullName);
    if (workQueueId !== null && Object.keys(spec.jobVariables).length > 0) {
      const pool = db
        .select({ name: workPools.name, template: workPools.baseJobTemplate })
        .from(workQueues)
        .innerJoin(workPools, eq(workPools.id, workQueues.workPoolId))
        .where(eq(workQueues.id, workQueueId))
        .get();
      if (pool) assertJobVariables(`a run of ${fullName()}`, pool.name, pool.template.variables, spec.jobVariables);
    }
    if (spec.idempotencyKey !== undefined) {
      const existing = statements(db).runByIdempotencyKey.get({ flowId: deployment.flowId, key: spec.idempotencyKey });
      if (existing) {
        assertSameParameters(spec.idempotencyKey, existing, parameters);
        return { run: loadRuns(db, [existing.id])[0] as FlowRun, channels: new Map<string, number>() };
      }
    }
    // A child names a parent that exists (runs are deleted with no cascade, so a stale id is refused here).
    if (spec.parentFlowRunId !== undefined) requireRun(db, spec.parentFlowRunId);
    const id = uuidv7(now.getTime());
    const scheduledTime = spec.scheduledTime ? new Date(spec.scheduledTime).toISOString() : iso;
    const row = newRunRow(
      {
        id,
        name: spec.name ?? nameOfNewRun(db, deployment, id, parameters, new Date(scheduledTime)),
        flowId: deployment.flowId,
        deploymentId: deployment.id,
        workQueueId,
        parameters,
        tags: [...new Set([...deployment.tags, ...spec.tags])],
        idempotencyKey: spec.idempotencyKey ?? null,
        jobVariables: spec.jobVariables,
        autoScheduled: false,
        scheduleId: null,
        parentFlowRunId: spec.parentFlowRunId ?? null,
      },
      scheduledTime,
      iso,
    );
    row.traceContext = runTraceContext(spec.traceContext, { id, deploymentId: deployment.id, name: row.name });
    statements(db).insertRun.run(row);
    statements(db).insertState.run({ flowRunId: id, type: 'SCHEDULED', name: 'Scheduled', timestamp: iso, message: null, scheduledTime });
    // The answer is built from what was written, with the names beside it, not read back.
    const names = statements(db).namesOfRun.get({ flowId: deployment.flowId, queueId: workQueueId }) as RunNames;
    const channels = new Map([[deploymentChannel(deployment.id), 1]]);
    if (names.workPoolId) channels.set(names.workPoolId, 1);
    if (workQueueId) channels.set(queueChannel(workQueueId), 1);
    const run = toFlowRun({
      ...row,
      result: null,
      flowName: names.flowName,
      deploymentName: deployment.name,
      workQueueName: names.workQueueName,
      workPoolName: names.workPoolName,
    });
    return { run, channels };
  });
  announceRunsAvailable(ctx, channels);
  return run;
}

/**
 * Refuses a run made again with an idempotency key that already made `existing` from other
 * parameters (IDEMPOTENCY_CONFLICT).
 */
export function assertSameParameters(idempotencyKey: string, existing: Pick<RunRow, 'id' | 'parameters'>, parameters: Record<string, unknown>): void {
  if (canonicalJson(existing.parameters) === canonicalJson(parameters)) return;
  throw droverErrorOf(
    'IDEMPOTENCY_CONFLICT',
    `Idempotency key "${idempotencyKey}" already made run ${existing.id} with other parameters (${canonicalJson(existing.parameters)}, not ${canonicalJson(parameters)}): use a new key or the same parameters`,
    { idempotencyKey, flowRunId: existing.id },
  );
}

/**
 * The name of a new run: its deployment's `flowRunName` template rendered, or a generated one.
 * A template needing a parameter the run lacks refuses the run, naming the parameter.
 */
function nameOfNewRun(db: SqliteDb, deployment: typeof deployments.$inferSelect, id: string, parameters: Record<string, unknown>, scheduledTime: Date): string {
  if (deployment.flowRunName === null) return runName(id);
  const flowName = db.select({ name: flows.name }).from(flows).where(eq(flows.id, deployment.flowId)).get()?.name ?? '';
  return renderedRunName(deployment.flowRunName, flowName, deployment.name, parameters, scheduledTime);
}

/** A deployment's `flowRunName` template rendered for a new run; VALIDATION_ERROR when it needs a parameter the run lacks. */
export function renderedRunName(template: string, flowName: string, deploymentName: string, parameters: Record<string, unknown>, scheduledTime: Date): string {
  const { name, missing } = renderRunName(template, { parameters, flowName, deploymentName, scheduledTime });
  if (missing.length === 0) return name;
  throw droverErrorOf(
    'VALIDATION_ERROR',
    `flowRunName "${template}" of deployment "${flowName}/${deploymentName}" needs ${missing.map((k) => `{${k}}`).join(', ')}, which this run's parameters lack: pass ${missing.length > 1 ? 'them' : 'it'}, or give the run a name`,
    { deployment: `${flowName}/${deploymentName}`, missing },
  );
}

function requireQueueOfDeployment(db: SqliteDb, deployment: typeof deployments.$inferSelect, name: string, fullName: () => string): string {
  const poolId = poolOfQueue(db, deployment.workQueueId);
  const queue = poolId
    ? db
        .select({ id: workQueues.id })
        .from(workQueues)
        .where(and(eq(workQueues.workPoolId, poolId), eq(workQueues.name, name)))
        .get()
    : undefined;
  if (queue) return queue.id;
  const queues: string[] = poolId
    ? db
        .select({ name: workQueues.name })
        .from(workQueues)
        .where(eq(workQueues.workPoolId, poolId))
        .orderBy(asc(workQueues.priority))
        .all()
        .map((q) => q.name)
    : [];
  throw queueNotFound(name, poolId, queues, fullName());
}

/** WORK_QUEUE_NOT_FOUND for a run asking for queue `name` of a deployment whose pool (`poolId`, if any) has `queues`. */
export function queueNotFound(name: string, poolId: string | null, queues: readonly string[], deploymentName: string) {
  return droverErrorOf(
    'WORK_QUEUE_NOT_FOUND',
    poolId
      ? `Work queue "${name}" not found in the work pool of deployment "${deploymentName}" (its queues: ${queues.join(', ')})`
      : `Deployment "${deploymentName}" has no work pool, so it has no queue "${name}"`,
    { workQueueName: name },
  );
}

export async function readFlowRun(ctx: StoreContext, id: string): Promise<FlowRun> {
  const run = loadRuns(ctx.db, [id])[0];
  if (!run) throw droverErrorOf('FLOW_RUN_NOT_FOUND', `Flow run ${id} not found`, { flowRunId: id });
  return run;
}

/** The conditions of a run filter, over `selectRuns`' joins (pool and flow names). */
function runFilterWhere(filter: ReturnType<typeof FlowRunCountFilter.parse>): SQL | undefined {
  const where: SQL[] = [];
  if (filter.states?.length) where.push(inArray(flowRuns.stateType, filter.states));
  if (filter.stateName !== undefined) where.push(eq(flowRuns.stateName, filter.stateName));
  if (filter.deploymentId !== undefined) where.push(eq(flowRuns.deploymentId, filter.deploymentId));
  if (filter.parentFlowRunId !== undefined) where.push(eq(flowRuns.parentFlowRunId, filter.parentFlowRunId));
  if (filter.workPoolName !== undefined) where.push(eq(workPools.name, filter.workPoolName));
  if (filter.flowName !== undefined) where.push(eq(flows.name, filter.flowName));
  if (filter.tags?.length) where.push(jsonArrayContainsAll(flowRuns.tags, filter.tags));
  if (filter.expectedStartAfter !== undefined) where.push(gte(flowRuns.expectedStartTime, new Date(filter.expectedStartAfter).toISOString()));
  if (filter.expectedStartBefore !== undefined) where.push(lte(flowRuns.expectedStartTime, new Date(filter.expectedStartBefore).toISOString()));
  return and(...where);
}

export async function listFlowRuns(ctx: StoreContext, input: FlowRunFilter): Promise<FlowRun[]> {
  const filter = FlowRunFilter.parse(input);
  const order =
    filter.sort === 'EXPECTED_START_DESC' ? [desc(flowRuns.expectedStartTime), desc(flowRuns.id)] : [asc(flowRuns.expectedStartTime), asc(flowRuns.id)];
  return selectRuns(ctx.db)
    .where(runFilterWhere(filter))
    .orderBy(...order)
    .limit(filter.page.limit)
    .offset(filter.page.offset)
    .all()
    .map((r) => toFlowRun(flatten(r)));
}

/** How many runs match the filter (a list's total; slots in use when filtered by the states that hold one). */
export async function countFlowRuns(ctx: StoreContext, input: FlowRunCountFilter): Promise<FlowRunCount> {
  const filter = FlowRunCountFilter.parse(input);
  // Joined only when a filter names a flow or a pool: counting 23,000 runs of a week took 26 ms
  // (p50) with the joins, which a count needs no more than it needs the names.
  let query = ctx.db.select({ runs: count() }).from(flowRuns).$dynamic();
  if (filter.flowName !== undefined) query = query.innerJoin(flows, eq(flows.id, flowRuns.flowId));
  if (filter.workPoolName !== undefined) {
    query = query.innerJoin(runQueue, eq(runQueue.id, flowRuns.workQueueId)).innerJoin(workPools, eq(workPools.id, runQueue.workPoolId));
  }
  const [row] = query.where(runFilterWhere(filter)).all();
  return { count: row?.runs ?? 0 };
}

/** The stored form of a claim token: a token is a secret, so the database keeps only its hash. */
export function claimHashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Random bytes for claim tokens, drawn from the system's CSPRNG 4 KiB at a time and each used
 * once: with a `randomBytes(24)` call per token (8 µs each), a claim of 100 runs on PostgreSQL spent
 * a quarter of its server time making tokens (bench/server.ts, CPU profile).
 */
const entropy = { bytes: Buffer.alloc(4096), used: 4096 };
const CLAIM_TOKEN_BYTES = 24;

/** A new claim: the token for the claimer and the hash to store. */
export function newClaim(): { token: string; hash: string } {
  if (entropy.used + CLAIM_TOKEN_BYTES > entropy.bytes.length) {
    randomFillSync(entropy.bytes);
    entropy.used = 0;
  }
  const token = entropy.bytes.toString('base64url', entropy.used, entropy.used + CLAIM_TOKEN_BYTES);
  entropy.used += CLAIM_TOKEN_BYTES;
  return { token, hash: claimHashOf(token) };
}

/** The runs with these ids, each with its claim's token (for the claimer's answer). */
export function claimedRuns(db: SqliteDb, claims: readonly { id: string; token: string }[]): ClaimedFlowRun[] {
  const tokens = new Map(claims.map((c) => [c.id, c.token]));
  return loadRuns(db, [...tokens.keys()]).map((run) => ({ ...run, claimToken: tokens.get(run.id) as string }));
}

/** Why a claim token no longer holds its run, or null when it does. */
export function claimLost(run: Pick<RunRow, 'id' | 'stateType' | 'claimHash'>, claimToken: string): string | null {
  if (run.claimHash !== null && run.claimHash === claimHashOf(claimToken)) return null;
  return run.claimHash === null
    ? `Run ${run.id} is ${run.stateType} and held by no claim: the claim this job runs under has ended`
    : `Run ${run.id} was claimed again since this job's claim (it is ${run.stateType} under another job)`;
}

/**
 * The answer to a proposal its claim's job made before and the server applied, when the first
 * answer was lost (the server restarted before replying) and the job sends it again: the same
 * answer, and nothing written twice. A job's RUNNING is accepted once; its FAILED that scheduled
 * an in-process retry stays that retry.
 */
export function repeatedProposal(
  run: Pick<RunRow, 'stateType' | 'retryInProcess' | 'stateMessage' | 'stateName'>,
  type: StateType,
): { status: 'ACCEPT' | 'REJECT'; reason: string | null } | null {
  if (type === 'RUNNING' && run.stateType === 'RUNNING') return { status: 'ACCEPT', reason: null };
  if (type === 'FAILED' && run.stateType === 'SCHEDULED' && run.retryInProcess) {
    return { status: 'REJECT', reason: `The retry this failure asked for is scheduled already: ${run.stateMessage ?? run.stateName}` };
  }
  return null;
}

/**
 * Proposes a state; orchestration decides. The answer carries the run's state afterwards. A
 * proposal with a claim token that no longer holds the run is ABORTed and writes nothing.
 */
export async function setFlowRunState(ctx: StoreContext, input: SetStateInput): Promise<OrchestrationResult> {
  const { flowRunId, state, claimToken } = SetStateInput.parse(input);
  const { result, channels } = await ctx.commits.run(() => {
    const run = requireRun(ctx.db, flowRunId);
    const lost = claimToken === undefined ? null : claimLost(run, claimToken);
    if (lost !== null) {
      return {
        result: { status: 'ABORT' as const, reason: lost, delaySeconds: null, state: toState(run), written: null },
        channels: new Map<string, number>(),
      };
    }
    const again = claimToken === undefined ? null : repeatedProposal(run, state.type);
    if (again !== null) return { result: { ...again, delaySeconds: null, state: toState(run), written: null }, channels: new Map<string, number>() };
    const { result: value, retries, retryDelaySeconds, ...proposal } = state;
    const result = transition(ctx, run, proposal, { extras: { result: value, retries, retryDelaySeconds } });
    // A run rescheduled, or a slot freed by a run that ended, lets claimers take more.
    const frees = result.written && (result.written.type === 'SCHEDULED' || !ACTIVE_STATE_TYPES.includes(result.written.type));
    return { result, channels: frees ? channelsOf(ctx.db, [run]) : new Map<string, number>() };
  });
  if (result.written) ctx.events.emit('runStateChanged', flowRunId, result.written.type);
  announceRunsAvailable(ctx, channels);
  return { status: result.status, reason: result.reason, delaySeconds: result.delaySeconds, state: result.state };
}

/**
 * Runs a finished run again (FAILED, CRASHED or CANCELLED): back to SCHEDULED, AwaitingRetry, due
 * now, with its history and logs kept; workers claim it like any due run.
 */
export async function retryFlowRun(ctx: StoreContext, flowRunId: string): Promise<OrchestrationResult> {
  return setFlowRunState(ctx, { flowRunId, state: { type: 'SCHEDULED', name: STATE_NAMES.awaitingRetry, message: 'Retried by request' } });
}

/**
 * Asks for a run to stop: a run with no job yet is CANCELLED at once, a running one CANCELLING.
 * Its unfinished descendants (runs its flow started with `runDeployment`, and theirs) are
 * cancelled first, deepest first, so no child outlives the parent that waits for it.
 */
export async function cancelFlowRun(ctx: StoreContext, flowRunId: string, message = 'Cancelled by request'): Promise<OrchestrationResult> {
  requireRun(ctx.db, flowRunId);
  for (const child of unfinishedDescendants(ctx.db, flowRunId).reverse()) {
    await setFlowRunState(ctx, { flowRunId: child, state: { type: 'CANCELLING', message: `Its parent run ${flowRunId} was cancelled` } });
  }
  return setFlowRunState(ctx, { flowRunId, state: { type: 'CANCELLING', message } });
}

/** The unfinished runs below `flowRunId`, parents before children (breadth first, bounded against cycles). */
function unfinishedDescendants(db: SqliteDb, flowRunId: string): string[] {
  const found: string[] = [];
  const seen = new Set([flowRunId]);
  let level = [flowRunId];
  while (level.length > 0 && seen.size < 100_000) {
    const children = db
      .select({ id: flowRuns.id, stateType: flowRuns.stateType })
      .from(flowRuns)
      .where(inArray(flowRuns.parentFlowRunId, level))
      .all()
      .filter((c) => !seen.has(c.id));
    for (const child of children) seen.add(child.id);
    found.push(...children.filter((c) => !isTerminal(c.stateType)).map((c) => c.id));
    level = children.map((c) => c.id);
  }
  return found;
}

/**
 * Records that the runs' jobs are alive (sent by the engine or its worker), and answers which of
 * them are CANCELLING, so the sender stops those jobs without a separate poll, and which are no
 * longer the sender's (`lost`): finished, offered again, or claimed again under another token.
 * A lost run's heartbeat is not recorded, so a stale job never keeps another job's run alive.
 */
export async function heartbeatFlowRuns(ctx: StoreContext, input: RunHeartbeat): Promise<RunHeartbeatResult> {
  const { runs } = RunHeartbeat.parse(input);
  const now = ctx.clock.now().toISOString();
  return ctx.commits.run(() => {
    const rows = ctx.db
      .select({ id: flowRuns.id, stateType: flowRuns.stateType, retryInProcess: flowRuns.retryInProcess, claimHash: flowRuns.claimHash })
      .from(flowRuns)
      .where(
        inArray(
          flowRuns.id,
          runs.map((r) => r.id),
        ),
      )
      .all();
    const byId = new Map(rows.map((row) => [row.id, row]));
    const alive: string[] = [];
    const cancelling: string[] = [];
    const lost: string[] = [];
    for (const { id, claimToken } of runs) {
      const row = byId.get(id);
      if (!row || !holdsSlot(row) || (claimToken !== undefined && row.claimHash !== claimHashOf(claimToken))) {
        lost.push(id);
        continue;
      }
      alive.push(id);
      if (row.stateType === 'CANCELLING') cancelling.push(id);
    }
    if (alive.length > 0) ctx.db.update(flowRuns).set({ lastHeartbeat: now }).where(inArray(flowRuns.id, alive)).run();
    return { updated: alive.length, cancelling, lost };
  });
}

/**
 * Records where a claimed run's job lives (after its worker launched it), so any worker can stop
 * it later. Only the holder of the run's current claim may: an API caller cannot point a worker
 * at a process it never launched.
 */
export async function setInfrastructure(ctx: StoreContext, input: SetInfrastructureInput): Promise<FlowRun> {
  const { id, infrastructureId, claimToken } = SetInfrastructureInput.parse(input);
  await ctx.commits.run(() => {
    const run = requireRun(ctx.db, id);
    const lost = claimLost(run, claimToken);
    if (lost !== null) throw droverErrorOf('CLAIM_LOST', `Cannot record the job of run ${id}: ${lost}`, { flowRunId: id });
    updateRun(ctx.db, id, { infrastructureId, updated: ctx.clock.now().toISOString() });
  });
  return readFlowRun(ctx, id);
}

/** A run's state history, oldest first. */
export async function readStateHistory(ctx: StoreContext, flowRunId: string) {
  requireRun(ctx.db, flowRunId);
  return ctx.db.select().from(flowRunStates).where(eq(flowRunStates.flowRunId, flowRunId)).orderBy(asc(flowRunStates.id)).all().map(toHistoryState);
}

/** A row of a run's state history as the API shows it. */
export function toHistoryState(s: Omit<typeof flowRunStates.$inferSelect, 'id' | 'flowRunId'>) {
  return { type: s.type as StateType, name: s.name, timestamp: s.timestamp, message: s.message, scheduledTime: s.scheduledTime };
}

/** Deletes a run with its history and logs. */
export async function deleteFlowRun(ctx: StoreContext, flowRunId: string): Promise<FlowRunDeleted> {
  requireRun(ctx.db, flowRunId);
  ctx.db.delete(flowRuns).where(eq(flowRuns.id, flowRunId)).run();
  return { id: flowRunId };
}

/** Waits until the run reaches a final state or `timeoutMs` passes, then returns it as it is. */
export async function waitForFlowRun(ctx: StoreContext, flowRunId: string, timeoutMs: number): Promise<FlowRun> {
  const run = await readFlowRun(ctx, flowRunId);
  if (isTerminal(run.state.type) || timeoutMs === 0) return run;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      ctx.events.off('runStateChanged', onChange);
      resolve();
    };
    const onChange = (id: string, type: string) => {
      if (id === flowRunId && isTerminal(type as StateType)) done();
    };
    const timer = setTimeout(done, timeoutMs);
    ctx.events.on('runStateChanged', onChange);
  });
  return readFlowRun(ctx, flowRunId);
}
