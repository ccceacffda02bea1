import { type WorkPool, WorkPoolCreate, type WorkPoolDeleted, type WorkPoolUpdate } from '@drover/schemas';
import { eq, sql } from 'drizzle-orm';
import { workPools, workQueues } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { uuidv7 } from '../../ids.js';
import { toWorkPool } from '../rows.js';
import { newPoolRows, type PoolRow, poolNameConflict, poolNotFound, poolStatusOf, poolUpdateFreesRuns } from '../workPools.js';
import { inByteOrder } from './flows.js';
import { notify, type PostgresContext, transaction } from './postgresContext.js';
import { poolFacts } from './readiness.js';

export type { PoolRow } from '../workPools.js';

/*
 * Workers' heartbeats and claims look their pool up on every call: named statements (parsed and
 * planned once per connection), built on each call from the executor at hand, as Drizzle binds a
 * prepared query to the connection it was built on.
 */

/** The pool row by name, or WORK_POOL_NOT_FOUND naming the pools that exist. */
export async function requirePool(db: PgExecutor, name: string): Promise<PoolRow> {
  const [row] = await db
    .select()
    .from(workPools)
    .where(eq(workPools.name, sql.placeholder('name')))
    .prepare('drover_pool_by_name')
    .execute({ name });
  if (row) return row;
  throw await missingPool(db, name);
}

/**
 * The pool row by name, locked until the transaction ends (FOR NO KEY UPDATE: it serializes the
 * writers of the pool's queues, yet lets workers' heartbeats and new queues' foreign keys
 * through), or WORK_POOL_NOT_FOUND. Lock it before any of its queues or runs.
 */
export async function lockPool(tx: PgExecutor, name: string): Promise<PoolRow> {
  const [row] = await tx
    .select()
    .from(workPools)
    .where(eq(workPools.name, sql.placeholder('name')))
    .for('no key update')
    .prepare('drover_lock_pool_by_name')
    .execute({ name });
  if (row) return row;
  throw await missingPool(tx, name);
}

async function missingPool(db: PgExecutor, name: string): Promise<Error> {
  const rows = await db.select({ name: workPools.name }).from(workPools).orderBy(inByteOrder(workPools.name));
  return poolNotFound(
    name,
    rows.map((p) => p.name),
  );
}

/** The pools as the API shows them, with the status their workers' heartbeats give them. */
async function withStatus(ctx: PostgresContext, rows: readonly PoolRow[]): Promise<WorkPool[]> {
  const facts = await poolFacts(
    ctx.db,
    rows.filter((row) => !row.isPaused).map((row) => row.id),
    ctx.clock.now(),
    ctx.settings.missedHeartbeats,
  );
  return rows.map((row) => toWorkPool(row, poolStatusOf({ isPaused: row.isPaused, online: facts.get(row.id)?.online ?? false })));
}

export async function createWorkPool(ctx: PostgresContext, input: WorkPoolCreate): Promise<WorkPool> {
  const pool = WorkPoolCreate.parse(input);
  const now = ctx.clock.now().toISOString();
  const id = uuidv7(ctx.clock.now().getTime());
  const defaultQueueId = uuidv7(ctx.clock.now().getTime());
  const rows = newPoolRows(pool, { id, defaultQueueId }, now);
  const row = await transaction(ctx, async (tx) => {
    // The unique name decides between servers creating the same pool at once: the loser inserts nothing.
    const [inserted] = await tx.insert(workPools).values(rows.pool).onConflictDoNothing({ target: workPools.name }).returning();
    if (!inserted) throw poolNameConflict(pool.name);
    await tx.insert(workQueues).values(rows.queue);
    return inserted;
  });
  // A pool this new has no workers yet.
  return toWorkPool(row, poolStatusOf({ isPaused: row.isPaused, online: false }));
}

export async function readWorkPool(ctx: PostgresContext, name: string): Promise<WorkPool> {
  return (await withStatus(ctx, [await requirePool(ctx.db, name)]))[0] as WorkPool;
}

export async function listWorkPools(ctx: PostgresContext): Promise<WorkPool[]> {
  return withStatus(ctx, await ctx.db.select().from(workPools).orderBy(inByteOrder(workPools.name)));
}

export async function updateWorkPool(ctx: PostgresContext, name: string, changes: WorkPoolUpdate): Promise<WorkPool> {
  const row = await transaction(ctx, async (tx) => {
    const [updated] = await tx
      .update(workPools)
      .set({ ...changes, updated: ctx.clock.now().toISOString() })
      .where(eq(workPools.name, name))
      .returning();
    if (!updated) throw await missingPool(tx, name);
    if (poolUpdateFreesRuns(changes)) await notify(tx, [{ type: 'runsAvailable', channel: updated.id, count: null }]);
    return updated;
  });
  return (await withStatus(ctx, [row]))[0] as WorkPool;
}

/** Deletes the pool and its queues; its runs and deployments keep their history without a queue. */
export async function deleteWorkPool(ctx: PostgresContext, name: string): Promise<WorkPoolDeleted> {
  const [deleted] = await ctx.db.delete(workPools).where(eq(workPools.name, name)).returning({ id: workPools.id });
  if (!deleted) throw await missingPool(ctx.db, name);
  return { name };
}
