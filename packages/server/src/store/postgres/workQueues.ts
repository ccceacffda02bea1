import { type WorkQueue, WorkQueueCreate, type WorkQueueDeleted, type WorkQueueRef, type WorkQueueUpdate } from '@drover/schemas';
import { asc, eq, inArray, sql } from 'drizzle-orm';
import { workQueues } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { queueChannel } from '../../events.js';
import { toWorkQueue } from '../rows.js';
import { defaultQueueUndeletable, findQueue, lowestFree, newQueueRow, type QueueRow, queueNameConflict, queuesToMoveUp } from '../workQueues.js';
import { notify, type PostgresContext, transaction } from './postgresContext.js';
import { type PoolFacts, poolFacts, queueReadiness } from './readiness.js';
import { lockPool, requirePool } from './workPools.js';

/*
 * Every write of a pool's queues (create, update, delete, and a deployment naming a new queue)
 * first locks the pool's row (`lockPool`), so writers of one pool take turns: the name check and
 * the priority shuffle of one see the other's result, as in SQLite's single writer.
 */

/** The queues as the API shows them, with their readiness, all of one pool. */
async function withReadiness(ctx: PostgresContext, rows: readonly QueueRow[], workPoolName: string): Promise<WorkQueue[]> {
  const now = ctx.clock.now();
  const pools = await poolFacts(
    ctx.db,
    rows.map((r) => r.workPoolId),
    now,
    ctx.settings.missedHeartbeats,
  );
  return rows.map((row) => toWorkQueue(row, workPoolName, queueReadiness(row, pools.get(row.workPoolId) as PoolFacts, now)));
}

/** A pool's queues in priority order. */
function queuesOf(db: PgExecutor, workPoolId: string): Promise<QueueRow[]> {
  return db.select().from(workQueues).where(eq(workQueues.workPoolId, workPoolId)).orderBy(asc(workQueues.priority));
}

/** Moves up one the queues (of `taken`, in priority order) that stand at and above `priority`, so it is free. */
async function makeRoom(tx: PgExecutor, taken: readonly QueueRow[], priority: number, exceptId?: string): Promise<void> {
  const moves = queuesToMoveUp(taken, priority, exceptId);
  if (moves.length === 0) return;
  // Priorities carry no unique index: one statement moves them all.
  await tx
    .update(workQueues)
    .set({ priority: sql`${workQueues.priority} + 1` })
    .where(
      inArray(
        workQueues.id,
        moves.map((q) => q.id),
      ),
    );
}

export async function createWorkQueue(ctx: PostgresContext, input: WorkQueueCreate): Promise<WorkQueue> {
  const queue = WorkQueueCreate.parse(input);
  const row = await transaction(ctx, async (tx) => {
    const pool = await lockPool(tx, queue.workPoolName);
    const taken = await queuesOf(tx, pool.id);
    if (taken.some((q) => q.name === queue.name)) throw queueNameConflict(pool.name, queue.name);
    const priority = queue.priority ?? lowestFree(taken.map((q) => q.priority));
    await makeRoom(tx, taken, priority);
    const [inserted] = await tx
      .insert(workQueues)
      .values(newQueueRow(queue, pool.id, priority, ctx.clock.now()))
      .returning();
    return inserted as QueueRow;
  });
  return (await withReadiness(ctx, [row], queue.workPoolName))[0] as WorkQueue;
}

/** The queue row, or WORK_QUEUE_NOT_FOUND naming the pool's queues. */
async function requireQueue(db: PgExecutor, workPoolName: string, name: string): Promise<QueueRow> {
  const pool = await requirePool(db, workPoolName);
  return findQueue(await queuesOf(db, pool.id), workPoolName, name);
}

export async function readWorkQueue(ctx: PostgresContext, ref: WorkQueueRef): Promise<WorkQueue> {
  return (await withReadiness(ctx, [await requireQueue(ctx.db, ref.workPoolName, ref.name)], ref.workPoolName))[0] as WorkQueue;
}

export async function listWorkQueues(ctx: PostgresContext, workPoolName: string): Promise<WorkQueue[]> {
  const pool = await requirePool(ctx.db, workPoolName);
  return withReadiness(ctx, await queuesOf(ctx.db, pool.id), pool.name);
}

export async function updateWorkQueue(ctx: PostgresContext, ref: WorkQueueRef, changes: WorkQueueUpdate): Promise<WorkQueue> {
  const row = await transaction(ctx, async (tx) => {
    const pool = await lockPool(tx, ref.workPoolName);
    const taken = await queuesOf(tx, pool.id);
    const queue = findQueue(taken, ref.workPoolName, ref.name);
    if (changes.priority !== undefined && changes.priority !== queue.priority) await makeRoom(tx, taken, changes.priority, queue.id);
    const [updated] = (await tx.update(workQueues).set(changes).where(eq(workQueues.id, queue.id)).returning()) as [QueueRow];
    // A queue resumed or its limit raised may free any number of runs.
    await notify(tx, [
      { type: 'runsAvailable', channel: updated.workPoolId, count: null },
      { type: 'runsAvailable', channel: queueChannel(updated.id), count: null },
    ]);
    return updated;
  });
  return (await withReadiness(ctx, [row], ref.workPoolName))[0] as WorkQueue;
}

/** Deletes a queue; the pool's default queue cannot be deleted. */
export async function deleteWorkQueue(ctx: PostgresContext, ref: WorkQueueRef): Promise<WorkQueueDeleted> {
  await transaction(ctx, async (tx) => {
    const pool = await lockPool(tx, ref.workPoolName);
    const queue = findQueue(await queuesOf(tx, pool.id), ref.workPoolName, ref.name);
    if (pool.defaultQueueId === queue.id) throw defaultQueueUndeletable(ref);
    await tx.delete(workQueues).where(eq(workQueues.id, queue.id));
  });
  return { workPoolName: ref.workPoolName, name: ref.name };
}
