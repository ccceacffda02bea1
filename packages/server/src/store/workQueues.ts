import { droverErrorOf, type WorkQueue, WorkQueueCreate, type WorkQueueDeleted, type WorkQueueRef, type WorkQueueUpdate } from '@drover/schemas';
import { and, asc, eq } from 'drizzle-orm';
import { workPools, workQueues } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { queueChannel, WAKE_ALL } from '../events.js';
import { uuidv7 } from '../ids.js';
import { type PoolFacts, poolFacts, queueReadiness } from './readiness.js';
import { toWorkQueue } from './rows.js';
import type { StoreContext } from './storeContext.js';
import { requirePool } from './workPools.js';

export type QueueRow = typeof workQueues.$inferSelect;

/** The queues as the API shows them, with their readiness, all of one pool. */
function withReadiness(ctx: StoreContext, rows: readonly QueueRow[], workPoolName: string): WorkQueue[] {
  const now = ctx.clock.now();
  const pools = poolFacts(
    ctx.db,
    rows.map((r) => r.workPoolId),
    now,
    ctx.settings.missedHeartbeats,
  );
  return rows.map((row) => toWorkQueue(row, workPoolName, queueReadiness(row, pools.get(row.workPoolId) as PoolFacts, now)));
}

/** The queue row, or WORK_QUEUE_NOT_FOUND naming the pool's queues. */
function requireQueue(db: Executor, workPoolName: string, name: string): QueueRow {
  const pool = requirePool(db, workPoolName);
  const rows = db.select().from(workQueues).where(eq(workQueues.workPoolId, pool.id)).orderBy(asc(workQueues.priority)).all();
  return findQueue(rows, workPoolName, name);
}

/** The queue named `name` among a pool's queues (in priority order), or WORK_QUEUE_NOT_FOUND naming them. */
export function findQueue<Q extends { name: string }>(rows: readonly Q[], workPoolName: string, name: string): Q {
  const row = rows.find((q) => q.name === name);
  if (row) return row;
  throw droverErrorOf('WORK_QUEUE_NOT_FOUND', `Work queue "${name}" not found in pool "${workPoolName}" (its queues: ${rows.map((q) => q.name).join(', ')})`, {
    workPoolName,
    workQueueName: name,
  });
}

/**
 * Makes `priority` free in the pool by moving the queues at and above it up one at a time, as far
 * as they collide, so priorities stay unique and relative order is kept.
 */
function makeRoom(db: Executor, workPoolId: string, priority: number, exceptId?: string): void {
  const taken = db.select().from(workQueues).where(eq(workQueues.workPoolId, workPoolId)).orderBy(asc(workQueues.priority)).all();
  for (const queue of queuesToMoveUp(taken, priority, exceptId).reverse()) {
    db.update(workQueues)
      .set({ priority: queue.priority + 1 })
      .where(eq(workQueues.id, queue.id))
      .run();
  }
}

/**
 * The queues (of `taken`, a pool's queues in priority order) that must move up one for `priority`
 * to be free: those at it and above, as far as they collide.
 */
export function queuesToMoveUp<Q extends { id: string; priority: number }>(taken: readonly Q[], priority: number, exceptId?: string): Q[] {
  let next = priority;
  const moves: Q[] = [];
  for (const queue of taken) {
    if (queue.id === exceptId || queue.priority < next) continue;
    if (queue.priority > next) break;
    moves.push(queue);
    next++;
  }
  return moves;
}

function lowestFreePriority(db: Executor, workPoolId: string): number {
  return lowestFree(
    db
      .select({ p: workQueues.priority })
      .from(workQueues)
      .where(eq(workQueues.workPoolId, workPoolId))
      .all()
      .map((r) => r.p),
  );
}

/** The lowest priority from 1 up that none of `priorities` holds. */
export function lowestFree(priorities: readonly number[]): number {
  const used = new Set(priorities);
  let priority = 1;
  while (used.has(priority)) priority++;
  return priority;
}

export async function createWorkQueue(ctx: StoreContext, input: WorkQueueCreate): Promise<WorkQueue> {
  const queue = WorkQueueCreate.parse(input);
  const row = ctx.db.transaction((tx) => {
    const pool = requirePool(tx, queue.workPoolName);
    if (
      tx
        .select({ id: workQueues.id })
        .from(workQueues)
        .where(and(eq(workQueues.workPoolId, pool.id), eq(workQueues.name, queue.name)))
        .get()
    ) {
      throw queueNameConflict(pool.name, queue.name);
    }
    const priority = queue.priority ?? lowestFreePriority(tx, pool.id);
    makeRoom(tx, pool.id, priority);
    return tx
      .insert(workQueues)
      .values(newQueueRow(queue, pool.id, priority, ctx.clock.now()))
      .returning()
      .get();
  });
  return withReadiness(ctx, [row], queue.workPoolName)[0] as WorkQueue;
}

/** NAME_CONFLICT for a queue name already taken in its pool. */
export function queueNameConflict(workPoolName: string, workQueueName: string): Error {
  return droverErrorOf('NAME_CONFLICT', `Work pool "${workPoolName}" already has a queue named "${workQueueName}"`, { workPoolName, workQueueName });
}

/** The row of a queue created by hand. */
export function newQueueRow(queue: ReturnType<typeof WorkQueueCreate.parse>, workPoolId: string, priority: number, now: Date): QueueRow {
  return {
    id: uuidv7(now.getTime()),
    workPoolId,
    name: queue.name,
    description: queue.description,
    isPaused: queue.isPaused,
    concurrencyLimit: queue.concurrencyLimit,
    priority,
    lastPolled: null,
    created: now.toISOString(),
  };
}

export async function readWorkQueue(ctx: StoreContext, ref: WorkQueueRef): Promise<WorkQueue> {
  return withReadiness(ctx, [requireQueue(ctx.db, ref.workPoolName, ref.name)], ref.workPoolName)[0] as WorkQueue;
}

export async function listWorkQueues(ctx: StoreContext, workPoolName: string): Promise<WorkQueue[]> {
  const pool = requirePool(ctx.db, workPoolName);
  const rows = ctx.db.select().from(workQueues).where(eq(workQueues.workPoolId, pool.id)).orderBy(asc(workQueues.priority)).all();
  return withReadiness(ctx, rows, pool.name);
}

export async function updateWorkQueue(ctx: StoreContext, ref: WorkQueueRef, changes: WorkQueueUpdate): Promise<WorkQueue> {
  const row = ctx.db.transaction((tx) => {
    const queue = requireQueue(tx, ref.workPoolName, ref.name);
    if (changes.priority !== undefined && changes.priority !== queue.priority) makeRoom(tx, queue.workPoolId, changes.priority, queue.id);
    return tx.update(workQueues).set(changes).where(eq(workQueues.id, queue.id)).returning().get();
  });
  ctx.events.emit('runsAvailable', row.workPoolId, WAKE_ALL());
  ctx.events.emit('runsAvailable', queueChannel(row.id), WAKE_ALL());
  return withReadiness(ctx, [row], ref.workPoolName)[0] as WorkQueue;
}

/** Deletes a queue; the pool's default queue cannot be deleted. */
export async function deleteWorkQueue(ctx: StoreContext, ref: WorkQueueRef): Promise<WorkQueueDeleted> {
  ctx.db.transaction((tx) => {
    const queue = requireQueue(tx, ref.workPoolName, ref.name);
    const pool = tx.select().from(workPools).where(eq(workPools.id, queue.workPoolId)).get();
    if (pool?.defaultQueueId === queue.id) throw defaultQueueUndeletable(ref);
    tx.delete(workQueues).where(eq(workQueues.id, queue.id)).run();
  });
  return { workPoolName: ref.workPoolName, name: ref.name };
}

/** VALIDATION_ERROR for deleting a pool's default queue. */
export function defaultQueueUndeletable(ref: WorkQueueRef): Error {
  return droverErrorOf('VALIDATION_ERROR', `Queue "${ref.name}" is the default queue of pool "${ref.workPoolName}" and cannot be deleted`, {
    workPoolName: ref.workPoolName,
    workQueueName: ref.name,
  });
}
