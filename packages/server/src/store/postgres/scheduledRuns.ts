import { and, eq, gte, inArray, ne, notExists, type SQL, sql } from 'drizzle-orm';
import { flowRunStates, flowRuns } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { autoRunKeyPrefix } from '../autoRuns.js';
import type { ScheduledRunSelection } from '../scheduledRuns.js';

export type { ScheduledRunSelection } from '../scheduledRuns.js';

/**
 * Deletes SCHEDULED runs that never started: by default only the scheduler's future runs of the
 * given schedules or deployment, which it regenerates from the schedules as they are now. A run
 * that was ever claimed or started (waiting to retry, or for a concurrency slot) keeps its history
 * and logs: it is never deleted here. Returns how many it deleted.
 *
 * A run that a claim holds is waited for, and then deleted only if it is still SCHEDULED
 * (READ COMMITTED re-checks the row a concurrent claim changed).
 */
export async function deleteFutureAutoRuns(db: PgExecutor, selection: ScheduledRunSelection, now: Date): Promise<number> {
  const where: SQL[] = [
    eq(flowRuns.stateType, 'SCHEDULED'),
    // Never claimed nor started: its history holds SCHEDULED states only.
    notExists(
      db
        .select({ one: sql`1` })
        .from(flowRunStates)
        .where(and(eq(flowRunStates.flowRunId, flowRuns.id), ne(flowRunStates.type, 'SCHEDULED'))),
    ),
  ];
  if (selection.scheduleIds) {
    if (selection.scheduleIds.length === 0) return 0;
    where.push(inArray(flowRuns.scheduleId, [...selection.scheduleIds]));
  }
  if (selection.deploymentId) where.push(eq(flowRuns.deploymentId, selection.deploymentId));
  if (!selection.includeManual) where.push(eq(flowRuns.autoScheduled, true));
  if (!selection.includeLate) where.push(gte(flowRuns.nextScheduledStartTime, now.toISOString()));
  const result = await db.delete(flowRuns).where(and(...where));
  return result.rowCount ?? 0;
}

/**
 * Moves a schedule's runs (in every state) from the keys made under `fromKey` to those of `toKey`,
 * when its slug changes: the scheduler keys runs by `slug ?? id`, so without this it would make
 * every future run again under the new key, beside the old one. A run whose new key another run
 * holds already (left by a deleted schedule that had this slug) keeps its old key, as SQLite's
 * `UPDATE OR IGNORE` leaves it.
 */
export async function rekeyAutoRuns(db: PgExecutor, deploymentId: string, scheduleId: string, fromKey: string, toKey: string): Promise<void> {
  const from = autoRunKeyPrefix(deploymentId, fromKey);
  const to = autoRunKeyPrefix(deploymentId, toKey);
  await db.execute(sql`
    UPDATE flow_runs AS r SET idempotency_key = ${to} || substr(r.idempotency_key, ${from.length + 1})
    WHERE r.schedule_id = ${scheduleId} AND substr(r.idempotency_key, 1, ${from.length}) = ${from}
      AND NOT EXISTS (
        SELECT 1 FROM flow_runs AS o
        WHERE o.flow_id = r.flow_id AND o.idempotency_key = ${to} || substr(r.idempotency_key, ${from.length + 1})
      )`);
}
