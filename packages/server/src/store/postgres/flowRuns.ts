/**
 * Flow runs on PostgreSQL: the operations of ../flowRuns.ts (read there what each one means),
 * safe with several servers writing at once. A state change locks its run's row before
 * orchestration reads it, and, when the change takes a slot of a deployment with a concurrency
 * limit, the deployment's row before its runs are counted, so two servers never both apply a
 * change from the same state or both take the last slot. A create with an idempotency key leans
 * on the unique (flow_id, idempotency_key) index, so two servers never make two runs for one key.
 */
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
  SetInfrastructureInput,
  SetStateInput,
  STATE_NAMES,
  type State,
  type StateType,
  splitDeploymentName,
} from '@drover/schemas';
import { and, asc, count, desc, eq, gte, inArray, isNotNull, lte, or, type SQL, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { deployments, flowRunStates, flowRuns, flows, workPools, workQueues } from '../../db/pgSchema.js';
import type { PgDb, PgExecutor } from '../../db/postgres.js';
import { deploymentChannel, queueChannel } from '../../events.js';
import { runName, uuidv7 } from '../../ids.js';
import { type DeploymentSlots, holdsSlot, type NewState, orchestrate, type Proposal } from '../../orchestration.js';
import { assertJobVariables, assertParameters } from '../../parameters.js';
import { runTraceContext } from '../../tracing.js';
import {
  assertSameParameters,
  claimHashOf,
  claimLost,
  newRunRow,
  queueNotFound,
  queuesOf,
  type RunPlace,
  renderedRunName,
  repeatedProposal,
  runChannels,
  type StateExtras,
  type StateWrite,
  stateWrite,
  toHistoryState,
} from '../flowRuns.js';
import { type FlowRunRow, toFlowRun, toState } from '../rows.js';
import { batchedPer } from './batcher.js';
import { requireDeployment } from './deployments.js';
import {
  EVENTS_CHANNEL,
  notify,
  notifyPayloads,
  type PostgresContext,
  preparedOnPool,
  preparedQuery,
  runsAvailable,
  type StoreEvent,
  transaction,
} from './postgresContext.js';
import type { RecentRun } from './recentRuns.js';
import { columnNames, inList, jsonArrayContainsAll, rowJson, textArray } from './sqlDialect.js';

// The pure parts both stores share, for the other PostgreSQL modules that make and claim runs.
export { newClaim, type StateExtras } from '../flowRuns.js';

type RunRow = typeof flowRuns.$inferSelect;
type DeploymentRow = typeof deployments.$inferSelect;

const runQueue = alias(workQueues, 'run_queue');

/*
 * Statements on the hot paths (create, state changes, claims) are named (`.prepare(name)`): each
 * connection parses and plans them once. Drizzle binds a prepared query to the connection it was
 * built on, so they are built on each call from the executor at hand (a transaction's connection).
 * Names start with this module's ("flow_runs."): a name is one statement per connection.
 */

/** Runs with the names the API shows beside their ids. */
function selectRuns(db: PgExecutor) {
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

/**
 * Runs that hold a concurrency slot (see ../flowRuns.ts `holdsSlotSql`), over the PostgreSQL
 * `flow_runs` table.
 */
export const holdsSlotSql = or(
  inArray(flowRuns.stateType, [...ACTIVE_STATE_TYPES]),
  and(eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.retryInProcess, true)),
) as SQL;

/** The runs with these ids, in this order (ids not found are left out). */
async function loadRuns(db: PgDb, ids: readonly string[]): Promise<FlowRun[]> {
  if (ids.length === 0) return [];
  if (ids.length === 1) {
    const [row] = await preparedOnPool(db, 'flow_runs.run_with_names', (db, name) =>
      selectRuns(db)
        .where(eq(flowRuns.id, sql.placeholder('id')))
        .prepare(name),
    ).execute({ id: ids[0] });
    return row ? [toFlowRun(flatten(row))] : [];
  }
  const rows = await preparedOnPool(db, 'flow_runs.runs_with_names', (db, name) =>
    selectRuns(db)
      .where(sql`${flowRuns.id} = ANY(${sql.placeholder('ids')}::text[])`)
      .prepare(name),
  ).execute({ ids });
  const byId = new Map(rows.map((r) => [r.run.id, toFlowRun(flatten(r))]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

function runNotFound(id: string) {
  return droverErrorOf('FLOW_RUN_NOT_FOUND', `Flow run ${id} not found`, { flowRunId: id });
}

/** The run row, unlocked: for checks that a run exists and reads that change nothing. */
async function requireRun(db: PgExecutor, id: string): Promise<RunRow> {
  const [row] = await db
    .select()
    .from(flowRuns)
    .where(eq(flowRuns.id, sql.placeholder('id')))
    .prepare('flow_runs.run_by_id')
    .execute({ id });
  if (!row) throw runNotFound(id);
  return row;
}

/**
 * The run row, locked until the transaction ends (so no other server changes it meanwhile), with
 * the pool of its queue (for the channels its change may wake).
 */
async function lockRun(tx: PgExecutor, id: string): Promise<{ run: RunRow; workPoolId: string | null }> {
  const [row] = await tx
    .select({ run: flowRuns, workPoolId: workQueues.workPoolId })
    .from(flowRuns)
    .leftJoin(workQueues, eq(workQueues.id, flowRuns.workQueueId))
    .where(eq(flowRuns.id, sql.placeholder('id')))
    .for('update', { of: flowRuns })
    .prepare('flow_runs.lock_run')
    .execute({ id });
  if (!row) throw runNotFound(id);
  return row;
}

/** How many of the deployment's runs hold a slot now (see `holdsSlot`). */
async function activeRunsOfDeployment(db: PgExecutor, deploymentId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(flowRuns)
    .where(and(eq(flowRuns.deploymentId, sql.placeholder('id')), holdsSlotSql))
    .prepare('flow_runs.active_runs_of_deployment')
    .execute({ id: deploymentId });
  return row?.n ?? 0;
}

/**
 * The slots of a deployment that has a concurrency limit (null when it has none), counted under a
 * lock on its row that every slot taker takes first: the count then includes the slots that other
 * servers took and committed, and none is taken until this transaction ends. `NO KEY UPDATE`, not
 * `UPDATE`: it excludes the other slot takers alike, but not the key-share locks with which
 * inserting a run checks that its deployment exists, so creates are not held up by it.
 */
async function lockedDeploymentSlots(tx: PgExecutor, deploymentId: string): Promise<DeploymentSlots | null> {
  const [deployment] = await tx
    .select({ limit: deployments.concurrencyLimit, collisionStrategy: deployments.collisionStrategy })
    .from(deployments)
    .where(and(eq(deployments.id, sql.placeholder('id')), isNotNull(deployments.concurrencyLimit)))
    .for('no key update')
    .prepare('flow_runs.lock_limited_deployment')
    .execute({ id: deploymentId });
  if (deployment?.limit == null) return null;
  return { limit: deployment.limit, active: await activeRunsOfDeployment(tx, deploymentId), collisionStrategy: deployment.collisionStrategy };
}

/**
 * Writes an orchestrated state onto a run and into its history (see ../flowRuns.ts `stateWrite`),
 * in one statement. Returns the run's state as written.
 */
async function writeState(tx: PgExecutor, run: RunRow, state: NewState, now: Date, extras: StateExtras = {}): Promise<State> {
  const { set, history, state: written } = stateWrite(run, state, now, extras);
  // Data-modifying CTEs run whether or not the query reads them; drizzle puts each in parentheses.
  const update = tx.update(flowRuns).set(set).where(eq(flowRuns.id, run.id));
  const insert = tx.insert(flowRunStates).values(history);
  await tx.execute(sql`WITH run AS ${update}, state AS ${insert} SELECT 1`);
  return written;
}

/** What orchestration decided for a proposal, and the state it writes, if any (with what goes beside it). */
type Decided = {
  readonly result: OrchestrationResult;
  readonly write: { readonly state: NewState; readonly extras?: StateExtras } | null;
  readonly now: Date;
};

/** Orchestration's decision on `proposal` for `run`, with `deploymentSlots` counted by the caller. */
function decide(ctx: PostgresContext, run: RunRow, proposal: Proposal, deploymentSlots: DeploymentSlots | null, extras?: StateExtras): Decided {
  const now = ctx.clock.now();
  const decision = orchestrate(run, proposal, { now, deploymentSlots, slotWaitSeconds: ctx.settings.slotWaitSeconds });
  switch (decision.status) {
    case 'ACCEPT':
      return { result: { status: 'ACCEPT', reason: null, delaySeconds: null, state: toState(run) }, write: { state: decision.state, extras }, now };
    case 'REJECT':
      return {
        result: { status: 'REJECT', reason: decision.reason, delaySeconds: null, state: toState(run) },
        write: decision.state ? { state: decision.state } : null,
        now,
      };
    case 'WAIT':
      return { result: { status: 'WAIT', reason: decision.reason, delaySeconds: decision.delaySeconds, state: toState(run) }, write: null, now };
    case 'ABORT':
      return { result: { status: 'ABORT', reason: decision.reason, delaySeconds: null, state: toState(run) }, write: null, now };
  }
}

/** A change that makes `run` take a slot of its deployment: entering PENDING, or RUNNING without a slot (straight from SCHEDULED). */
function takesSlot(run: RunRow, proposal: Proposal): boolean {
  return run.deploymentId !== null && (proposal.type === 'PENDING' || (proposal.type === 'RUNNING' && !holdsSlot(run)));
}

/**
 * Runs orchestration for one proposal on `run` and writes the outcome, in the caller's
 * transaction `tx`, which must hold the lock on the run's row (`SELECT ... FOR UPDATE`) that `run`
 * was read under. Without `deploymentSlots`, a change that takes a slot of a deployment with a
 * limit locks the deployment's row (after the run's: the store's lock order) and counts its slots.
 */
export async function transition(
  tx: PgExecutor,
  ctx: PostgresContext,
  run: RunRow,
  proposal: Proposal,
  options: { extras?: StateExtras; deploymentSlots?: DeploymentSlots | null } = {},
): Promise<OrchestrationResult & { written: NewState | null }> {
  let deploymentSlots = options.deploymentSlots ?? null;
  if (options.deploymentSlots === undefined && takesSlot(run, proposal)) deploymentSlots = await lockedDeploymentSlots(tx, run.deploymentId as string);
  const { result, write, now } = decide(ctx, run, proposal, deploymentSlots, options.extras);
  if (!write) return { ...result, written: null };
  return { ...result, state: await writeState(tx, run, write.state, now, write.extras), written: write.state };
}

/**
 * The `runsAvailable` channels on which these runs' claimers wait: their work pools and queues
 * (workers) and their deployments (runners), each with how many of the runs it offers.
 */
export async function channelsOf(db: PgExecutor, runs: readonly RunPlace[]): Promise<Map<string, number>> {
  const queues = queuesOf(runs);
  const pools = new Map<string, string>();
  if (queues.length > 0) {
    const rows = await db
      .select({ queue: workQueues.id, pool: workQueues.workPoolId })
      .from(workQueues)
      .where(sql`${workQueues.id} = ANY(${sql.placeholder('ids')}::text[])`)
      .prepare('flow_runs.pools_of_queues')
      .execute({ ids: queues });
    for (const { queue, pool } of rows) pools.set(queue, pool);
  }
  return runChannels(runs, pools);
}

/** A deployment with the names a new run of it shows: its flow's, and its queue's and pool's. */
function deploymentsWithNames(db: PgExecutor) {
  return db
    .select({ deployment: deployments, flowName: flows.name, workQueueName: workQueues.name, workPoolId: workPools.id, workPoolName: workPools.name })
    .from(deployments)
    .innerJoin(flows, eq(flows.id, deployments.flowId))
    .leftJoin(workQueues, eq(workQueues.id, deployments.workQueueId))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId));
}

type DeploymentWithNames = {
  deployment: DeploymentRow;
  flowName: string;
  workQueueName: string | null;
  workPoolId: string | null;
  workPoolName: string | null;
};

/** The deployment `ref` names (its id, or `flow/name`) with its names, read with the others asked for at the same moment (batcher.ts). */
const deploymentWithNames = batchedPer(deploymentsWithNamesByRef);

async function deploymentsWithNamesByRef(db: PgDb, refs: readonly string[]): Promise<(DeploymentWithNames | undefined)[]> {
  const ids = [...new Set(refs.filter((ref) => !ref.includes('/')))];
  const names = [...new Set(refs.filter((ref) => ref.includes('/')))].map(splitDeploymentName);
  const [byId, byName] = await Promise.all([
    ids.length === 0
      ? []
      : preparedOnPool(db, 'flow_runs.deployments_with_names_by_id', (db, name) =>
          deploymentsWithNames(db)
            .where(sql`${deployments.id} = ANY(${sql.placeholder('ids')}::text[])`)
            .prepare(name),
        ).execute({ ids }),
    names.length === 0
      ? []
      : preparedOnPool(db, 'flow_runs.deployments_with_names_by_name', (db, name) =>
          deploymentsWithNames(db)
            // A lookup per name on (flow, name) (OFFSET 0 keeps it one): as a join, the planner
            // matched the names against every deployment of the flow.
            .where(
              sql`${deployments.id} IN (SELECT found.id FROM unnest(${sql.placeholder('flowNames')}::text[], ${sql.placeholder('deploymentNames')}::text[]) AS ref(flow_name, name)
                CROSS JOIN LATERAL (SELECT d.id FROM deployments d JOIN flows f ON f.id = d.flow_id WHERE f.name = ref.flow_name AND d.name = ref.name OFFSET 0) AS found)`,
            )
            .prepare(name),
        ).execute({ flowNames: names.map((n) => n.flowName), deploymentNames: names.map((n) => n.deploymentName) }),
  ]);
  const found = new Map<string, DeploymentWithNames>();
  for (const row of byId) found.set(row.deployment.id, row);
  for (const row of byName) found.set(`${row.flowName}/${row.deployment.name}`, row);
  return refs.map((ref) => {
    if (!ref.includes('/')) return found.get(ref);
    const { flowName, deploymentName } = splitDeploymentName(ref);
    return found.get(`${flowName}/${deploymentName}`);
  });
}

/**
 * The deployment a new run is of, with its names (`deploymentWithNames`, batched): the same
 * lookup as `requireDeployment` (by id, or by `flow/name`); a miss goes to `requireDeployment`
 * for its error.
 */
async function findDeployment(db: PgDb, ref: string): Promise<DeploymentWithNames> {
  const row = (await deploymentWithNames(db, ref)) ?? (await deploymentWithNames(db, (await requireDeployment(db, ref)).id));
  if (!row) throw droverErrorOf('DEPLOYMENT_NOT_FOUND', `Deployment "${ref}" not found`, { deployment: ref });
  return row;
}

/**
 * The run of `flowId` with idempotency key `key`. Not a prepared statement: a generic plan made
 * while `flow_runs` was nearly empty (a new database) can stay on another index of `flow_id` and
 * read every run of the flow for ever after; this is only asked after a create's key collided.
 */
async function runByIdempotencyKey(db: PgExecutor, flowId: string, key: string): Promise<RunRow | undefined> {
  const [row] = await db
    .select()
    .from(flowRuns)
    .where(and(eq(flowRuns.flowId, flowId), eq(flowRuns.idempotencyKey, key)));
  return row;
}

const RUN_COLUMNS = columnNames(flowRuns);

/** A run to insert with its first state, and what to announce of it (sent on commit). */
type NewRun = { readonly row: Omit<RunRow, 'result'>; readonly events: readonly StoreEvent[] };

/**
 * Inserts a new run and its first state, and announces it, in one statement (no BEGIN and COMMIT
 * round trips), with the other runs created at the same moment (batcher.ts); returns the version
 * of the run's row (see recentRuns.ts). Unless a run of its flow has its idempotency key: then
 * nothing is written nor sent for it and this returns null. A run with the same key that another
 * server is inserting at this moment is waited for, and counts once it commits.
 */
const insertNewRun = batchedPer(insertNewRuns);

async function insertNewRuns(db: PgDb, runs: readonly NewRun[]): Promise<(string | null)[]> {
  const announced = runs.flatMap(({ row, events }) => notifyPayloads(events).map((payload) => ({ id: row.id, payload })));
  const inserted = await preparedQuery<{ id: string; version: string }>(db, 'drover_insert_runs', INSERT_RUNS, [
    JSON.stringify(runs.map(({ row }) => rowJson(RUN_COLUMNS, row))),
    EVENTS_CHANNEL,
    announced.map((a) => a.id),
    announced.map((a) => a.payload),
  ]);
  const versions = new Map(inserted.map((r) => [r.id, r.version]));
  return runs.map(({ row }) => versions.get(row.id) ?? null);
}

const INSERT_RUNS = `WITH run AS (
    INSERT INTO flow_runs SELECT * FROM json_populate_recordset(NULL::flow_runs, $1::json)
    ON CONFLICT (flow_id, idempotency_key) DO NOTHING
    RETURNING id, state_type, state_name, state_timestamp, next_scheduled_start_time, xmin::text AS version),
  state AS (
    INSERT INTO flow_run_states (flow_run_id, type, name, timestamp, message, scheduled_time)
    SELECT id, state_type, state_name, state_timestamp, NULL, next_scheduled_start_time FROM run),
  sent AS (SELECT pg_notify($2, e.payload) FROM unnest($3::text[], $4::text[]) AS e(id, payload) JOIN run ON run.id = e.id)
  SELECT id, version, (SELECT count(*) FROM sent) AS notified FROM run`;

/**
 * Creates a run of a deployment. Parameters are the deployment's, shallow-merged with the given
 * ones, and checked against its schema when it enforces one. An idempotency key returns the run
 * it made before; the same key with other parameters is IDEMPOTENCY_CONFLICT.
 *
 * Reads, then one statement that writes (`insertNewRun`): no explicit transaction, which would
 * cost two more round trips and locked nothing that the reads need (a deployment deleted in
 * between fails the insert's foreign key, as it would have failed inside a transaction).
 */
export async function createFlowRun(ctx: PostgresContext, input: FlowRunCreate): Promise<FlowRun> {
  const spec = FlowRunCreate.parse(input);
  const now = ctx.clock.now();
  // Made before the first round trip: concurrent creates get ids (which order runs of one time) in the order they arrived.
  const id = uuidv7(now.getTime());
  const iso = now.toISOString();
  const db = ctx.db;
  const { deployment, flowName, workPoolId, workPoolName, ...names } = await findDeployment(db, spec.deployment);
  const fullName = `${flowName}/${deployment.name}`;
  const parameters = { ...deployment.parameters, ...spec.parameters };
  if (deployment.enforceParameterSchema && deployment.parameterSchema) assertParameters(fullName, deployment.parameterSchema, parameters);
  let workQueueId = deployment.workQueueId;
  let workQueueName = names.workQueueName;
  if (spec.workQueueName !== undefined) {
    workQueueId = await requireQueueOfDeployment(db, workPoolId, spec.workQueueName, fullName);
    workQueueName = spec.workQueueName;
  }
  if (workQueueId !== null && Object.keys(spec.jobVariables).length > 0) {
    const [pool] = await db
      .select({ name: workPools.name, template: workPools.baseJobTemplate })
      .from(workQueues)
      .innerJoin(workPools, eq(workPools.id, workQueues.workPoolId))
      .where(eq(workQueues.id, workQueueId));
    if (pool) assertJobVariables(`a run of ${fullName}`, pool.name, pool.template.variables, spec.jobVariables);
  }
  // A child names a parent that exists (runs are deleted with no cascade, so a stale id is refused here).
  if (spec.parentFlowRunId !== undefined) await requireRun(db, spec.parentFlowRunId);
  const scheduledTime = spec.scheduledTime ? new Date(spec.scheduledTime).toISOString() : iso;
  const name =
    spec.name ??
    (deployment.flowRunName === null ? runName(id) : renderedRunName(deployment.flowRunName, flowName, deployment.name, parameters, new Date(scheduledTime)));
  const row = newRunRow(
    {
      id,
      name,
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
  // A run's queue is its deployment's or another of the same pool (`requireQueueOfDeployment`), so its pool is the deployment's.
  const runPoolId = workQueueId === null ? null : workPoolId;
  const channels = new Map([[deploymentChannel(deployment.id), 1]]);
  if (runPoolId) channels.set(runPoolId, 1);
  if (workQueueId) channels.set(queueChannel(workQueueId), 1);
  for (;;) {
    const version = await insertNewRun(db, { row, events: runsAvailable(channels) });
    if (version !== null) {
      ctx.recentRuns.remember({ run: { ...row, result: null }, workPoolId: runPoolId, version });
      break;
    }
    // A run of this flow has the key: that run is the answer.
    const existing = await runByIdempotencyKey(db, deployment.flowId, spec.idempotencyKey as string);
    if (existing) return existingRun(db, spec.idempotencyKey as string, existing, parameters);
    // It was deleted as soon as made: the key is free again.
  }
  // The answer is built from what was written, with the names beside it, not read back.
  return toFlowRun({
    ...row,
    result: null,
    flowName,
    deploymentName: deployment.name,
    workQueueName,
    workPoolName: runPoolId === null ? null : workPoolName,
  });
}

/** The run an idempotency key made before, when asked for again with the same parameters. */
async function existingRun(db: PgDb, key: string, existing: RunRow, parameters: Record<string, unknown>): Promise<FlowRun> {
  assertSameParameters(key, existing, parameters);
  return (await loadRuns(db, [existing.id]))[0] as FlowRun;
}

async function requireQueueOfDeployment(db: PgExecutor, poolId: string | null, name: string, fullName: string): Promise<string> {
  const [queue] = poolId
    ? await db
        .select({ id: workQueues.id })
        .from(workQueues)
        .where(and(eq(workQueues.workPoolId, poolId), eq(workQueues.name, name)))
    : [];
  if (queue) return queue.id;
  const queues = poolId
    ? (await db.select({ name: workQueues.name }).from(workQueues).where(eq(workQueues.workPoolId, poolId)).orderBy(asc(workQueues.priority))).map(
        (q) => q.name,
      )
    : [];
  throw queueNotFound(name, poolId, queues, fullName);
}

export async function readFlowRun(ctx: PostgresContext, id: string): Promise<FlowRun> {
  const run = (await loadRuns(ctx.db, [id]))[0];
  if (!run) throw runNotFound(id);
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

export async function listFlowRuns(ctx: PostgresContext, input: FlowRunFilter): Promise<FlowRun[]> {
  const filter = FlowRunFilter.parse(input);
  const order =
    filter.sort === 'EXPECTED_START_DESC' ? [desc(flowRuns.expectedStartTime), desc(flowRuns.id)] : [asc(flowRuns.expectedStartTime), asc(flowRuns.id)];
  const rows = await selectRuns(ctx.db)
    .where(runFilterWhere(filter))
    .orderBy(...order)
    .limit(filter.page.limit)
    .offset(filter.page.offset);
  return rows.map((r) => toFlowRun(flatten(r)));
}

/** How many runs match the filter (a list's total; slots in use when filtered by the states that hold one). */
export async function countFlowRuns(ctx: PostgresContext, input: FlowRunCountFilter): Promise<FlowRunCount> {
  const filter = FlowRunCountFilter.parse(input);
  // Joined only when a filter names a flow or a pool, as in SQLite: a count needs the names no more than it needs them.
  let query = ctx.db.select({ runs: count() }).from(flowRuns).$dynamic();
  if (filter.flowName !== undefined) query = query.innerJoin(flows, eq(flows.id, flowRuns.flowId));
  if (filter.workPoolName !== undefined) {
    query = query.innerJoin(runQueue, eq(runQueue.id, flowRuns.workQueueId)).innerJoin(workPools, eq(workPools.id, runQueue.workPoolId));
  }
  const [row] = await query.where(runFilterWhere(filter));
  return { count: row?.runs ?? 0 };
}

/** The runs with these ids, each with its claim's token (for the claimer's answer). */
export async function claimedRuns(db: PgDb, claims: readonly { id: string; token: string }[]): Promise<ClaimedFlowRun[]> {
  const tokens = new Map(claims.map((c) => [c.id, c.token]));
  return (await loadRuns(db, [...tokens.keys()])).map((run) => ({ ...run, claimToken: tokens.get(run.id) as string }));
}

/**
 * Proposes a state; orchestration decides. The answer carries the run's state afterwards. A
 * proposal with a claim token that no longer holds the run is ABORTed and writes nothing.
 *
 * Most proposals (RUNNING after PENDING, the final states) take no deployment slot: they read the
 * run, decide, and write in one statement on the condition that the row is still the version read
 * (its `xmin`); when another change came first, they read and decide again. Two round trips, no
 * lock held between them. A proposal that takes a slot counts the deployment's slots under its
 * lock, in a transaction (`lockedSetFlowRunState`).
 */
export async function setFlowRunState(ctx: PostgresContext, input: SetStateInput): Promise<OrchestrationResult> {
  const proposed = SetStateInput.parse(input);
  const { result: value, retries, retryDelaySeconds, ...proposal } = proposed.state;
  const extras = { result: value, retries, retryDelaySeconds };
  // This server's copy of the run first (recentRuns.ts); an answer decided on it is given only once its write succeeded.
  let recent = ctx.recentRuns.get(proposed.flowRunId);
  for (;;) {
    const fromCopy = recent !== undefined;
    const { run, workPoolId, version } = recent ?? (await readRunVersion(ctx.db, proposed.flowRunId));
    recent = undefined;
    const refused = refusedProposal(run, proposed);
    if (refused && fromCopy) continue;
    if (refused) return refused;
    if (takesSlot(run, proposal)) return lockedSetFlowRunState(ctx, proposed);
    const { result, write, now } = decide(ctx, run, proposal, null, extras);
    if (!write && fromCopy) continue;
    if (!write) return result;
    const written = stateWrite(run, write.state, now, write.extras);
    const newVersion = await writeStateIfUnchanged(ctx.db, { id: run.id, version, written, events: stateChangeEvents(run, workPoolId, write.state) });
    if (newVersion === null) {
      ctx.recentRuns.forget(run.id);
      continue;
    }
    if (isTerminal(write.state.type)) ctx.recentRuns.forget(run.id);
    else ctx.recentRuns.remember({ run: { ...run, ...written.set }, workPoolId, version: newVersion });
    return { ...result, state: written.state };
  }
}

/** The run's row as it is now, with its queue's pool and the row's version. */
async function readRunVersion(db: PgDb, id: string): Promise<RecentRun> {
  const [read] = await preparedOnPool(db, 'flow_runs.run_with_version', (db, name) =>
    db
      .select({ run: flowRuns, workPoolId: workQueues.workPoolId, version: sql<string>`${flowRuns}.xmin::text` })
      .from(flowRuns)
      .leftJoin(workQueues, eq(workQueues.id, flowRuns.workQueueId))
      .where(eq(flowRuns.id, sql.placeholder('id')))
      .prepare(name),
  ).execute({ id });
  if (!read) throw runNotFound(id);
  return read;
}

/** The answer to a proposal that a claim token refuses: the claim was lost, or the state is the one the run has. */
function refusedProposal(run: RunRow, { state, claimToken }: SetStateInput): OrchestrationResult | null {
  if (claimToken === undefined) return null;
  const lost = claimLost(run, claimToken);
  if (lost !== null) return { status: 'ABORT', reason: lost, delaySeconds: null, state: toState(run) };
  const again = repeatedProposal(run, state.type);
  return again === null ? null : { ...again, delaySeconds: null, state: toState(run) };
}

/** What the run's waiters hear of its new state; a run rescheduled, or a slot freed by a run that ended, lets claimers take more. */
function stateChangeEvents(run: RunRow, workPoolId: string | null, written: NewState): StoreEvent[] {
  const events: StoreEvent[] = [{ type: 'runStateChanged', flowRunId: run.id, stateType: written.type }];
  if (written.type === 'SCHEDULED' || !ACTIVE_STATE_TYPES.includes(written.type)) {
    const pools = new Map(run.workQueueId !== null && workPoolId !== null ? [[run.workQueueId, workPoolId]] : []);
    events.push(...runsAvailable(runChannels([run], pools)));
  }
  return events;
}

/** A state to write onto a run if its row is still at `version`, with its history row and its events. */
type ConditionalWrite = { readonly id: string; readonly version: string; readonly written: StateWrite; readonly events: readonly StoreEvent[] };

/**
 * Writes a state onto the run, its history row and its events, if the run's row is still at
 * `version` (its `xmin`: every change to a row makes a new version); returns the row's new
 * version. Null, with nothing written, when it changed since it was read. In one statement with
 * the other state changes of the same moment (batcher.ts).
 */
const writeStateIfUnchanged = batchedPer(writeStatesIfUnchanged);

/**
 * The statement of `writeStateIfUnchanged` for many runs: one UPDATE per set of columns written
 * (a CTE each), whose rows travel as JSON (`rowJson`) beside their versions, numbered so the
 * history rows and events of the runs written, and only those, follow. A run twice in the batch
 * (two proposals at once) is written at most once: its second write answers null and is decided
 * again on the row as the first left it.
 */
async function writeStatesIfUnchanged(db: PgDb, writes: readonly ConditionalWrite[]): Promise<(string | null)[]> {
  const first = new Map<string, number>();
  const groups = new Map<string, { index: number; write: ConditionalWrite }[]>();
  for (const [index, write] of writes.entries()) {
    if (first.has(write.id)) continue;
    first.set(write.id, index);
    const columns = Object.keys(write.written.set).sort().join(',');
    const group = groups.get(columns);
    if (group) group.push({ index, write });
    else groups.set(columns, [{ index, write }]);
  }
  const updates: SQL[] = [];
  const histories: SQL[] = [];
  const announced: { index: number; payload: string }[] = [];
  for (const [g, [columns, members]] of [...groups].entries()) {
    const set = columns
      .split(',')
      .map((field) => sql`${sql.identifier(RUN_COLUMNS.get(field) as string)} = v.${sql.identifier(RUN_COLUMNS.get(field) as string)}`);
    const rows = members.map(({ write }) => rowJson(RUN_COLUMNS, { id: write.id, ...write.written.set }));
    const versions = members.map(({ write }) => write.version);
    const indexes = members.map(({ index }) => index);
    updates.push(sql`${sql.identifier(`runs${g}`)} AS (
      UPDATE flow_runs SET ${sql.join(set, sql`, `)}
      FROM json_populate_recordset(NULL::flow_runs, ${JSON.stringify(rows)}::json) WITH ORDINALITY AS v
      JOIN unnest(${sql.param(versions)}::xid[], ${sql.param(indexes)}::int[]) WITH ORDINALITY AS c(version, pos, n) ON c.n = v.ordinality
      WHERE flow_runs.id = v.id AND flow_runs.xmin = c.version
      RETURNING c.pos, flow_runs.xmin::text AS version)`);
    for (const { index, write } of members) {
      const { flowRunId, type, name, timestamp, message, scheduledTime } = write.written.history;
      histories.push(sql`(${index}::int, ${flowRunId}::text, ${type}::text, ${name}::text, ${timestamp}::text, ${message}::text, ${scheduledTime}::text)`);
      for (const payload of notifyPayloads(write.events)) announced.push({ index, payload });
    }
  }
  const written = sql.join(
    [...groups.keys()].map((_, g) => sql`SELECT pos, version FROM ${sql.identifier(`runs${g}`)}`),
    sql` UNION ALL `,
  );
  const { rows } = await db.execute<{ pos: number; version: string }>(sql`WITH ${sql.join(updates, sql`, `)},
    written AS (${written}),
    history AS (
      INSERT INTO flow_run_states (flow_run_id, type, name, timestamp, message, scheduled_time)
      SELECT h.flow_run_id, h.type, h.name, h.timestamp, h.message, h.scheduled_time
      FROM (VALUES ${sql.join(histories, sql`, `)}) AS h(pos, flow_run_id, type, name, timestamp, message, scheduled_time)
      JOIN written ON written.pos = h.pos
      ORDER BY h.pos),
    sent AS (
      SELECT pg_notify(${EVENTS_CHANNEL}, e.payload)
      FROM unnest(${sql.param(announced.map((a) => a.index))}::int[], ${textArray(announced.map((a) => a.payload))}) AS e(pos, payload)
      JOIN written ON written.pos = e.pos)
    SELECT pos, version, (SELECT count(*) FROM sent) AS notified FROM written`);
  const versions = new Map(rows.map((r) => [r.pos, r.version]));
  return writes.map((_, index) => versions.get(index) ?? null);
}

/** `setFlowRunState` for a proposal that takes a deployment slot: the run and the deployment locked, in one transaction. */
async function lockedSetFlowRunState(ctx: PostgresContext, input: SetStateInput): Promise<OrchestrationResult> {
  const { flowRunId, state } = input;
  ctx.recentRuns.forget(flowRunId);
  const result = await transaction(ctx, async (tx) => {
    const { run, workPoolId } = await lockRun(tx, flowRunId);
    const refused = refusedProposal(run, input);
    if (refused) return { ...refused, written: null };
    const { result: value, retries, retryDelaySeconds, ...proposal } = state;
    const result = await transition(tx, ctx, run, proposal, { extras: { result: value, retries, retryDelaySeconds } });
    if (result.written) await notify(tx, stateChangeEvents(run, workPoolId, result.written));
    return result;
  });
  return { status: result.status, reason: result.reason, delaySeconds: result.delaySeconds, state: result.state };
}

/**
 * Runs a finished run again (FAILED, CRASHED or CANCELLED): back to SCHEDULED, AwaitingRetry, due
 * now, with its history and logs kept; workers claim it like any due run.
 */
export async function retryFlowRun(ctx: PostgresContext, flowRunId: string): Promise<OrchestrationResult> {
  return setFlowRunState(ctx, { flowRunId, state: { type: 'SCHEDULED', name: STATE_NAMES.awaitingRetry, message: 'Retried by request' } });
}

/**
 * Asks for a run to stop: a run with no job yet is CANCELLED at once, a running one CANCELLING.
 * Its unfinished descendants are cancelled first, deepest first, so no child outlives the parent
 * that waits for it.
 */
export async function cancelFlowRun(ctx: PostgresContext, flowRunId: string, message = 'Cancelled by request'): Promise<OrchestrationResult> {
  await requireRun(ctx.db, flowRunId);
  for (const child of (await unfinishedDescendants(ctx.db, flowRunId)).reverse()) {
    await setFlowRunState(ctx, { flowRunId: child, state: { type: 'CANCELLING', message: `Its parent run ${flowRunId} was cancelled` } });
  }
  return setFlowRunState(ctx, { flowRunId, state: { type: 'CANCELLING', message } });
}

/** The unfinished runs below `flowRunId`, parents before children (breadth first, bounded against cycles). */
async function unfinishedDescendants(db: PgExecutor, flowRunId: string): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set([flowRunId]);
  let level = [flowRunId];
  while (level.length > 0 && seen.size < 100_000) {
    const children = (await db.select({ id: flowRuns.id, stateType: flowRuns.stateType }).from(flowRuns).where(inList(flowRuns.parentFlowRunId, level))).filter(
      (c) => !seen.has(c.id),
    );
    for (const child of children) seen.add(child.id);
    found.push(...children.filter((c) => !isTerminal(c.stateType)).map((c) => c.id));
    level = children.map((c) => c.id);
  }
  return found;
}

/**
 * Records that the runs' jobs are alive, and answers which of them are CANCELLING and which are
 * no longer the sender's (`lost`); a lost run's heartbeat is not recorded. One statement records
 * the heartbeats of the runs that hold a slot under the sender's claim (each row checked as it is
 * updated, after any state change that holds it commits), and the answer is read from what it
 * updated.
 */
export async function heartbeatFlowRuns(ctx: PostgresContext, input: RunHeartbeat): Promise<RunHeartbeatResult> {
  const { runs } = RunHeartbeat.parse(input);
  const now = ctx.clock.now().toISOString();
  const ids = runs.map((r) => r.id);
  const hashes = runs.map((r) => (r.claimToken === undefined ? null : claimHashOf(r.claimToken)));
  // In a transaction only for its retry: rows locked in another order by another server may deadlock.
  const rows = await transaction(ctx, (tx) =>
    tx
      .update(flowRuns)
      .set({ lastHeartbeat: now })
      .from(sql`unnest(${sql.param(ids)}::text[], ${sql.param(hashes)}::text[]) AS sent(id, claim_hash)`)
      .where(and(sql`${flowRuns.id} = sent.id AND (sent.claim_hash IS NULL OR ${flowRuns.claimHash} = sent.claim_hash)`, holdsSlotSql))
      .returning({ id: flowRuns.id, stateType: flowRuns.stateType, claimHash: flowRuns.claimHash }),
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  const alive: string[] = [];
  const cancelling: string[] = [];
  const lost: string[] = [];
  for (const { id, claimToken } of runs) {
    const row = byId.get(id);
    // Not updated: gone, holding no slot, or under another claim. Updated, but for another entry of the same run with another token: lost too.
    if (!row || (claimToken !== undefined && row.claimHash !== claimHashOf(claimToken))) {
      lost.push(id);
      continue;
    }
    alive.push(id);
    if (row.stateType === 'CANCELLING') cancelling.push(id);
  }
  return { updated: alive.length, cancelling, lost };
}

/**
 * Records where a claimed run's job lives (after its worker launched it), so any worker can stop
 * it later. Only the holder of the run's current claim may.
 */
export async function setInfrastructure(ctx: PostgresContext, input: SetInfrastructureInput): Promise<FlowRun> {
  const { id, infrastructureId, claimToken } = SetInfrastructureInput.parse(input);
  // One conditional update: the claim is checked on the row as it is written, so no lock is held across round trips.
  for (;;) {
    const updated = await ctx.db
      .update(flowRuns)
      .set({ infrastructureId, updated: ctx.clock.now().toISOString() })
      .where(and(eq(flowRuns.id, id), eq(flowRuns.claimHash, claimHashOf(claimToken))))
      .returning({ id: flowRuns.id });
    if (updated.length > 0) break;
    const lost = claimLost(await requireRun(ctx.db, id), claimToken);
    if (lost !== null) throw droverErrorOf('CLAIM_LOST', `Cannot record the job of run ${id}: ${lost}`, { flowRunId: id });
    // The claim holds the run after all: it was read between two changes of the run; try again.
  }
  return readFlowRun(ctx, id);
}

/** A run's state history, oldest first. */
export async function readStateHistory(ctx: PostgresContext, flowRunId: string) {
  await requireRun(ctx.db, flowRunId);
  const rows = await ctx.db.select().from(flowRunStates).where(eq(flowRunStates.flowRunId, flowRunId)).orderBy(asc(flowRunStates.id));
  return rows.map(toHistoryState);
}

/** Deletes a run with its history and logs. */
export async function deleteFlowRun(ctx: PostgresContext, flowRunId: string): Promise<FlowRunDeleted> {
  const deleted = await ctx.db.delete(flowRuns).where(eq(flowRuns.id, flowRunId)).returning({ id: flowRuns.id });
  if (deleted.length === 0) throw runNotFound(flowRunId);
  return { id: flowRunId };
}

/** Waits until the run reaches a final state or `timeoutMs` passes, then returns it as it is. */
export async function waitForFlowRun(ctx: PostgresContext, flowRunId: string, timeoutMs: number): Promise<FlowRun> {
  // Listening before the first read: the run may end (and its event arrive) while that read is on the wire.
  let ended = () => {};
  const end = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const onChange = (id: string, type: string) => {
    if (id === flowRunId && isTerminal(type as StateType)) ended();
  };
  ctx.events.on('runStateChanged', onChange);
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = await readFlowRun(ctx, flowRunId);
    if (isTerminal(run.state.type) || timeoutMs === 0) return run;
    await Promise.race([end, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    ctx.events.off('runStateChanged', onChange);
  }
  return readFlowRun(ctx, flowRunId);
}
