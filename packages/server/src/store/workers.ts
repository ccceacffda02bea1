import { type PoolWorker, WorkerHeartbeat } from '@drover/schemas';
import { and, asc, eq } from 'drizzle-orm';
import { workers } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { toPoolWorker } from './rows.js';
import type { StoreContext } from './storeContext.js';
import { requirePool } from './workPools.js';

/**
 * The row a heartbeat inserts for a new worker, and what it sets on the worker's row when there is
 * one (both stores upsert on the pool and name).
 */
export function heartbeatUpsert(beat: ReturnType<typeof WorkerHeartbeat.parse>, workPoolId: string, now: Date) {
  const iso = now.toISOString();
  return {
    values: {
      id: uuidv7(now.getTime()),
      workPoolId,
      name: beat.name,
      lastHeartbeat: iso,
      heartbeatIntervalSeconds: beat.heartbeatIntervalSeconds,
      created: iso,
    },
    set: { lastHeartbeat: iso, heartbeatIntervalSeconds: beat.heartbeatIntervalSeconds },
  };
}

/** Records a worker's heartbeat, registering the worker on its first. */
export async function heartbeat(ctx: StoreContext, input: WorkerHeartbeat): Promise<PoolWorker> {
  const beat = WorkerHeartbeat.parse(input);
  const now = ctx.clock.now();
  const pool = requirePool(ctx.db, beat.workPoolName);
  const { values, set } = heartbeatUpsert(beat, pool.id, now);
  const row = ctx.db
    .insert(workers)
    .values(values)
    .onConflictDoUpdate({ target: [workers.workPoolId, workers.name], set })
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
