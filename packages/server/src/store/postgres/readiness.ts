/**
 * Readiness on PostgreSQL: the pools' facts read in one round trip; what they mean is
 * ../readiness.ts's, shared by both stores.
 */
import { eq, inArray } from 'drizzle-orm';
import { workers, workPools } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { type PoolFacts, poolFactsOf } from '../readiness.js';

export { deploymentReadiness, type PoolFacts, queueReadiness } from '../readiness.js';

/** The pools with these ids, with whether a worker of each is online, in one query (pools joined to their workers). */
export async function poolFacts(db: PgExecutor, poolIds: readonly string[], now: Date, missedHeartbeats: number): Promise<Map<string, PoolFacts>> {
  const ids = [...new Set(poolIds)];
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({
      id: workPools.id,
      name: workPools.name,
      isPaused: workPools.isPaused,
      lastHeartbeat: workers.lastHeartbeat,
      heartbeatIntervalSeconds: workers.heartbeatIntervalSeconds,
    })
    .from(workPools)
    .leftJoin(workers, eq(workers.workPoolId, workPools.id))
    .where(inArray(workPools.id, ids));
  const pools = new Map(rows.map((r) => [r.id, { id: r.id, name: r.name, isPaused: r.isPaused }]));
  const beats = rows.flatMap((r) =>
    r.lastHeartbeat === null || r.heartbeatIntervalSeconds === null
      ? []
      : [{ workPoolId: r.id, lastHeartbeat: r.lastHeartbeat, heartbeatIntervalSeconds: r.heartbeatIntervalSeconds }],
  );
  return poolFactsOf([...pools.values()], beats, now, missedHeartbeats);
}
