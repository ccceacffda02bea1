import { type PoolWorker, WorkerHeartbeat } from '@drover/schemas';
import { asc, eq } from 'drizzle-orm';
import { workers } from '../../db/pgSchema.js';
import { toPoolWorker } from '../rows.js';
import { heartbeatUpsert } from '../workers.js';
import type { PostgresContext } from './postgresContext.js';
import { requirePool } from './workPools.js';

/** Records a worker's heartbeat, registering the worker on its first (one upsert, so two at once cannot both insert). */
export async function heartbeat(ctx: PostgresContext, input: WorkerHeartbeat): Promise<PoolWorker> {
  const beat = WorkerHeartbeat.parse(input);
  const now = ctx.clock.now();
  const pool = await requirePool(ctx.db, beat.workPoolName);
  const { values, set } = heartbeatUpsert(beat, pool.id, now);
  const [row] = await ctx.db
    .insert(workers)
    .values(values)
    .onConflictDoUpdate({ target: [workers.workPoolId, workers.name], set })
    .returning();
  return toPoolWorker(row as typeof workers.$inferSelect, pool.name, now, ctx.settings.missedHeartbeats);
}

export async function listWorkers(ctx: PostgresContext, workPoolName: string): Promise<PoolWorker[]> {
  const pool = await requirePool(ctx.db, workPoolName);
  const now = ctx.clock.now();
  const rows = await ctx.db.select().from(workers).where(eq(workers.workPoolId, pool.id)).orderBy(asc(workers.name));
  return rows.map((row) => toPoolWorker(row, pool.name, now, ctx.settings.missedHeartbeats));
}
