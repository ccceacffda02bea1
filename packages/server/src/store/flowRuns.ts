import {
  ACTIVE_STATE_TYPES,
  DroverError,
  type FlowRun,
  FlowRunCreate,
  FlowRunFilter,
  isTerminal,
  type OrchestrationResult,
  SetStateInput,
  splitDeploymentName,
  type State,
  type StateType,
} from '@drover/schemas';
import { and, asc, count, desc, eq, getTableColumns, gte, inArray, lte, type SQL, sql } from 'drizzle-orm';
import { alias, type SQLiteUpdateSetSource } from 'drizzle-orm/sqlite-core';
import { canonicalJson } from '../canonicalJson.js';
import { deployments, flowRuns, flowRunStates, flows, workPools, workQueues } from '../db/schema.js';
import { type Executor, placeholders, preparedStatements, type SqliteDb } from '../db/sqlite.js';
import { inJsonArray } from './sqlDialect.js';
import { runName, uuidv7 } from '../ids.js';
import { type DeploymentSlots, type NewState, orchestrate, type Proposal } from '../orchestration.js';
import { assertParameters } from '../parameters.js';
import { deploymentChannel } from '../events.js';
import type { StoreContext } from './context.js';
import { requireDeployment } from './deployments.js';
import { type FlowRunRow, toFlowRun, toState } from './rows.js';
import { jsonArrayContainsAll } from './sqlDialect.js';

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
const flatten = (r: SelectedRun): FlowRunRow => ({ ...r.run, flowName: r.flowName, deploymentName: r.deploymentName, workQueueName: r.workQueueName, workPoolName: r.workPoolName });

/** The columns a create writes: all but `result`, which starts NULL (see `placeholders`). */
const CREATED_RUN_COLUMNS = (Object.keys(getTableColumns(flowRuns)) as (keyof RunRow)[]).filter((key) => key !== 'result') as Exclude<keyof RunRow, 'result'>[];

/** The statements of the hot paths (create, state changes, claims), prepared once per database. */
const statements = preparedStatements((db: SqliteDb) => ({
  runsByIds: selectRuns(db).where(inJsonArray(flowRuns.id, 'ids')).prepare(),
  /** One run: the common case (a create, a read) without json_each's cost. */
  runByIdWithNames: selectRuns(db).where(eq(flowRuns.id, sql.placeholder('id'))).prepare(),
  runById: db.select().from(flowRuns).where(eq(flowRuns.id, sql.placeholder('id'))).prepare(),
  deploymentById: db.select().from(deployments).where(eq(deployments.id, sql.placeholder('id'))).prepare(),
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
    .where(and(eq(flowRuns.deploymentId, sql.placeholder('id')), inArray(flowRuns.stateType, [...ACTIVE_STATE_TYPES])))
    .prepare(),
  poolsOfQueues: db.selectDistinct({ pool: workQueues.workPoolId }).from(workQueues).where(inJsonArray(workQueues.id, 'ids')).prepare(),
  poolOfQueue: db.select({ id: workQueues.workPoolId }).from(workQueues).where(eq(workQueues.id, sql.placeholder('id'))).prepare(),
  namesOfRun: db
    .select({ flowName: flows.name, workQueueName: workQueues.name, workPoolId: workPools.id, workPoolName: workPools.name })
    .from(flows)
    .leftJoin(workQueues, eq(workQueues.id, sql.placeholder('queueId')))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(eq(flows.id, sql.placeholder('flowId')))
    .prepare(),
  insertRun: db.insert(flowRuns).values(placeholders(CREATED_RUN_COLUMNS)).prepare(),
  insertState: db.insert(flowRunStates).values(placeholders(['flowRunId', 'type', 'name', 'timestamp', 'message', 'scheduledTime'])).prepare(),
  /** `UPDATE flow_runs` by id, one statement per set of columns written (a handful: see `updateRun`). */
  runUpdates: new Map<string, { run(values: Record<string, unknown>): unknown }>(),
}));

/** The runs with these ids, in this order (ids not found are left out). */
export function loadRuns(db: SqliteDb, ids: readonly string[]): FlowRun[] {
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
export function requireRun(db: SqliteDb, id: string): RunRow {
  const row = statements(db).runById.get({ id });
  if (!row) throw new DroverError('FLOW_RUN_NOT_FOUND', `Flow run ${id} not found`, { flowRunId: id });
  return row;
}

/** How many of the deployment's runs hold a slot now (PENDING, RUNNING or CANCELLING). */
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
  readonly infrastructureId?: string;
  readonly retries?: number;
  readonly retryDelaySeconds?: number;
  readonly result?: unknown;
}

/**
 * Writes an orchestrated state onto a run and into its history, with the bookkeeping every
 * accepted change carries: run count and start time on RUNNING, end time on a final state.
 * Runs in the caller's transaction on `db` (the root database: see `preparedStatements`).
 * Returns the run's state as written.
 */
export function writeState(db: SqliteDb, run: RunRow, state: NewState, now: Date, extras: StateExtras = {}): State {
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
  if (FINAL_STATES.has(state.type)) set.endTime = iso;
  else if (run.endTime !== null) set.endTime = null;
  if (extras.workerName !== undefined) set.workerName = extras.workerName;
  if (extras.infrastructureId !== undefined) set.infrastructureId = extras.infrastructureId;
  if (extras.retries !== undefined) set.retries = extras.retries;
  if (extras.retryDelaySeconds !== undefined) set.retryDelaySeconds = extras.retryDelaySeconds;
  if (extras.result !== undefined) set.result = extras.result;
  updateRun(db, run.id, set);
  statements(db).insertState.run({ flowRunId: run.id, type: state.type, name: state.name, timestamp: iso, message: state.message, scheduledTime: state.scheduledTime });
  return toState({ stateType: state.type, stateName: state.name, stateTimestamp: iso, stateMessage: state.message, nextScheduledStartTime: set.nextScheduledStartTime ?? null });
}

const FINAL_STATES = new Set<StateType>(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);

/**
 * Runs orchestration for one proposal on `run` and writes the outcome. Callers run it inside a
 * transaction (a group commit's, or their own) on `ctx.db`, whose one connection that
 * transaction holds (see `preparedStatements`).
 */
export function transition(
  ctx: StoreContext,
  run: RunRow,
  proposal: Proposal,
  options: { force?: boolean; extras?: StateExtras; deploymentSlots?: DeploymentSlots | null } = {},
): OrchestrationResult & { written: NewState | null } {
  const now = ctx.clock.now();
  let deploymentSlots = options.deploymentSlots ?? null;
  if (options.deploymentSlots === undefined && proposal.type === 'PENDING' && run.deploymentId) {
    const deployment = deploymentRow(ctx.db, run.deploymentId);
    if (deployment?.concurrencyLimit != null) {
      deploymentSlots = { limit: deployment.concurrencyLimit, active: activeRunsOfDeployment(ctx.db, deployment.id), collisionStrategy: deployment.collisionStrategy };
    }
  }
  const decision = orchestrate(run, proposal, { now, deploymentSlots, slotWaitSeconds: ctx.settings.slotWaitSeconds }, options.force);
  switch (decision.status) {
    case 'ACCEPT':
      return { status: 'ACCEPT', reason: null, delaySeconds: null, state: writeState(ctx.db, run, decision.state, now, options.extras), written: decision.state };
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
 * The `runsAvailable` channels on which these runs' claimers wait: their work pools (workers)
 * and their deployments (runners).
 */
export function channelsOf(db: SqliteDb, runs: readonly { workQueueId: string | null; deploymentId: string | null }[]): Set<string> {
  const channels = new Set<string>();
  const queues = new Set<string>();
  for (const run of runs) {
    if (run.deploymentId) channels.add(deploymentChannel(run.deploymentId));
    if (run.workQueueId) queues.add(run.workQueueId);
  }
  if (queues.size === 1) {
    const pool = poolOfQueue(db, queues.values().next().value as string);
    if (pool) channels.add(pool);
  } else if (queues.size > 1) {
    for (const { pool } of statements(db).poolsOfQueues.all({ ids: JSON.stringify([...queues]) })) channels.add(pool);
  }
  return channels;
}

/** Wakes the claimers waiting on `channels`. */
export function announceRunsAvailable(ctx: StoreContext, channels: Iterable<string>): void {
  for (const channel of channels) ctx.events.emit('runsAvailable', channel);
}

function poolOfQueue(db: SqliteDb, workQueueId: string | null): string | null {
  if (!workQueueId) return null;
  return statements(db).poolOfQueue.get({ id: workQueueId })?.id ?? null;
}

/** What tells one new run from another; every other column starts the same (see `newRunRow`). */
export type NewRunFields = Pick<
  RunRow,
  'id' | 'name' | 'flowId' | 'deploymentId' | 'workQueueId' | 'parameters' | 'tags' | 'idempotencyKey' | 'jobVariables' | 'autoScheduled' | 'scheduleId'
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
    infrastructureId: null,
    lastHeartbeat: null,
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
  const { run, channels } = await ctx.commits.run((): { run: FlowRun; channels: Set<string> } => {
    const deployment = findDeployment(db, spec.deployment);
    const fullName = () => `${db.select({ name: flows.name }).from(flows).where(eq(flows.id, deployment.flowId)).get()?.name}/${deployment.name}`;
    const parameters = { ...deployment.parameters, ...spec.parameters };
    if (deployment.enforceParameterSchema && deployment.parameterSchema) assertParameters(fullName(), deployment.parameterSchema, parameters);
    let workQueueId = deployment.workQueueId;
    if (spec.workQueueName !== undefined) workQueueId = requireQueueOfDeployment(db, deployment, spec.workQueueName, fullName);
    if (spec.idempotencyKey !== undefined) {
      const existing = statements(db).runByIdempotencyKey.get({ flowId: deployment.flowId, key: spec.idempotencyKey });
      if (existing) {
        if (canonicalJson(existing.parameters) !== canonicalJson(parameters)) {
          throw new DroverError(
            'IDEMPOTENCY_CONFLICT',
            `Idempotency key "${spec.idempotencyKey}" already made run ${existing.id} with other parameters (${canonicalJson(existing.parameters)}, not ${canonicalJson(parameters)}): use a new key or the same parameters`,
            { idempotencyKey: spec.idempotencyKey, flowRunId: existing.id },
          );
        }
        return { run: loadRuns(db, [existing.id])[0] as FlowRun, channels: new Set<string>() };
      }
    }
    const id = uuidv7(now.getTime());
    const scheduledTime = spec.scheduledTime ? new Date(spec.scheduledTime).toISOString() : iso;
    const row = newRunRow(
      {
        id,
        name: spec.name ?? runName(id),
        flowId: deployment.flowId,
        deploymentId: deployment.id,
        workQueueId,
        parameters,
        tags: [...new Set([...deployment.tags, ...spec.tags])],
        idempotencyKey: spec.idempotencyKey ?? null,
        jobVariables: spec.jobVariables,
        autoScheduled: false,
        scheduleId: null,
      },
      scheduledTime,
      iso,
    );
    statements(db).insertRun.run(row);
    statements(db).insertState.run({ flowRunId: id, type: 'SCHEDULED', name: 'Scheduled', timestamp: iso, message: null, scheduledTime });
    // The answer is built from what was written, with the names beside it, not read back.
    const names = statements(db).namesOfRun.get({ flowId: deployment.flowId, queueId: workQueueId }) as RunNames;
    const channels = new Set([deploymentChannel(deployment.id)]);
    if (names.workPoolId) channels.add(names.workPoolId);
    const run = toFlowRun({ ...row, result: null, flowName: names.flowName, deploymentName: deployment.name, workQueueName: names.workQueueName, workPoolName: names.workPoolName });
    return { run, channels };
  });
  announceRunsAvailable(ctx, channels);
  return run;
}

function requireQueueOfDeployment(db: SqliteDb, deployment: typeof deployments.$inferSelect, name: string, fullName: () => string): string {
  const poolId = poolOfQueue(db, deployment.workQueueId);
  const queue = poolId
    ? db.select({ id: workQueues.id }).from(workQueues).where(and(eq(workQueues.workPoolId, poolId), eq(workQueues.name, name))).get()
    : undefined;
  if (queue) return queue.id;
  throw new DroverError(
    'WORK_QUEUE_NOT_FOUND',
    poolId ? `Work queue "${name}" not found in the work pool of deployment "${fullName()}"` : `Deployment "${fullName()}" has no work pool, so it has no queue "${name}"`,
    { workQueueName: name },
  );
}

export async function readFlowRun(ctx: StoreContext, id: string): Promise<FlowRun> {
  const run = loadRuns(ctx.db, [id])[0];
  if (!run) throw new DroverError('FLOW_RUN_NOT_FOUND', `Flow run ${id} not found`, { flowRunId: id });
  return run;
}

export async function listFlowRuns(ctx: StoreContext, input: FlowRunFilter): Promise<FlowRun[]> {
  const filter = FlowRunFilter.parse(input);
  const where: SQL[] = [];
  if (filter.states?.length) where.push(inArray(flowRuns.stateType, filter.states));
  if (filter.stateName !== undefined) where.push(eq(flowRuns.stateName, filter.stateName));
  if (filter.deploymentId !== undefined) where.push(eq(flowRuns.deploymentId, filter.deploymentId));
  if (filter.workPoolName !== undefined) where.push(eq(workPools.name, filter.workPoolName));
  if (filter.flowName !== undefined) where.push(eq(flows.name, filter.flowName));
  if (filter.tags?.length) where.push(jsonArrayContainsAll(flowRuns.tags, filter.tags));
  if (filter.expectedStartAfter !== undefined) where.push(gte(flowRuns.expectedStartTime, new Date(filter.expectedStartAfter).toISOString()));
  if (filter.expectedStartBefore !== undefined) where.push(lte(flowRuns.expectedStartTime, new Date(filter.expectedStartBefore).toISOString()));
  const order = filter.sort === 'EXPECTED_START_DESC' ? [desc(flowRuns.expectedStartTime), desc(flowRuns.id)] : [asc(flowRuns.expectedStartTime), asc(flowRuns.id)];
  return selectRuns(ctx.db)
    .where(and(...where))
    .orderBy(...order)
    .limit(filter.page.limit)
    .offset(filter.page.offset)
    .all()
    .map((r) => toFlowRun(flatten(r)));
}

/** Proposes a state; orchestration decides. The answer carries the run's state afterwards. */
export async function setFlowRunState(ctx: StoreContext, input: SetStateInput): Promise<OrchestrationResult> {
  const { flowRunId, state, force } = SetStateInput.parse(input);
  const { result, channels } = await ctx.commits.run(() => {
    const run = requireRun(ctx.db, flowRunId);
    const { result: value, retries, retryDelaySeconds, infrastructureId, ...proposal } = state;
    const result = transition(ctx, run, proposal, { force, extras: { result: value, retries, retryDelaySeconds, infrastructureId } });
    // A run rescheduled, or a slot freed by a run that ended, lets claimers take more.
    const frees = result.written && (result.written.type === 'SCHEDULED' || !ACTIVE_STATE_TYPES.includes(result.written.type));
    return { result, channels: frees ? channelsOf(ctx.db, [run]) : new Set<string>() };
  });
  if (result.written) ctx.events.emit('runStateChanged', flowRunId, result.written.type);
  announceRunsAvailable(ctx, channels);
  return { status: result.status, reason: result.reason, delaySeconds: result.delaySeconds, state: result.state };
}

/** Asks for a run to stop: a run with no job yet is CANCELLED at once, a running one CANCELLING. */
export async function cancelFlowRun(ctx: StoreContext, flowRunId: string, message = 'Cancelled by request'): Promise<OrchestrationResult> {
  return setFlowRunState(ctx, { flowRunId, state: { type: 'CANCELLING', message } });
}

/**
 * Records that the runs' jobs are alive (sent by the engine or its worker), and answers which of
 * them are CANCELLING, so the sender stops those jobs without a separate poll.
 */
export async function heartbeatFlowRuns(ctx: StoreContext, ids: readonly string[]): Promise<{ updated: number; cancelling: string[] }> {
  if (ids.length === 0) return { updated: 0, cancelling: [] };
  const now = ctx.clock.now().toISOString();
  return ctx.commits.run(() => {
    const result = ctx.db
      .update(flowRuns)
      .set({ lastHeartbeat: now })
      .where(and(inArray(flowRuns.id, [...ids]), inArray(flowRuns.stateType, [...ACTIVE_STATE_TYPES])))
      .run();
    const cancelling = ctx.db
      .select({ id: flowRuns.id })
      .from(flowRuns)
      .where(and(inArray(flowRuns.id, [...ids]), eq(flowRuns.stateType, 'CANCELLING')))
      .all()
      .map((r) => r.id);
    return { updated: result.changes, cancelling };
  });
}

/** Records where a run's job lives (after a worker launched it), so any worker can stop it later. */
export async function setInfrastructure(ctx: StoreContext, flowRunId: string, infrastructureId: string): Promise<FlowRun> {
  requireRun(ctx.db, flowRunId);
  ctx.db.update(flowRuns).set({ infrastructureId, updated: ctx.clock.now().toISOString() }).where(eq(flowRuns.id, flowRunId)).run();
  return readFlowRun(ctx, flowRunId);
}

/** A run's state history, oldest first. */
export async function readStateHistory(ctx: StoreContext, flowRunId: string) {
  requireRun(ctx.db, flowRunId);
  return ctx.db
    .select()
    .from(flowRunStates)
    .where(eq(flowRunStates.flowRunId, flowRunId))
    .orderBy(asc(flowRunStates.id))
    .all()
    .map((s) => ({ type: s.type as StateType, name: s.name, timestamp: s.timestamp, message: s.message, scheduledTime: s.scheduledTime }));
}

/** Deletes a run with its history and logs. */
export async function deleteFlowRun(ctx: StoreContext, flowRunId: string): Promise<{ id: string }> {
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
