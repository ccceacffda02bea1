import { type PoolWorker, WorkerHeartbeat } from '@drover/schemas';
import { and, asc, eq } from 'drizzle-orm';
import { workers } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { toPoolWorker } from './rows.js';
import type { StoreContext } from './storeContext.js';
import { requirePool } from './workPools.js';

/** Records a worker's heartbeat, registering the worker on its first. */
export async function heartbeat(ctx: StoreContext, input: WorkerHeartbeat): Promise<PoolWorker> {
  const beat = WorkerHeartbeat.parse(input);
  const now = ctx.clock.now();
  const pool = requirePool(ctx.db, beat.workPoolName);
  const row = ctx.db
    .insert(workers)
    .values({
      id: uuidv7(now.getTime()),
      workPoolId: pool.id,
      name: beat.name,
      lastHeartbeat: now.toISOString(),
      heartbeatIntervalSeconds: beat.heartbeatIntervalSeconds,
      created: now.toISOString(),
    })
    .onConflictDoUpdate({
      target: [workers.workPoolId, workers.name],
      set: { lastHeartbeat: now.toISOString(), heartbeatIntervalSeconds: beat.heartbeatIntervalSeconds },
    })
    .returning()
    .get();
  return toPoolWorker(row, pool.name, now, ctx.settings.missedHeartbeats);
}

export async function listWorkers(ctx: StoreContext, workPoolName: string): Promise<PoolWorker[]> {
  const pool = requirePool(ctx.db, workPoolName);
  const now = ctx.clock.now();
  return ctx.db
    .select()
    .from(workers)
    .where(and(eq(workers.workPoolId, pool.id)))
    .orderBy(asc(workers.name))
    .all()
    .map((row) => toPoolWorker(row, pool.name, now, ctx.settings.missedHeartbeats));
}
