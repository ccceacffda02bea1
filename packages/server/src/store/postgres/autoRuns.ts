/**
 * The scheduler's reads and writes on PostgreSQL (see ../autoRuns.ts). Several servers may run a
 * scheduler pass at once: the unique key of each scheduled run (`flow_runs_idempotency`) with
 * `ON CONFLICT DO NOTHING` makes the second insert of a run a no-op, however the passes interleave.
 */
import { and, asc, eq, gt, type SQL, sql } from 'drizzle-orm';
import { deploymentSchedules, deployments, flowRunStates, flowRuns, flows, workQueues } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { type ActiveSchedule, type AutoRun, autoRunRow, type ScheduledDeployment } from '../autoRuns.js';
import { runChannels } from '../flowRuns.js';
import { notify, type PostgresContext, runsAvailable, transaction } from './postgresContext.js';
import { inList, textArray } from './sqlDialect.js';

/**
 * Rows per INSERT: a statement takes at most 65,535 parameters, and a run row has about 30 columns.
 * One multi-row statement per chunk instead of one per run: each statement is a round trip.
 */
const INSERT_CHUNK = 1000;

/** Unpaused deployments matching `where` that have active schedules, in id order, at most `limit`. */
function deploymentsWithSchedules(db: PgExecutor, where: SQL | undefined, limit: number) {
  const hasActive = sql`EXISTS (SELECT 1 FROM ${deploymentSchedules} WHERE ${deploymentSchedules.deploymentId} = ${deployments.id} AND ${deploymentSchedules.active})`;
  // Only what scheduled runs copy (see ../autoRuns.ts).
  return db
    .select({
      id: deployments.id,
      name: deployments.name,
      flowId: deployments.flowId,
      flowName: flows.name,
      flowRunName: deployments.flowRunName,
      workQueueId: deployments.workQueueId,
      parameters: deployments.parameters,
      tags: deployments.tags,
    })
    .from(deployments)
    .innerJoin(flows, eq(flows.id, deployments.flowId))
    .where(and(where, hasActive, eq(deployments.paused, false)))
    .orderBy(asc(deployments.id))
    .limit(limit);
}

/**
 * Unpaused deployments that have active schedules, `limit` at a time in id order after
 * `afterId`, each with its active schedules; or exactly the deployments in `ids`.
 */
export async function scheduledDeployments(
  db: PgExecutor,
  page: { afterId: string; limit: number } | { ids: readonly string[] },
): Promise<ScheduledDeployment[]> {
  if ('ids' in page && page.ids.length === 0) return [];
  const rows =
    'ids' in page
      ? await deploymentsWithSchedules(db, inList(deployments.id, page.ids), page.ids.length)
      : await deploymentsWithSchedules(db, gt(deployments.id, page.afterId), page.limit);
  if (rows.length === 0) return [];
  const schedules = await db
    .select({
      id: deploymentSchedules.id,
      deploymentId: deploymentSchedules.deploymentId,
      slug: deploymentSchedules.slug,
      schedule: deploymentSchedules.schedule,
      parameters: deploymentSchedules.parameters,
      maxScheduledRuns: deploymentSchedules.maxScheduledRuns,
    })
    .from(deploymentSchedules)
    .where(
      and(
        inList(
          deploymentSchedules.deploymentId,
          rows.map((r) => r.id),
        ),
        eq(deploymentSchedules.active, true),
      ),
    )
    .orderBy(asc(deploymentSchedules.position));
  const byDeployment = new Map<string, ActiveSchedule[]>();
  for (const { deploymentId, ...schedule } of schedules) {
    const list = byDeployment.get(deploymentId);
    if (list) list.push(schedule);
    else byDeployment.set(deploymentId, [schedule]);
  }
  return rows.map((row) => ({ ...row, schedules: byDeployment.get(row.id) ?? [] }));
}

/** For each schedule: how many scheduler runs lie ahead of `now`, and the last one's time. */
export async function futureAutoRuns(db: PgExecutor, scheduleIds: readonly string[], now: Date): Promise<Map<string, { count: number; last: string }>> {
  if (scheduleIds.length === 0) return new Map();
  const rows = await db
    .select({ scheduleId: flowRuns.scheduleId, count: sql<number>`count(*)::int`, last: sql<string>`max(${flowRuns.nextScheduledStartTime})` })
    .from(flowRuns)
    .where(and(inList(flowRuns.scheduleId, scheduleIds), eq(flowRuns.stateType, 'SCHEDULED'), gt(flowRuns.nextScheduledStartTime, now.toISOString())))
    .groupBy(flowRuns.scheduleId);
  return new Map(rows.map((r) => [r.scheduleId as string, { count: r.count, last: r.last }]));
}

/**
 * Inserts, in one transaction, the runs whose keys do not exist yet, and tells claimers of them
 * (on commit); returns how many it inserted. A run whose key another server's pass is inserting
 * at the same moment waits for that transaction and is then skipped.
 */
export async function insertAutoRuns(ctx: PostgresContext, runs: readonly AutoRun[], now: Date): Promise<number> {
  if (runs.length === 0) return 0;
  const iso = now.toISOString();
  return transaction(ctx, async (tx) => {
    // A schedule turned off, deleted or paused since the pass read it had its future runs deleted by
    // that change; none may be made again. FOR SHARE waits for such a change in flight (it locks the
    // deployment and schedule rows first) and then sees its result; a change that comes after waits
    // for this insert and deletes what it made.
    const { rows: live } = await tx.execute<{ id: string }>(sql`
      SELECT s.id FROM ${deploymentSchedules} s JOIN ${deployments} d ON d.id = s.deployment_id
      WHERE s.id = ANY(${textArray([...new Set(runs.map((run) => run.scheduleId))])}) AND s.active AND NOT d.paused
      ORDER BY d.id, s.id FOR SHARE OF d, s`);
    const liveIds = new Set(live.map((row) => row.id));
    const still = runs.filter((run) => liveIds.has(run.scheduleId));
    const added: { workQueueId: string | null; deploymentId: string | null }[] = [];
    const pools = new Map<string, string>();
    for (let start = 0; start < still.length; start += INSERT_CHUNK) {
      const rows = still.slice(start, start + INSERT_CHUNK).map((run) => autoRunRow(run, now));
      // No row back for a run: its key exists already (an earlier pass, here or on another server, made it).
      const insertRuns = tx
        .insert(flowRuns)
        .values(rows)
        .onConflictDoNothing({ target: [flowRuns.flowId, flowRuns.idempotencyKey] })
        .returning({ id: flowRuns.id, time: flowRuns.nextScheduledStartTime, workQueueId: flowRuns.workQueueId, deploymentId: flowRuns.deploymentId });
      // One statement (one round trip) inserts the runs and their first states, and reads the pools they are
      // offered in. A CTE's RETURNING keeps the columns' own names.
      const { rows: fresh } = await tx.execute<{ workQueueId: string | null; deploymentId: string | null; workPoolId: string | null }>(sql`
        WITH run AS ${insertRuns},
        state AS (
          INSERT INTO ${flowRunStates} (flow_run_id, type, name, timestamp, message, scheduled_time)
          SELECT id, 'SCHEDULED', 'Scheduled', ${iso}, NULL, next_scheduled_start_time FROM run
        )
        SELECT run.work_queue_id AS "workQueueId", run.deployment_id AS "deploymentId", ${workQueues.workPoolId} AS "workPoolId"
        FROM run LEFT JOIN ${workQueues} ON ${workQueues.id} = run.work_queue_id`);
      for (const run of fresh) {
        added.push(run);
        if (run.workQueueId !== null && run.workPoolId !== null) pools.set(run.workQueueId, run.workPoolId);
      }
    }
    if (added.length > 0) await notify(tx, runsAvailable(runChannels(added, pools)));
    return added.length;
  });
}
