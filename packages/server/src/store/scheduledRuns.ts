import { and, eq, gte, inArray, ne, notExists, type SQL, sql } from 'drizzle-orm';
import { flowRunStates, flowRuns } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { autoRunKeyPrefix } from './autoRuns.js';

export interface ScheduledRunSelection {
  readonly scheduleIds?: readonly string[];
  readonly deploymentId?: string;
  /** Also runs created by hand (`flowRuns.create`), not only the scheduler's. */
  readonly includeManual?: boolean;
  /** Also runs already past their time (Late), not only future ones. */
  readonly includeLate?: boolean;
}

/**
 * Deletes SCHEDULED runs that never started: by default only the scheduler's future runs of the
 * given schedules or deployment, which it regenerates from the schedules as they are now. A run
 * that was ever claimed or started (waiting to retry, or for a concurrency slot) keeps its history
 * and logs: it is never deleted here. Returns how many it deleted.
 */
export function deleteFutureAutoRuns(db: Executor, selection: ScheduledRunSelection, now: Date): number {
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
  return db
    .delete(flowRuns)
    .where(and(...where))
    .run().changes;
}

/**
 * Moves a schedule's runs (in every state) from the keys made under `fromKey` to those of `toKey`,
 * when its slug changes: the scheduler keys runs by `slug ?? id`, so without this it would make
 * every future run again under the new key, beside the old one. A run whose new key another run
 * holds already (left by a deleted schedule that had this slug) keeps its old key.
 */
export function rekeyAutoRuns(db: Executor, deploymentId: string, scheduleId: string, fromKey: string, toKey: string): void {
  const from = autoRunKeyPrefix(deploymentId, fromKey);
  const to = autoRunKeyPrefix(deploymentId, toKey);
  // Plain column names: SQLite refuses table-qualified ones in SET, and Drizzle's update builder has no OR IGNORE.
  db.run(
    sql`UPDATE OR IGNORE flow_runs SET idempotency_key = ${to} || substr(idempotency_key, ${from.length + 1}) WHERE schedule_id = ${scheduleId} AND substr(idempotency_key, 1, ${from.length}) = ${from}`,
  );
}
