import {
  type Deployment,
  DeploymentCreate,
  type DeploymentDeleted,
  DeploymentFilter,
  type DeploymentRef,
  DeploymentScheduleCreate,
  DeploymentScheduleUpdate,
  DeploymentUpdate,
  type DeploymentUpserted,
  splitDeploymentName,
} from '@drover/schemas';
import { and, asc, eq, inArray, type SQL } from 'drizzle-orm';
import { deploymentSchedules, deployments, flows, workPools, workQueues } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { uuidv7 } from '../../ids.js';
import { assertJobVariables, assertParameterSchema } from '../../parameters.js';
import {
  assertNoQueueWithoutPool,
  assertUniqueSlugs,
  autoRunsChange,
  checkChangedRunName,
  checkRunNameTemplate,
  type DeploymentChanges,
  type DeploymentRow,
  deploymentNotFound,
  deploymentValues,
  isId,
  matchSchedules,
  namedQueueRow,
  type ParsedSchedule,
  planChange,
  type ReadinessClock,
  requireSchedule,
  scheduleRunsChange,
  scheduleValues,
} from '../deployments.js';
import { toDeployment } from '../rows.js';
import type { QueueRow } from '../workQueues.js';
import { ensureFlow, inByteOrder } from './flows.js';
import { notify, type PostgresContext, type StoreEvent, transaction } from './postgresContext.js';
import { deploymentReadiness, type PoolFacts, poolFacts } from './readiness.js';
import { deleteFutureAutoRuns, rekeyAutoRuns } from './scheduledRuns.js';
import { jsonArrayContainsAll } from './sqlDialect.js';
import { lockPool, requirePool } from './workPools.js';

export type { DeploymentRow, ReadinessClock } from '../deployments.js';

/*
 * Concurrency: a write of a deployment locks its row first (`requireDeployment(tx, ref, lock)`, or
 * the upsert's insert-or-lock), so two servers changing one deployment take turns and neither
 * loses the other's schedules. FOR NO KEY UPDATE, not FOR UPDATE: runs being created for the
 * deployment (whose foreign key takes KEY SHARE on it) are not held up.
 */

/** How `requireDeployment` locks the row until the transaction ends. */
type RowLock = 'update' | 'no key update';

/** The deployment row for an id or `flow/name`, or DEPLOYMENT_NOT_FOUND; locked when `lock` is given (inside a transaction). */
export async function requireDeployment(db: PgExecutor, ref: DeploymentRef, lock?: RowLock): Promise<DeploymentRow> {
  let row: DeploymentRow | undefined;
  if (isId(ref)) {
    const query = db.select().from(deployments).where(eq(deployments.id, ref));
    [row] = lock ? await query.for(lock) : await query;
  } else {
    const { flowName, deploymentName } = splitDeploymentName(ref);
    const query = db
      .select({ d: deployments })
      .from(deployments)
      .innerJoin(flows, eq(flows.id, deployments.flowId))
      .where(and(eq(flows.name, flowName), eq(deployments.name, deploymentName)));
    row = (lock ? await query.for(lock, { of: deployments }) : await query)[0]?.d;
  }
  if (!row) throw deploymentNotFound(ref);
  return row;
}

/**
 * The queue a deployment's runs go to: the named queue of the pool (created when missing, as
 * Prefect does), or the pool's default queue. No pool means no queue (runs served by a runner).
 */
async function resolveQueue(tx: PgExecutor, workPoolName: string | null, workQueueName: string | null, now: Date): Promise<string | null> {
  if (workPoolName === null) {
    assertNoQueueWithoutPool(workQueueName);
    return null;
  }
  const pool = await requirePool(tx, workPoolName);
  if (workQueueName === null) return pool.defaultQueueId;
  const existing = await queueNamed(tx, pool.id, workQueueName);
  if (existing) return existing;
  // Creating it: under the pool's lock, as every writer of its queues, so two deploys naming the
  // same new queue create it once and priorities stay distinct.
  await lockPool(tx, workPoolName);
  const taken = await tx
    .select({ name: workQueues.name, id: workQueues.id, p: workQueues.priority })
    .from(workQueues)
    .where(eq(workQueues.workPoolId, pool.id));
  const created = taken.find((q) => q.name === workQueueName);
  if (created) return created.id;
  const row = namedQueueRow(
    pool.id,
    workQueueName,
    taken.map((q) => q.p),
    now,
  );
  await tx.insert(workQueues).values(row);
  return row.id;
}

async function queueNamed(db: PgExecutor, workPoolId: string, name: string): Promise<string | undefined> {
  const [row] = await db
    .select({ id: workQueues.id })
    .from(workQueues)
    .where(and(eq(workQueues.workPoolId, workPoolId), eq(workQueues.name, name)));
  return row?.id;
}

/**
 * Replaces a deployment's schedules with `incoming`, keeping the id of each schedule that matches
 * an existing one (see `matchSchedules`). Returns the ids whose future auto-runs are now wrong.
 * The caller holds the deployment's row lock, so no other server reconciles them at once.
 */
async function reconcileSchedules(tx: PgExecutor, deploymentId: string, incoming: readonly ParsedSchedule[], now: string): Promise<string[]> {
  assertUniqueSlugs(incoming);
  // In id order (time order), as SQLite reads them in insertion order: of identical schedules, the oldest keeps its id.
  const existing = await tx.select().from(deploymentSchedules).where(eq(deploymentSchedules.deploymentId, deploymentId)).orderBy(asc(deploymentSchedules.id));
  const { matches, unmatched } = matchSchedules(existing, incoming);
  const stale = unmatched.map((row) => row.id);
  if (stale.length > 0) await tx.delete(deploymentSchedules).where(inArray(deploymentSchedules.id, stale));
  const inserts: (typeof deploymentSchedules.$inferInsert)[] = [];
  for (const [position, schedule] of incoming.entries()) {
    const match = matches[position];
    const values = scheduleValues(schedule, position, now);
    if (!match) {
      inserts.push({ id: uuidv7(Date.parse(now)), deploymentId, created: now, ...values });
      continue;
    }
    if (scheduleRunsChange(match, schedule)) stale.push(match.id);
    await tx.update(deploymentSchedules).set(values).where(eq(deploymentSchedules.id, match.id));
    if (match.slug !== schedule.slug) await rekeyAutoRuns(tx, deploymentId, match.id, match.slug ?? match.id, schedule.slug ?? match.id);
  }
  // After the updates: a new schedule's slug is never one that an update is moving away from.
  if (inserts.length > 0) await tx.insert(deploymentSchedules).values(inserts);
  return stale;
}

/** Refuses job variables the deployment's pool would refuse at launch (see `assertJobVariables`). */
async function checkJobVariables(db: PgExecutor, where: string, workPoolName: string | null, jobVariables: Record<string, unknown>): Promise<void> {
  if (workPoolName === null || Object.keys(jobVariables).length === 0) return;
  const pool = await requirePool(db, workPoolName);
  assertJobVariables(where, pool.name, pool.baseJobTemplate.variables, jobVariables);
}

const readinessClock = (ctx: PostgresContext): ReadinessClock => ({ now: ctx.clock.now(), missedHeartbeats: ctx.settings.missedHeartbeats });

/** The readiness of a deployment from its queue (null: none) and the facts of the queue's pool. */
function readinessWith(row: DeploymentRow, queue: QueueRow | null, pools: ReadonlyMap<string, PoolFacts>, now: Date): ReturnType<typeof deploymentReadiness> {
  return deploymentReadiness(row, queue, queue ? (pools.get(queue.workPoolId) ?? null) : null, now);
}

/** Reads a deployment with its names, schedules and readiness. */
export async function loadDeployment(db: PgExecutor, row: DeploymentRow, at: ReadinessClock): Promise<Deployment> {
  const [names] = await db
    .select({ flowName: flows.name, queue: workQueues, workPoolName: workPools.name })
    .from(flows)
    .leftJoin(workQueues, eq(workQueues.id, row.workQueueId ?? ''))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(eq(flows.id, row.flowId));
  const queue = names?.queue ?? null;
  const pools = await poolFacts(db, queue ? [queue.workPoolId] : [], at.now, at.missedHeartbeats);
  const schedules = await db.select().from(deploymentSchedules).where(eq(deploymentSchedules.deploymentId, row.id)).orderBy(asc(deploymentSchedules.position));
  return toDeployment(
    row,
    { flowName: names?.flowName ?? '', workQueueName: queue?.name ?? null, workPoolName: names?.workPoolName ?? null },
    schedules,
    readinessWith(row, queue, pools, at.now),
  );
}

/** Creates the deployment `flowName/name`, or updates it in place when it exists. */
export async function upsertDeployment(ctx: PostgresContext, input: DeploymentCreate): Promise<DeploymentUpserted> {
  return (await upsertDeployments(ctx, [input]))[0] as DeploymentUpserted;
}

/**
 * Creates or updates every deployment in one transaction: all of them are saved, or (when one is
 * refused) none is, so a project's deploy never leaves half of its deployments behind.
 */
export async function upsertDeployments(ctx: PostgresContext, inputs: readonly DeploymentCreate[]): Promise<DeploymentUpserted[]> {
  const specs = inputs.map((input) => DeploymentCreate.parse(input));
  const now = ctx.clock.now();
  return transaction(ctx, async (tx) => {
    const results: DeploymentUpserted[] = [];
    for (const spec of specs) results.push(await saveDeployment(tx, spec, { now, missedHeartbeats: ctx.settings.missedHeartbeats }));
    await notify(
      tx,
      results.map(({ deployment }): StoreEvent => ({ type: 'deploymentChanged', deploymentId: deployment.id })),
    );
    return results;
  });
}

async function saveDeployment(tx: PgExecutor, spec: ReturnType<typeof DeploymentCreate.parse>, at: ReadinessClock): Promise<DeploymentUpserted> {
  const now = at.now;
  assertParameterSchema(`${spec.flowName}/${spec.name}`, spec.parameterSchema);
  const iso = now.toISOString();
  const flow = await ensureFlow(tx, spec.flowName, now);
  const workQueueId = await resolveQueue(tx, spec.workPoolName, spec.workQueueName, now);
  await checkJobVariables(tx, `deployment "${spec.flowName}/${spec.name}"`, spec.workPoolName, spec.jobVariables);
  checkRunNameTemplate(`${spec.flowName}/${spec.name}`, spec.flowRunName, spec.parameterSchema);
  const values = deploymentValues(spec, workQueueId, iso);
  const { existing, row } = await insertOrLock(tx, flow.id, spec.name, values, now);
  const stale = await reconcileSchedules(tx, row.id, spec.schedules, iso);
  await deleteFutureAutoRuns(tx, { scheduleIds: stale }, now);
  if (spec.paused || (existing && autoRunsChange(existing, row))) await deleteFutureAutoRuns(tx, { deploymentId: row.id }, now);
  return { deployment: await loadDeployment(tx, row, at), created: !existing };
}

/**
 * Updates the deployment `name` of the flow, locked, or inserts it when none exists. Two servers
 * deploying it at once end with one row: the unique (flow, name) index makes the second insert
 * wait for the first and then do nothing, after which it finds and updates the first one's row.
 */
async function insertOrLock(
  tx: PgExecutor,
  flowId: string,
  name: string,
  values: ReturnType<typeof deploymentValues>,
  now: Date,
): Promise<{ existing: DeploymentRow | undefined; row: DeploymentRow }> {
  for (;;) {
    const [existing] = await tx
      .select()
      .from(deployments)
      .where(and(eq(deployments.flowId, flowId), eq(deployments.name, name)))
      .for('no key update');
    if (existing) {
      const [row] = await tx.update(deployments).set(values).where(eq(deployments.id, existing.id)).returning();
      return { existing, row: row as DeploymentRow };
    }
    const [row] = await tx
      .insert(deployments)
      .values({ id: uuidv7(now.getTime()), flowId, name, created: now.toISOString(), ...values })
      .onConflictDoNothing({ target: [deployments.flowId, deployments.name] })
      .returning();
    if (row) return { existing: undefined, row };
  }
}

export async function readDeployment(ctx: PostgresContext, ref: DeploymentRef): Promise<Deployment> {
  return loadDeployment(ctx.db, await requireDeployment(ctx.db, ref), readinessClock(ctx));
}

export async function listDeployments(ctx: PostgresContext, input: DeploymentFilter): Promise<Deployment[]> {
  const filter = DeploymentFilter.parse(input);
  const at = readinessClock(ctx);
  const where: SQL[] = [];
  if (filter.flowName !== undefined) where.push(eq(flows.name, filter.flowName));
  if (filter.paused !== undefined) where.push(eq(deployments.paused, filter.paused));
  if (filter.workPoolName !== undefined) where.push(eq(workPools.name, filter.workPoolName));
  if (filter.tags?.length) where.push(jsonArrayContainsAll(deployments.tags, filter.tags));
  const rows = await ctx.db
    .select({ d: deployments, flowName: flows.name, queue: workQueues, workPoolName: workPools.name })
    .from(deployments)
    .innerJoin(flows, eq(flows.id, deployments.flowId))
    .leftJoin(workQueues, eq(workQueues.id, deployments.workQueueId))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(and(...where))
    .orderBy(inByteOrder(flows.name), inByteOrder(deployments.name))
    .limit(filter.page.limit)
    .offset(filter.page.offset);
  const ids = rows.map((r) => r.d.id);
  const schedules = ids.length
    ? await ctx.db.select().from(deploymentSchedules).where(inArray(deploymentSchedules.deploymentId, ids)).orderBy(asc(deploymentSchedules.position))
    : [];
  const pools = await poolFacts(
    ctx.db,
    rows.flatMap((r) => (r.queue ? [r.queue.workPoolId] : [])),
    at.now,
    at.missedHeartbeats,
  );
  return rows.map((r) =>
    toDeployment(
      r.d,
      { flowName: r.flowName, workQueueName: r.queue?.name ?? null, workPoolName: r.workPoolName },
      schedules.filter((s) => s.deploymentId === r.d.id),
      readinessWith(r.d, r.queue, pools, at.now),
    ),
  );
}

export async function updateDeployment(ctx: PostgresContext, ref: DeploymentRef, input: DeploymentUpdate): Promise<Deployment> {
  const changes = DeploymentUpdate.parse(input);
  return changeDeployment(ctx, ref, () => changes);
}

/**
 * Applies the changes that `change` derives from the current deployment, in one transaction that
 * holds the deployment's row lock, so schedule edits never race with another update.
 */
async function changeDeployment(ctx: PostgresContext, ref: DeploymentRef, change: (current: Deployment) => DeploymentChanges): Promise<Deployment> {
  const now = ctx.clock.now();
  const iso = now.toISOString();
  return transaction(ctx, async (tx) => {
    const before = await requireDeployment(tx, ref, 'no key update');
    const current = await loadDeployment(tx, before, readinessClock(ctx));
    const changes = change(current);
    const plan = planChange(current, changes, iso);
    if (plan.moveTo) plan.set.workQueueId = await resolveQueue(tx, plan.moveTo.workPoolName, plan.moveTo.workQueueName, now);
    checkChangedRunName(current, changes);
    if (plan.jobVariables) await checkJobVariables(tx, plan.jobVariables.where, plan.jobVariables.workPoolName, plan.jobVariables.jobVariables);
    const [row] = (await tx.update(deployments).set(plan.set).where(eq(deployments.id, current.id)).returning()) as [DeploymentRow];
    if (plan.schedules) await deleteFutureAutoRuns(tx, { scheduleIds: await reconcileSchedules(tx, row.id, plan.schedules, iso) }, now);
    if (changes.paused === true || autoRunsChange(before, row)) await deleteFutureAutoRuns(tx, { deploymentId: row.id }, now);
    const deployment = await loadDeployment(tx, row, readinessClock(ctx));
    await notify(tx, [{ type: 'deploymentChanged', deploymentId: deployment.id }]);
    return deployment;
  });
}

export async function setDeploymentPaused(ctx: PostgresContext, ref: DeploymentRef, paused: boolean): Promise<Deployment> {
  return updateDeployment(ctx, ref, { paused });
}

/**
 * Deletes the deployment and its not-yet-started scheduled runs; other runs keep their history.
 * The row is locked first (FOR UPDATE), so no run is created for it between the two deletes.
 */
export async function deleteDeployment(ctx: PostgresContext, ref: DeploymentRef): Promise<DeploymentDeleted> {
  const now = ctx.clock.now();
  return transaction(ctx, async (tx) => {
    const deployment = await loadDeployment(tx, await requireDeployment(tx, ref, 'update'), readinessClock(ctx));
    const deletedScheduledRuns = await deleteFutureAutoRuns(tx, { deploymentId: deployment.id, includeManual: true, includeLate: true }, now);
    await tx.delete(deployments).where(eq(deployments.id, deployment.id));
    return { id: deployment.id, name: `${deployment.flowName}/${deployment.name}`, deletedScheduledRuns };
  });
}

export async function addSchedule(ctx: PostgresContext, ref: DeploymentRef, input: DeploymentScheduleCreate): Promise<Deployment> {
  const schedule = DeploymentScheduleCreate.parse(input);
  return changeDeployment(ctx, ref, (current) => ({ schedules: [...current.schedules, schedule] }));
}

export async function updateSchedule(ctx: PostgresContext, ref: DeploymentRef, scheduleId: string, input: DeploymentScheduleUpdate): Promise<Deployment> {
  const changes = DeploymentScheduleUpdate.parse(input);
  return changeDeployment(ctx, ref, (current) => {
    requireSchedule(current, scheduleId);
    return { schedules: current.schedules.map((s) => (s.id === scheduleId ? { ...s, ...changes } : s)) };
  });
}

export async function removeSchedule(ctx: PostgresContext, ref: DeploymentRef, scheduleId: string): Promise<Deployment> {
  return changeDeployment(ctx, ref, (current) => {
    requireSchedule(current, scheduleId);
    return { schedules: current.schedules.filter((s) => s.id !== scheduleId) };
  });
}
