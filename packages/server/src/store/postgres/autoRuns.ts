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
import { columnNames, inList, rowJson, textArray } from './sqlDialect.js';

/**
 * Runs per INSERT: one statement per chunk instead of one per run (each statement is a round
 * trip), the rows as one JSON parameter (`rowJson`), which PostgreSQL unpacks into the table's
 * column types; Drizzle's multi-row insert cost the server more to build than the database to run.
 */
const INSERT_CHUNK = 1000;
const RUN_COLUMNS = columnNames(flowRuns);

/** Unpaused deployments matching `where`, in id order, at most `limit`: only what scheduled runs copy (see ../autoRuns.ts). */
function unpausedDeployments(db: PgExecutor, where: SQL, limit: number) {
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
    .where(and(where, eq(deployments.paused, false)))
    .orderBy(asc(deployments.id))
    .limit(limit);
}

type DeploymentRow = Awaited<ReturnType<typeof unpausedDeployments>>[number];

/**
 * Unpaused deployments that have active schedules, `limit` at a time in id order after
 * `afterId`, each with its active schedules; or exactly the deployments in `ids`.
 *
 * Which deployments have an active schedule is found from each page's schedules, not by the page
 * query: as an EXISTS there, a planner without statistics (a new or fast-growing database, or one
 * with autovacuum off) read every active schedule for each page, which made a pass quadratic.
 */
export async function scheduledDeployments(
  db: PgExecutor,
  page: { afterId: string; limit: number } | { ids: readonly string[] },
): Promise<ScheduledDeployment[]> {
  if ('ids' in page)
    return page.ids.length === 0 ? [] : withActiveSchedules(db, await unpausedDeployments(db, inList(deployments.id, page.ids), page.ids.length));
  for (let afterId = page.afterId; ; ) {
    const rows = await unpausedDeployments(db, gt(deployments.id, afterId), page.limit);
    if (rows.length === 0) return [];
    const scheduled = await withActiveSchedules(db, rows);
    if (scheduled.length > 0) return scheduled;
    afterId = (rows.at(-1) as DeploymentRow).id;
  }
}

/** The deployments of `rows` that have active schedules, each with them in order. */
async function withActiveSchedules(db: PgExecutor, rows: readonly DeploymentRow[]): Promise<ScheduledDeployment[]> {
  if (rows.length === 0) return [];
  // One lookup per deployment: OFFSET 0 keeps PostgreSQL from making it a join, which without
  // statistics reads every schedule.
  const { rows: schedules } = await db.execute<{ [K in keyof ActiveSchedule]: ActiveSchedule[K] } & { deploymentId: string }>(sql`
    SELECT s.id, s.deployment_id AS "deploymentId", s.slug, s.schedule, s.parameters, s.max_scheduled_runs AS "maxScheduledRuns"
    FROM unnest(${textArray(rows.map((r) => r.id))}) AS d(id)
    CROSS JOIN LATERAL (
      SELECT * FROM ${deploymentSchedules} WHERE ${deploymentSchedules.deploymentId} = d.id AND ${deploymentSchedules.active} OFFSET 0
    ) AS s
    ORDER BY s.position`);
  const byDeployment = new Map<string, ActiveSchedule[]>();
  for (const { deploymentId, ...schedule } of schedules) {
    const list = byDeployment.get(deploymentId);
    if (list) list.push(schedule);
    else byDeployment.set(deploymentId, [schedule]);
  }
  return rows.flatMap((row) => {
    const active = byDeployment.get(row.id);
    return active ? [{ ...row, schedules: active }] : [];
  });
}

/**
 * For each schedule: how many scheduler runs lie ahead of `now`, and the last one's time. One
 * lookup per schedule (LATERAL), each a range of `flow_runs_schedule_state`: as one scan filtered
 * by the list, a planner without statistics read every SCHEDULED run of the database for each page
 * of a pass.
 */
export async function futureAutoRuns(db: PgExecutor, scheduleIds: readonly string[], now: Date): Promise<Map<string, { count: number; last: string }>> {
  if (scheduleIds.length === 0) return new Map();
  const { rows } = await db.execute<{ scheduleId: string; count: number; last: string | null }>(sql`
    SELECT s.id AS "scheduleId", ahead.count, ahead.last
    FROM unnest(${textArray(scheduleIds)}) AS s(id)
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS count, max(${flowRuns.nextScheduledStartTime}) AS last FROM ${flowRuns}
      WHERE ${flowRuns.scheduleId} = s.id AND ${flowRuns.stateType} = 'SCHEDULED' AND ${flowRuns.nextScheduledStartTime} > ${now.toISOString()}
    ) AS ahead
    WHERE ahead.count > 0`);
  return new Map(rows.map((r) => [r.scheduleId, { count: r.count, last: r.last as string }]));
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
      const rows = still.slice(start, start + INSERT_CHUNK).map((run) => rowJson(RUN_COLUMNS, autoRunRow(run, now)));
      // One statement (one round trip) inserts the runs and their first states, and reads the pools they are
      // offered in. No row back for a run: its key exists already (an earlier pass, here or on another server, made it).
      const { rows: fresh } = await tx.execute<{ workQueueId: string | null; deploymentId: string | null; workPoolId: string | null }>(sql`
        WITH run AS (
          INSERT INTO ${flowRuns} SELECT * FROM json_populate_recordset(NULL::flow_runs, ${JSON.stringify(rows)}::json)
          ON CONFLICT (flow_id, idempotency_key) DO NOTHING
          RETURNING id, next_scheduled_start_time, work_queue_id, deployment_id),
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
