/** The scheduler's reads and writes: active schedules in pages, and its runs, inserted once. */
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import { deploymentSchedules, deployments, flowRuns, flowRunStates } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { runName, uuidv7 } from '../ids.js';
import { channelsOf } from './flowRuns.js';

export type ScheduledDeployment = typeof deployments.$inferSelect & { schedules: (typeof deploymentSchedules.$inferSelect)[] };

/**
 * Unpaused deployments that have active schedules, `limit` at a time in id order after
 * `afterId`, each with its active schedules; or exactly the deployments in `ids`.
 */
export function scheduledDeployments(db: Executor, page: { afterId: string; limit: number } | { ids: readonly string[] }): ScheduledDeployment[] {
  const hasActive = sql`EXISTS (SELECT 1 FROM ${deploymentSchedules} WHERE ${deploymentSchedules.deploymentId} = ${deployments.id} AND ${deploymentSchedules.active} = 1)`;
  const where = 'ids' in page ? and(inArray(deployments.id, [...page.ids]), hasActive) : and(gt(deployments.id, page.afterId), hasActive);
  const rows = db
    .select()
    .from(deployments)
    .where(and(where, eq(deployments.paused, false)))
    .orderBy(asc(deployments.id))
    .limit('ids' in page ? page.ids.length : page.limit)
    .all();
  if (rows.length === 0) return [];
  const schedules = db
    .select()
    .from(deploymentSchedules)
    .where(and(inArray(deploymentSchedules.deploymentId, rows.map((r) => r.id)), eq(deploymentSchedules.active, true)))
    .orderBy(asc(deploymentSchedules.position))
    .all();
  const byDeployment = new Map<string, typeof schedules>();
  for (const schedule of schedules) byDeployment.set(schedule.deploymentId, [...(byDeployment.get(schedule.deploymentId) ?? []), schedule]);
  return rows.map((row) => ({ ...row, schedules: byDeployment.get(row.id) ?? [] }));
}

/** For each schedule: how many scheduler runs lie ahead of `now`, and the last one's time. */
export function futureAutoRuns(db: Executor, scheduleIds: readonly string[], now: Date): Map<string, { count: number; last: string }> {
  if (scheduleIds.length === 0) return new Map();
  const rows = db
    .select({ scheduleId: flowRuns.scheduleId, count: sql<number>`count(*)`, last: sql<string>`max(${flowRuns.nextScheduledStartTime})` })
    .from(flowRuns)
    .where(
      and(
        inArray(flowRuns.scheduleId, [...scheduleIds]),
        eq(flowRuns.stateType, 'SCHEDULED'),
        gt(flowRuns.nextScheduledStartTime, now.toISOString()),
      ),
    )
    .groupBy(flowRuns.scheduleId)
    .all();
  return new Map(rows.map((r) => [r.scheduleId as string, { count: r.count, last: r.last }]));
}

export interface AutoRun {
  readonly deployment: ScheduledDeployment;
  readonly scheduleId: string;
  /** The schedule's slug, or its id when it has none: what keeps the run's key stable. */
  readonly scheduleKey: string;
  readonly parameters: Record<string, unknown>;
  readonly time: Date;
}

/**
 * The key that makes a scheduled run unique: a second insert for the same deployment, schedule
 * and instant is ignored, however often or by however many schedulers it is attempted.
 */
export function autoRunKey(deploymentId: string, scheduleKey: string, time: Date): string {
  return `scheduled:${deploymentId}:${scheduleKey}:${time.toISOString()}`;
}

const CHUNK = 500; // 33 columns x 500 rows stays under SQLite's 32,766 bound parameters

/** Inserts the runs that do not exist yet; returns how many, and the runs' `runsAvailable` channels. */
export function insertAutoRuns(db: Executor, runs: readonly AutoRun[], now: Date): { inserted: number; channels: Set<string> } {
  const iso = now.toISOString();
  let inserted = 0;
  const added: { workQueueId: string | null; deploymentId: string | null }[] = [];
  for (let i = 0; i < runs.length; i += CHUNK) {
    const rows = runs.slice(i, i + CHUNK).map((run) => {
      const id = uuidv7(now.getTime());
      const time = run.time.toISOString();
      return {
        id,
        name: runName(id),
        flowId: run.deployment.flowId,
        deploymentId: run.deployment.id,
        workQueueId: run.deployment.workQueueId,
        stateType: 'SCHEDULED' as const,
        stateName: 'Scheduled',
        stateTimestamp: iso,
        stateMessage: null,
        nextScheduledStartTime: time,
        expectedStartTime: time,
        startTime: null,
        endTime: null,
        runCount: 0,
        retries: null,
        retryDelaySeconds: null,
        retryInProcess: false,
        parameters: run.parameters,
        tags: [...new Set([...run.deployment.tags, 'auto-scheduled'])],
        idempotencyKey: autoRunKey(run.deployment.id, run.scheduleKey, run.time),
        jobVariables: {},
        autoScheduled: true,
        scheduleId: run.scheduleId,
        workerName: null,
        infrastructureId: null,
        lastHeartbeat: null,
        result: null,
        created: iso,
        updated: iso,
      };
    });
    const fresh = db
      .insert(flowRuns)
      .values(rows)
      .onConflictDoNothing()
      .returning({ id: flowRuns.id, time: flowRuns.nextScheduledStartTime, workQueueId: flowRuns.workQueueId, deploymentId: flowRuns.deploymentId })
      .all();
    if (fresh.length === 0) continue;
    db.insert(flowRunStates)
      .values(fresh.map((run) => ({ flowRunId: run.id, type: 'SCHEDULED', name: 'Scheduled', timestamp: iso, message: null, scheduledTime: run.time })))
      .run();
    inserted += fresh.length;
    added.push(...fresh);
  }
  return { inserted, channels: channelsOf(db, added) };
}
