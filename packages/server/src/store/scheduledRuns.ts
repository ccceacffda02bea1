import { and, eq, gte, inArray, type SQL } from 'drizzle-orm';
import { flowRuns } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';

export interface ScheduledRunSelection {
  readonly scheduleIds?: readonly string[];
  readonly deploymentId?: string;
  /** Also runs created by hand (`flowRuns.create`), not only the scheduler's. */
  readonly includeManual?: boolean;
  /** Also runs already past their time (Late), not only future ones. */
  readonly includeLate?: boolean;
}

/**
 * Deletes SCHEDULED runs that have not started: by default only the scheduler's future runs of
 * the given schedules or deployment, which it regenerates from the schedules as they are now.
 * Returns how many it deleted.
 */
export function deleteFutureAutoRuns(db: Executor, selection: ScheduledRunSelection, now: Date): number {
  const where: SQL[] = [eq(flowRuns.stateType, 'SCHEDULED')];
  if (selection.scheduleIds) {
    if (selection.scheduleIds.length === 0) return 0;
    where.push(inArray(flowRuns.scheduleId, [...selection.scheduleIds]));
  }
  if (selection.deploymentId) where.push(eq(flowRuns.deploymentId, selection.deploymentId));
  if (!selection.includeManual) where.push(eq(flowRuns.autoScheduled, true));
  if (!selection.includeLate) where.push(gte(flowRuns.nextScheduledStartTime, now.toISOString()));
  return db.delete(flowRuns).where(and(...where)).run().changes;
}
