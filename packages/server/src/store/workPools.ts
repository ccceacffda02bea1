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
import { isOnline, toWorkPool } from './rows.js';
import type { StoreContext } from './storeContext.js';

type PoolRow = typeof workPools.$inferSelect;

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
  const existing =
    names.length > 0 ? `existing pools: ${names.join(', ')}` : 'no work pools exist yet; create one with `drover work-pool create NAME --type process`';
  throw droverErrorOf('WORK_POOL_NOT_FOUND', `Work pool "${name}" not found (${existing})`, { workPoolName: name, existing: names });
}

function poolStatus(ctx: StoreContext, row: PoolRow): WorkPoolStatus {
  if (row.isPaused) return 'PAUSED';
  const now = ctx.clock.now();
  const beats = ctx.db.select().from(workers).where(eq(workers.workPoolId, row.id)).all();
  return beats.some((w) => isOnline(w, now, ctx.settings.missedHeartbeats)) ? 'READY' : 'NOT_READY';
}

export async function createWorkPool(ctx: StoreContext, input: WorkPoolCreate): Promise<WorkPool> {
  const pool = WorkPoolCreate.parse(input);
  const now = ctx.clock.now().toISOString();
  const id = uuidv7(ctx.clock.now().getTime());
  const defaultQueueId = uuidv7(ctx.clock.now().getTime());
  const row = ctx.db.transaction((tx) => {
    if (tx.select({ id: workPools.id }).from(workPools).where(eq(workPools.name, pool.name)).get()) {
      throw droverErrorOf('NAME_CONFLICT', `A work pool named "${pool.name}" already exists`, { workPoolName: pool.name });
    }
    const inserted = tx
      .insert(workPools)
      .values({
        id,
        name: pool.name,
        type: pool.type,
        description: pool.description,
        isPaused: pool.isPaused,
        concurrencyLimit: pool.concurrencyLimit,
        defaultQueueId,
        baseJobTemplate: pool.baseJobTemplate ?? defaultBaseJobTemplate(pool.type),
        created: now,
        updated: now,
      })
      .returning()
      .get();
    tx.insert(workQueues)
      .values({
        id: defaultQueueId,
        workPoolId: id,
        name: 'default',
        description: 'The queue runs go to when their deployment names none.',
        isPaused: false,
        concurrencyLimit: null,
        priority: 1,
        lastPolled: null,
        created: now,
      })
      .run();
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
  if (changes.isPaused === false || changes.concurrencyLimit !== undefined) ctx.events.emit('runsAvailable', row.id, WAKE_ALL());
  return toWorkPool(row, poolStatus(ctx, row));
}

/** Deletes the pool and its queues; its runs and deployments keep their history without a queue. */
export async function deleteWorkPool(ctx: StoreContext, name: string): Promise<WorkPoolDeleted> {
  const pool = requirePool(ctx.db, name);
  ctx.db.delete(workPools).where(eq(workPools.id, pool.id)).run();
  return { name };
}
