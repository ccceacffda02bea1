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
  droverErrorOf,
  RUN_NAME_BUILTINS,
  splitDeploymentName,
  unknownRunNameKeys,
} from '@drover/schemas';
import { and, asc, eq, inArray, type SQL } from 'drizzle-orm';
import { canonicalJson } from '../canonicalJson.js';
import { deploymentSchedules, deployments, flows, workPools, workQueues } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { uuidv7 } from '../ids.js';
import { assertJobVariables, assertParameterSchema } from '../parameters.js';
import { ensureFlow } from './flows.js';
import { deploymentReadiness, poolFacts } from './readiness.js';
import { toDeployment } from './rows.js';
import { deleteFutureAutoRuns, rekeyAutoRuns } from './scheduledRuns.js';
import { jsonArrayContainsAll } from './sqlDialect.js';
import type { StoreContext } from './storeContext.js';
import { requirePool } from './workPools.js';

export type DeploymentRow = typeof deployments.$inferSelect;
export type ScheduleRow = typeof deploymentSchedules.$inferSelect;
/** A schedule to store; `id` keeps an existing schedule's identity when it is edited in place. */
export type ParsedSchedule = ReturnType<typeof DeploymentScheduleCreate.parse> & { id?: string };

/** A deployment reference without a slash is an id; with one, `flow/name`. */
export const isId = (ref: string) => !ref.includes('/');

/** The deployment row for an id or `flow/name`, or DEPLOYMENT_NOT_FOUND. */
export function requireDeployment(db: Executor, ref: DeploymentRef): DeploymentRow {
  let row: DeploymentRow | undefined;
  if (isId(ref)) {
    row = db.select().from(deployments).where(eq(deployments.id, ref)).get();
  } else {
    const { flowName, deploymentName } = splitDeploymentName(ref);
    row = db
      .select({ d: deployments })
      .from(deployments)
      .innerJoin(flows, eq(flows.id, deployments.flowId))
      .where(and(eq(flows.name, flowName), eq(deployments.name, deploymentName)))
      .get()?.d;
  }
  if (!row) throw deploymentNotFound(ref);
  return row;
}

export function deploymentNotFound(ref: DeploymentRef): Error {
  return droverErrorOf('DEPLOYMENT_NOT_FOUND', `Deployment "${ref}" not found`, { deployment: ref });
}

/**
 * The queue a deployment's runs go to: the named queue of the pool (created when missing, as
 * Prefect does), or the pool's default queue. No pool means no queue (runs served by a runner).
 */
function resolveQueue(db: Executor, workPoolName: string | null, workQueueName: string | null, now: Date): string | null {
  if (workPoolName === null) {
    assertNoQueueWithoutPool(workQueueName);
    return null;
  }
  const pool = requirePool(db, workPoolName);
  if (workQueueName === null) return pool.defaultQueueId;
  const existing = db
    .select({ id: workQueues.id })
    .from(workQueues)
    .where(and(eq(workQueues.workPoolId, pool.id), eq(workQueues.name, workQueueName)))
    .get();
  if (existing) return existing.id;
  const priorities = db.select({ p: workQueues.priority }).from(workQueues).where(eq(workQueues.workPoolId, pool.id)).all();
  const row = namedQueueRow(
    pool.id,
    workQueueName,
    priorities.map((r) => r.p),
    now,
  );
  db.insert(workQueues).values(row).run();
  return row.id;
}

/** Refuses a queue named without a pool. */
export function assertNoQueueWithoutPool(workQueueName: string | null): void {
  if (workQueueName !== null) {
    throw droverErrorOf('VALIDATION_ERROR', `Work queue "${workQueueName}" needs a work pool: set workPoolName too`, { workQueueName });
  }
}

/** The row of a queue that a deployment names and its pool lacks: served after the pool's other queues (`priorities`). */
export function namedQueueRow(workPoolId: string, name: string, priorities: readonly number[], now: Date): typeof workQueues.$inferSelect {
  return {
    id: uuidv7(now.getTime()),
    workPoolId,
    name,
    description: null,
    isPaused: false,
    concurrencyLimit: null,
    priority: Math.max(0, ...priorities) + 1,
    lastPolled: null,
    created: now.toISOString(),
  };
}

export function assertUniqueSlugs(schedules: readonly ParsedSchedule[]): void {
  const seen = new Set<string>();
  for (const schedule of schedules) {
    if (schedule.slug === null) continue;
    if (seen.has(schedule.slug)) {
      throw droverErrorOf('NAME_CONFLICT', `Schedule slug "${schedule.slug}" appears twice; slugs are unique within a deployment`, { slug: schedule.slug });
    }
    seen.add(schedule.slug);
  }
}

const scheduleKey = (schedule: unknown) => canonicalJson(schedule);

/**
 * Replaces a deployment's schedules with `incoming`, keeping the id of each schedule that matches
 * an existing one by id, by slug, or (without a slug) by identical schedule content, so a redeploy
 * never orphans or duplicates scheduled runs. Returns the ids whose future auto-runs are now wrong.
 */
function reconcileSchedules(db: Executor, deploymentId: string, incoming: readonly ParsedSchedule[], now: string): string[] {
  assertUniqueSlugs(incoming);
  const existing = db.select().from(deploymentSchedules).where(eq(deploymentSchedules.deploymentId, deploymentId)).all();
  const { matches, unmatched } = matchSchedules(existing, incoming);
  const stale: string[] = [];
  for (const row of unmatched) {
    stale.push(row.id);
    db.delete(deploymentSchedules).where(eq(deploymentSchedules.id, row.id)).run();
  }
  incoming.forEach((schedule, position) => {
    const match = matches[position];
    const values = scheduleValues(schedule, position, now);
    if (!match) {
      db.insert(deploymentSchedules)
        .values({ id: uuidv7(Date.parse(now)), deploymentId, created: now, ...values })
        .run();
      return;
    }
    if (scheduleRunsChange(match, schedule)) stale.push(match.id);
    db.update(deploymentSchedules).set(values).where(eq(deploymentSchedules.id, match.id)).run();
    if (match.slug !== schedule.slug) rekeyAutoRuns(db, deploymentId, match.id, match.slug ?? match.id, schedule.slug ?? match.id);
  });
  return stale;
}

/**
 * Pairs each of `incoming` with the existing schedule it keeps the identity of (by id, by slug,
 * or by identical content), or with none; `unmatched` are the existing ones to delete.
 */
export function matchSchedules(
  existing: readonly ScheduleRow[],
  incoming: readonly ParsedSchedule[],
): { matches: (ScheduleRow | undefined)[]; unmatched: ScheduleRow[] } {
  const unmatched = new Map(existing.map((row) => [row.id, row]));
  const claim = (predicate: (row: ScheduleRow) => boolean) => {
    const row = [...unmatched.values()].find(predicate);
    if (row) unmatched.delete(row.id);
    return row;
  };
  const matches = incoming.map((schedule) =>
    schedule.id !== undefined ? claim((row) => row.id === schedule.id) : schedule.slug !== null ? claim((row) => row.slug === schedule.slug) : undefined,
  );
  // Then by identical content: slug-less rows first, then rows whose slug the deploy dropped, so
  // a slug removed keeps the schedule (and its runs' keys) as a slug added does.
  for (const slugless of [true, false]) {
    incoming.forEach((schedule, i) => {
      matches[i] ??= claim((row) => (row.slug === null) === slugless && scheduleKey(row.schedule) === scheduleKey(schedule.schedule));
    });
  }
  return { matches, unmatched: [...unmatched.values()] };
}

/** The columns of a schedule stored at `position`. */
export function scheduleValues(schedule: ParsedSchedule, position: number, now: string) {
  return {
    position,
    schedule: schedule.schedule as Record<string, unknown>,
    active: schedule.active,
    slug: schedule.slug,
    parameters: schedule.parameters,
    maxScheduledRuns: schedule.maxScheduledRuns,
    catchup: schedule.catchup,
    maxLateSeconds: schedule.maxLateSeconds,
    updated: now,
  };
}

/** True when the runs the scheduler made from `before` would differ under `after` (times, active, parameters). */
export function scheduleRunsChange(before: ScheduleRow, after: ParsedSchedule): boolean {
  return (
    scheduleKey(before.schedule) !== scheduleKey(after.schedule) ||
    before.active !== after.active ||
    canonicalJson(before.parameters) !== canonicalJson(after.parameters)
  );
}

/**
 * True when the scheduler's future runs of a deployment copied something that changed between
 * `before` and `after` (its parameters, tags or queue), so they must be made again.
 */
export function autoRunsChange(before: DeploymentRow, after: DeploymentRow): boolean {
  return (
    before.workQueueId !== after.workQueueId ||
    canonicalJson(before.parameters) !== canonicalJson(after.parameters) ||
    canonicalJson(before.tags) !== canonicalJson(after.tags)
  );
}

/**
 * Refuses a run-name template whose placeholders its runs could never fill: with a parameter
 * schema, every key must be one of its parameters or a built-in. Without one, runs are checked as
 * they are made.
 */
export function checkRunNameTemplate(fullName: string, template: string | null, parameterSchema: Record<string, unknown> | null): void {
  const properties = parameterSchema?.properties as Record<string, unknown> | undefined;
  if (template === null || !properties) return;
  const unknown = unknownRunNameKeys(template, Object.keys(properties));
  if (unknown.length === 0) return;
  throw droverErrorOf(
    'VALIDATION_ERROR',
    `flowRunName "${template}" of deployment "${fullName}" names ${unknown.map((k) => `{${k}}`).join(', ')}, which is not a parameter of its flow (its parameters: ${Object.keys(properties).join(', ') || 'none'}) nor one of ${RUN_NAME_BUILTINS.map((k) => `{${k}}`).join(', ')}`,
    { deployment: fullName, flowRunName: template, unknown },
  );
}

/** Refuses job variables the deployment's pool would refuse at launch (see `assertJobVariables`). */
function checkJobVariables(db: Executor, where: string, workPoolName: string | null, jobVariables: Record<string, unknown>): void {
  if (workPoolName === null || Object.keys(jobVariables).length === 0) return;
  const pool = requirePool(db, workPoolName);
  assertJobVariables(where, pool.name, pool.baseJobTemplate.variables, jobVariables);
}

/** When readiness is judged: now, and how many missed worker heartbeats make a worker OFFLINE. */
export interface ReadinessClock {
  readonly now: Date;
  readonly missedHeartbeats: number;
}

const readinessClock = (ctx: StoreContext): ReadinessClock => ({ now: ctx.clock.now(), missedHeartbeats: ctx.settings.missedHeartbeats });

/** The queue and pool facts of these deployments' readiness, read once for all of them. */
function readinessOf(db: Executor, rows: readonly DeploymentRow[], at: ReadinessClock): (row: DeploymentRow) => ReturnType<typeof deploymentReadiness> {
  const queueIds = [...new Set(rows.flatMap((row) => (row.workQueueId ? [row.workQueueId] : [])))];
  const queues = new Map((queueIds.length ? db.select().from(workQueues).where(inArray(workQueues.id, queueIds)).all() : []).map((q) => [q.id, q] as const));
  const pools = poolFacts(
    db,
    [...queues.values()].map((q) => q.workPoolId),
    at.now,
    at.missedHeartbeats,
  );
  return (row) => {
    const queue = row.workQueueId ? queues.get(row.workQueueId) : undefined;
    return deploymentReadiness(row, queue ?? null, queue ? (pools.get(queue.workPoolId) ?? null) : null, at.now);
  };
}

/** Reads a deployment with its names, schedules and readiness. */
export function loadDeployment(db: Executor, row: DeploymentRow, at: ReadinessClock): Deployment {
  const names = db
    .select({ flowName: flows.name, workQueueName: workQueues.name, workPoolName: workPools.name })
    .from(flows)
    .leftJoin(workQueues, eq(workQueues.id, row.workQueueId ?? ''))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(eq(flows.id, row.flowId))
    .get();
  const schedules = db.select().from(deploymentSchedules).where(eq(deploymentSchedules.deploymentId, row.id)).orderBy(asc(deploymentSchedules.position)).all();
  return toDeployment(
    row,
    { flowName: names?.flowName ?? '', workQueueName: names?.workQueueName ?? null, workPoolName: names?.workPoolName ?? null },
    schedules,
    readinessOf(db, [row], at)(row),
  );
}

/** Creates the deployment `flowName/name`, or updates it in place when it exists. */
export async function upsertDeployment(ctx: StoreContext, input: DeploymentCreate): Promise<DeploymentUpserted> {
  return (await upsertDeployments(ctx, [input]))[0] as DeploymentUpserted;
}

/**
 * Creates or updates every deployment in one transaction: all of them are saved, or (when one is
 * refused) none is, so a project's deploy never leaves half of its deployments behind.
 */
export async function upsertDeployments(ctx: StoreContext, inputs: readonly DeploymentCreate[]): Promise<DeploymentUpserted[]> {
  const specs = inputs.map((input) => DeploymentCreate.parse(input));
  const now = ctx.clock.now();
  const results = ctx.db.transaction((tx) => specs.map((spec) => saveDeployment(tx, spec, { now, missedHeartbeats: ctx.settings.missedHeartbeats })));
  for (const { deployment } of results) ctx.events.emit('deploymentChanged', deployment.id);
  return results;
}

function saveDeployment(tx: Executor, spec: ReturnType<typeof DeploymentCreate.parse>, at: ReadinessClock): DeploymentUpserted {
  const now = at.now;
  assertParameterSchema(`${spec.flowName}/${spec.name}`, spec.parameterSchema);
  const iso = now.toISOString();
  const flow = ensureFlow(tx, spec.flowName, now);
  const workQueueId = resolveQueue(tx, spec.workPoolName, spec.workQueueName, now);
  checkJobVariables(tx, `deployment "${spec.flowName}/${spec.name}"`, spec.workPoolName, spec.jobVariables);
  checkRunNameTemplate(`${spec.flowName}/${spec.name}`, spec.flowRunName, spec.parameterSchema);
  const values = deploymentValues(spec, workQueueId, iso);
  const existing = tx
    .select()
    .from(deployments)
    .where(and(eq(deployments.flowId, flow.id), eq(deployments.name, spec.name)))
    .get();
  const row = existing
    ? tx.update(deployments).set(values).where(eq(deployments.id, existing.id)).returning().get()
    : tx
        .insert(deployments)
        .values({ id: uuidv7(now.getTime()), flowId: flow.id, name: spec.name, created: iso, ...values })
        .returning()
        .get();
  const stale = reconcileSchedules(tx, row.id, spec.schedules, iso);
  deleteFutureAutoRuns(tx, { scheduleIds: stale }, now);
  if (spec.paused || (existing && autoRunsChange(existing, row))) deleteFutureAutoRuns(tx, { deploymentId: row.id }, now);
  return { deployment: loadDeployment(tx, row, at), created: !existing };
}

/** The columns a deploy of `spec` sets (on create and on update alike). */
export function deploymentValues(spec: ReturnType<typeof DeploymentCreate.parse>, workQueueId: string | null, iso: string) {
  return {
    entrypoint: spec.entrypoint,
    parameters: spec.parameters,
    parameterSchema: spec.parameterSchema,
    enforceParameterSchema: spec.enforceParameterSchema,
    tags: spec.tags,
    description: spec.description,
    version: spec.version,
    workQueueId,
    jobVariables: spec.jobVariables,
    concurrencyLimit: spec.concurrencyLimit,
    collisionStrategy: spec.concurrencyOptions.collisionStrategy,
    pullSteps: spec.pullSteps,
    flowRunName: spec.flowRunName,
    paused: spec.paused,
    updated: iso,
  };
}

export async function readDeployment(ctx: StoreContext, ref: DeploymentRef): Promise<Deployment> {
  return loadDeployment(ctx.db, requireDeployment(ctx.db, ref), readinessClock(ctx));
}

export async function listDeployments(ctx: StoreContext, input: DeploymentFilter): Promise<Deployment[]> {
  const filter = DeploymentFilter.parse(input);
  const where: SQL[] = [];
  if (filter.flowName !== undefined) where.push(eq(flows.name, filter.flowName));
  if (filter.paused !== undefined) where.push(eq(deployments.paused, filter.paused));
  if (filter.workPoolName !== undefined) where.push(eq(workPools.name, filter.workPoolName));
  if (filter.tags?.length) where.push(jsonArrayContainsAll(deployments.tags, filter.tags));
  const rows = ctx.db
    .select({ d: deployments, flowName: flows.name, workQueueName: workQueues.name, workPoolName: workPools.name })
    .from(deployments)
    .innerJoin(flows, eq(flows.id, deployments.flowId))
    .leftJoin(workQueues, eq(workQueues.id, deployments.workQueueId))
    .leftJoin(workPools, eq(workPools.id, workQueues.workPoolId))
    .where(and(...where))
    .orderBy(asc(flows.name), asc(deployments.name))
    .limit(filter.page.limit)
    .offset(filter.page.offset)
    .all();
  const ids = rows.map((r) => r.d.id);
  const schedules = ids.length
    ? ctx.db.select().from(deploymentSchedules).where(inArray(deploymentSchedules.deploymentId, ids)).orderBy(asc(deploymentSchedules.position)).all()
    : [];
  const readiness = readinessOf(
    ctx.db,
    rows.map((r) => r.d),
    readinessClock(ctx),
  );
  return rows.map((r) =>
    toDeployment(
      r.d,
      { flowName: r.flowName, workQueueName: r.workQueueName, workPoolName: r.workPoolName },
      schedules.filter((s) => s.deploymentId === r.d.id),
      readiness(r.d),
    ),
  );
}

export async function updateDeployment(ctx: StoreContext, ref: DeploymentRef, input: DeploymentUpdate): Promise<Deployment> {
  const changes = DeploymentUpdate.parse(input);
  return changeDeployment(ctx, ref, () => changes);
}

/**
 * Applies the changes that `change` derives from the current deployment, in one transaction, so
 * schedule edits never race with another update.
 */
function changeDeployment(ctx: StoreContext, ref: DeploymentRef, change: (current: Deployment) => DeploymentChanges): Deployment {
  const now = ctx.clock.now();
  const iso = now.toISOString();
  const deployment = ctx.db.transaction((tx) => {
    const before = requireDeployment(tx, ref);
    const current = loadDeployment(tx, before, readinessClock(ctx));
    const changes = change(current);
    const plan = planChange(current, changes, iso);
    if (plan.moveTo) plan.set.workQueueId = resolveQueue(tx, plan.moveTo.workPoolName, plan.moveTo.workQueueName, now);
    checkChangedRunName(current, changes);
    if (plan.jobVariables) checkJobVariables(tx, plan.jobVariables.where, plan.jobVariables.workPoolName, plan.jobVariables.jobVariables);
    const row = tx.update(deployments).set(plan.set).where(eq(deployments.id, current.id)).returning().get();
    if (plan.schedules) deleteFutureAutoRuns(tx, { scheduleIds: reconcileSchedules(tx, row.id, plan.schedules, iso) }, now);
    if (changes.paused === true || autoRunsChange(before, row)) deleteFutureAutoRuns(tx, { deploymentId: row.id }, now);
    return loadDeployment(tx, row, readinessClock(ctx));
  });
  ctx.events.emit('deploymentChanged', deployment.id);
  return deployment;
}

/** What `changeDeployment` gets from its `change`: an update, whose schedules may keep their ids. */
export type DeploymentChanges = Omit<ReturnType<typeof DeploymentUpdate.parse>, 'schedules'> & { schedules?: ParsedSchedule[] };

/**
 * What an update of `current` writes, as far as it needs no database: the columns to set, the
 * schedules, and where the deployment moves and which job variables its pool must accept (each
 * null when unchanged). Refuses a bad parameter schema first, as the checks after it rely on it.
 */
export function planChange(current: Deployment, changes: DeploymentChanges, iso: string) {
  assertParameterSchema(`${current.flowName}/${current.name}`, changes.parameterSchema);
  const { schedules, concurrencyOptions, workPoolName, workQueueName, ...plain } = changes;
  const set: Partial<DeploymentRow> = { ...plain, updated: iso };
  if (concurrencyOptions) set.collisionStrategy = concurrencyOptions.collisionStrategy;
  const pool = workPoolName !== undefined ? workPoolName : current.workPoolName;
  const moveTo =
    workPoolName !== undefined || workQueueName !== undefined
      ? { workPoolName: pool, workQueueName: workQueueName !== undefined ? workQueueName : workPoolName !== undefined ? null : current.workQueueName }
      : null;
  const jobVariables =
    changes.jobVariables !== undefined || workPoolName !== undefined
      ? { where: `deployment "${current.flowName}/${current.name}"`, workPoolName: pool, jobVariables: changes.jobVariables ?? current.jobVariables }
      : null;
  return { set, schedules, moveTo, jobVariables };
}

/** Refuses a changed run-name template (or parameter schema) that leaves the template unfillable. */
export function checkChangedRunName(current: Deployment, changes: DeploymentChanges): void {
  if (changes.flowRunName !== undefined || changes.parameterSchema !== undefined) {
    checkRunNameTemplate(`${current.flowName}/${current.name}`, changes.flowRunName ?? current.flowRunName, changes.parameterSchema ?? current.parameterSchema);
  }
}

export async function setDeploymentPaused(ctx: StoreContext, ref: DeploymentRef, paused: boolean): Promise<Deployment> {
  return updateDeployment(ctx, ref, { paused });
}

/** Deletes the deployment and its not-yet-started scheduled runs; other runs keep their history. */
export async function deleteDeployment(ctx: StoreContext, ref: DeploymentRef): Promise<DeploymentDeleted> {
  const now = ctx.clock.now();
  return ctx.db.transaction((tx) => {
    const deployment = loadDeployment(tx, requireDeployment(tx, ref), readinessClock(ctx));
    const deletedScheduledRuns = deleteFutureAutoRuns(tx, { deploymentId: deployment.id, includeManual: true, includeLate: true }, now);
    tx.delete(deployments).where(eq(deployments.id, deployment.id)).run();
    return { id: deployment.id, name: `${deployment.flowName}/${deployment.name}`, deletedScheduledRuns };
  });
}

export async function addSchedule(ctx: StoreContext, ref: DeploymentRef, input: DeploymentScheduleCreate): Promise<Deployment> {
  const schedule = DeploymentScheduleCreate.parse(input);
  return changeDeployment(ctx, ref, (current) => ({ schedules: [...current.schedules, schedule] }));
}

export async function updateSchedule(ctx: StoreContext, ref: DeploymentRef, scheduleId: string, input: DeploymentScheduleUpdate): Promise<Deployment> {
  const changes = DeploymentScheduleUpdate.parse(input);
  return changeDeployment(ctx, ref, (current) => {
    requireSchedule(current, scheduleId);
    return { schedules: current.schedules.map((s) => (s.id === scheduleId ? { ...s, ...changes } : s)) };
  });
}

export async function removeSchedule(ctx: StoreContext, ref: DeploymentRef, scheduleId: string): Promise<Deployment> {
  return changeDeployment(ctx, ref, (current) => {
    requireSchedule(current, scheduleId);
    return { schedules: current.schedules.filter((s) => s.id !== scheduleId) };
  });
}

export function requireSchedule(deployment: Deployment, scheduleId: string): void {
  if (!deployment.schedules.some((s) => s.id === scheduleId)) {
    throw droverErrorOf(
      'SCHEDULE_NOT_FOUND',
      `Schedule ${scheduleId} not found on deployment "${deployment.flowName}/${deployment.name}" (its schedules: ${deployment.schedules.map((s) => s.id).join(', ') || 'none'})`,
      { scheduleId },
    );
  }
}
