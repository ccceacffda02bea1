import {
  defaultBaseJobTemplate,
  droverErrorOf,
  type WorkPool,
  WorkPoolCreate,
  type WorkPoolDeleted,
  type WorkPoolStatus,
  type WorkPoolUpdate,
} from '@drover/schemas';
import { asc, eq } from 'drizzle-orm';
import { workers, workPools, workQueues } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { WAKE_ALL } from '../events.js';
import { uuidv7 } from '../ids.js';
import type { PoolFacts } from './readiness.js';
import { isOnline, toWorkPool } from './rows.js';
import type { StoreContext } from './storeContext.js';

export type PoolRow = typeof workPools.$inferSelect;

/** The pool row by name, or WORK_POOL_NOT_FOUND naming the pools that exist. */
export function requirePool(db: Executor, name: string): PoolRow {
  const row = db.select().from(workPools).where(eq(workPools.name, name)).get();
  if (row) return row;
  const names = db
    .select({ name: workPools.name })
    .from(workPools)
    .orderBy(asc(workPools.name))
    .all()
    .map((p) => p.name);
  throw poolNotFound(name, names);
}

/** WORK_POOL_NOT_FOUND for `name`, naming the pools that exist (`names`, in name order). */
export function poolNotFound(name: string, names: readonly string[]): Error {
  const existing =
    names.length > 0 ? `existing pools: ${names.join(', ')}` : 'no work pools exist yet; create one with `drover work-pool create NAME --type process`';
  return droverErrorOf('WORK_POOL_NOT_FOUND', `Work pool "${name}" not found (${existing})`, { workPoolName: name, existing: [...names] });
}

function poolStatus(ctx: StoreContext, row: PoolRow): WorkPoolStatus {
  if (row.isPaused) return 'PAUSED';
  const now = ctx.clock.now();
  const beats = ctx.db.select().from(workers).where(eq(workers.workPoolId, row.id)).all();
  return poolStatusOf({ isPaused: row.isPaused, online: beats.some((w) => isOnline(w, now, ctx.settings.missedHeartbeats)) });
}

/** A pool's status: PAUSED, else READY while one of its workers is online. */
export function poolStatusOf(pool: Pick<PoolFacts, 'isPaused' | 'online'>): WorkPoolStatus {
  if (pool.isPaused) return 'PAUSED';
  return pool.online ? 'READY' : 'NOT_READY';
}

/** Whether an update of a pool may let waiting claimers take runs they could not before (resumed, limit changed). */
export function poolUpdateFreesRuns(changes: WorkPoolUpdate): boolean {
  return changes.isPaused === false || changes.concurrencyLimit !== undefined;
}

/** NAME_CONFLICT for a pool name already taken. */
export function poolNameConflict(name: string): Error {
  return droverErrorOf('NAME_CONFLICT', `A work pool named "${name}" already exists`, { workPoolName: name });
}

/** The rows of a new pool and of its default queue. */
export function newPoolRows(
  pool: ReturnType<typeof WorkPoolCreate.parse>,
  ids: { id: string; defaultQueueId: string },
  now: string,
): { pool: PoolRow; queue: typeof workQueues.$inferInsert } {
  return {
    pool: {
      id: ids.id,
      name: pool.name,
      type: pool.type,
      description: pool.description,
      isPaused: pool.isPaused,
      concurrencyLimit: pool.concurrencyLimit,
      defaultQueueId: ids.defaultQueueId,
      baseJobTemplate: pool.baseJobTemplate ?? defaultBaseJobTemplate(pool.type),
      created: now,
      updated: now,
    },
    queue: {
      id: ids.defaultQueueId,
      workPoolId: ids.id,
      name: 'default',
      description: 'The queue runs go to when their deployment names none.',
      isPaused: false,
      concurrencyLimit: null,
      priority: 1,
      lastPolled: null,
      created: now,
    },
  };
}

export async function createWorkPool(ctx: StoreContext, input: WorkPoolCreate): Promise<WorkPool> {
  const pool = WorkPoolCreate.parse(input);
  const now = ctx.clock.now().toISOString();
  const id = uuidv7(ctx.clock.now().getTime());
  const defaultQueueId = uuidv7(ctx.clock.now().getTime());
  const rows = newPoolRows(pool, { id, defaultQueueId }, now);
  const row = ctx.db.transaction((tx) => {
    if (tx.select({ id: workPools.id }).from(workPools).where(eq(workPools.name, pool.name)).get()) throw poolNameConflict(pool.name);
    const inserted = tx.insert(workPools).values(rows.pool).returning().get();
    tx.insert(workQueues).values(rows.queue).run();
    return inserted;
  });
  return toWorkPool(row, poolStatus(ctx, row));
}

export async function readWorkPool(ctx: StoreContext, name: string): Promise<WorkPool> {
  const row = requirePool(ctx.db, name);
  return toWorkPool(row, poolStatus(ctx, row));
}

export async function listWorkPools(ctx: StoreContext): Promise<WorkPool[]> {
  return ctx.db
    .select()
    .from(workPools)
    .orderBy(asc(workPools.name))
    .all()
    .map((row) => toWorkPool(row, poolStatus(ctx, row)));
}

export async function updateWorkPool(ctx: StoreContext, name: string, changes: WorkPoolUpdate): Promise<WorkPool> {
  const row = ctx.db.transaction((tx) => {
    const pool = requirePool(tx, name);
    const updated = tx
      .update(workPools)
      .set({ ...changes, updated: ctx.clock.now().toISOString() })
      .where(eq(workPools.id, pool.id))
      .returning()
      .get();
    return updated;
  });
  if (poolUpdateFreesRuns(changes)) ctx.events.emit('runsAvailable', row.id, WAKE_ALL());
  return toWorkPool(row, poolStatus(ctx, row));
}

/** Deletes the pool and its queues; its runs and deployments keep their history without a queue. */
export async function deleteWorkPool(ctx: StoreContext, name: string): Promise<WorkPoolDeleted> {
  const pool = requirePool(ctx.db, name);
  ctx.db.delete(workPools).where(eq(workPools.id, pool.id)).run();
  return { name };
}
