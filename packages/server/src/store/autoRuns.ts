/** The scheduler's reads and writes: active schedules in pages, and its runs, inserted once. */
import { renderRunName } from '@drover/schemas';
import { and, asc, eq, gt, type SQL, sql } from 'drizzle-orm';
import { deploymentSchedules, deployments, flowRunStates, flowRuns, flows } from '../db/schema.js';
import { placeholders, preparedStatements, type SqliteDb } from '../db/sqlite.js';
import { runName, uuidv7 } from '../ids.js';
import { channelsOf, NEW_RUN_COLUMNS, newRunRow } from './flowRuns.js';
import { inJsonArray } from './sqlDialect.js';

/** An active schedule, as the scheduler needs it. */
export interface ActiveSchedule {
  readonly id: string;
  readonly slug: string | null;
  readonly schedule: Record<string, unknown>;
  readonly parameters: Record<string, unknown>;
  readonly maxScheduledRuns: number | null;
}

/** An unpaused deployment with its active schedules: what its scheduled runs copy. */
export interface ScheduledDeployment {
  readonly id: string;
  readonly name: string;
  readonly flowId: string;
  readonly flowName: string;
  /** Its runs' name template, or null for generated names. */
  readonly flowRunName: string | null;
  readonly workQueueId: string | null;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly schedules: readonly ActiveSchedule[];
}

/** Unpaused deployments matching `where` that have active schedules, in id order, at most `limit`. */
function deploymentsWithSchedules(db: SqliteDb, where: SQL) {
  const hasActive = sql`EXISTS (SELECT 1 FROM ${deploymentSchedules} WHERE ${deploymentSchedules.deploymentId} = ${deployments.id} AND ${eq(deploymentSchedules.active, true)})`;
  // Only what scheduled runs copy: mapping every column (JSON schemas, pull steps...) of 10,000
  // deployments was most of a steady pass.
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
    .limit(sql.placeholder('limit'))
    .prepare();
}

/**
 * The scheduler's statements, prepared once per database (see `preparedStatements`): a pass runs
 * each of them once per page of deployments, and once per run for the inserts.
 */
const statements = preparedStatements((db: SqliteDb) => ({
  deploymentsAfter: deploymentsWithSchedules(db, gt(deployments.id, sql.placeholder('afterId'))),
  deploymentsIn: deploymentsWithSchedules(db, inJsonArray(deployments.id, 'ids')),
  activeSchedules: db
    .select({
      id: deploymentSchedules.id,
      deploymentId: deploymentSchedules.deploymentId,
      slug: deploymentSchedules.slug,
      schedule: deploymentSchedules.schedule,
      parameters: deploymentSchedules.parameters,
      maxScheduledRuns: deploymentSchedules.maxScheduledRuns,
    })
    .from(deploymentSchedules)
    .where(and(inJsonArray(deploymentSchedules.deploymentId, 'ids'), eq(deploymentSchedules.active, true)))
    .orderBy(asc(deploymentSchedules.position))
    .prepare(),
  /** Of these schedules, those still active on unpaused deployments. */
  liveSchedules: db
    .select({ id: deploymentSchedules.id })
    .from(deploymentSchedules)
    .innerJoin(deployments, eq(deployments.id, deploymentSchedules.deploymentId))
    .where(and(inJsonArray(deploymentSchedules.id, 'ids'), eq(deploymentSchedules.active, true), eq(deployments.paused, false)))
    .prepare(),
  futureAutoRuns: db
    .select({ scheduleId: flowRuns.scheduleId, count: sql<number>`count(*)`, last: sql<string>`max(${flowRuns.nextScheduledStartTime})` })
    .from(flowRuns)
    .where(and(inJsonArray(flowRuns.scheduleId, 'ids'), eq(flowRuns.stateType, 'SCHEDULED'), gt(flowRuns.nextScheduledStartTime, sql.placeholder('now'))))
    .groupBy(flowRuns.scheduleId)
    .prepare(),
  // One row per statement: SQLite runs a prepared single-row insert faster than Drizzle builds and
  // SQLite compiles a 500-row one (15,000 parameters) for every chunk.
  insertRun: db
    .insert(flowRuns)
    .values(placeholders(NEW_RUN_COLUMNS))
    .onConflictDoNothing()
    .returning({ id: flowRuns.id, time: flowRuns.nextScheduledStartTime, workQueueId: flowRuns.workQueueId, deploymentId: flowRuns.deploymentId })
    .prepare(),
  insertState: db
    .insert(flowRunStates)
    .values(placeholders(['flowRunId', 'type', 'name', 'timestamp', 'message', 'scheduledTime']))
    .prepare(),
}));

/**
 * Unpaused deployments that have active schedules, `limit` at a time in id order after
 * `afterId`, each with its active schedules; or exactly the deployments in `ids`.
 */
export function scheduledDeployments(db: SqliteDb, page: { afterId: string; limit: number } | { ids: readonly string[] }): ScheduledDeployment[] {
  const rows =
    'ids' in page
      ? statements(db).deploymentsIn.all({ ids: JSON.stringify(page.ids), limit: page.ids.length })
      : statements(db).deploymentsAfter.all({ afterId: page.afterId, limit: page.limit });
  if (rows.length === 0) return [];
  const schedules = statements(db).activeSchedules.all({ ids: JSON.stringify(rows.map((r) => r.id)) });
  const byDeployment = new Map<string, ActiveSchedule[]>();
  for (const schedule of schedules) {
    const list = byDeployment.get(schedule.deploymentId);
    if (list) list.push(schedule);
    else byDeployment.set(schedule.deploymentId, [schedule]);
  }
  return rows.map((row) => ({ ...row, schedules: byDeployment.get(row.id) ?? [] }));
}

/** For each schedule: how many scheduler runs lie ahead of `now`, and the last one's time. */
export function futureAutoRuns(db: SqliteDb, scheduleIds: readonly string[], now: Date): Map<string, { count: number; last: string }> {
  if (scheduleIds.length === 0) return new Map();
  const rows = statements(db).futureAutoRuns.all({ ids: JSON.stringify(scheduleIds), now: now.toISOString() });
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
function autoRunKey(deploymentId: string, scheduleKey: string, time: Date): string {
  return `${autoRunKeyPrefix(deploymentId, scheduleKey)}${time.toISOString()}`;
}

/** What every key of one schedule's runs starts with. */
export function autoRunKeyPrefix(deploymentId: string, scheduleKey: string): string {
  return `scheduled:${deploymentId}:${scheduleKey}:`;
}

/**
 * A scheduled run's name: its deployment's template rendered, or a generated one (also when the
 * template needs a parameter the schedule does not give: a scheduler pass never fails on a name).
 */
function autoRunName(run: AutoRun, id: string): string {
  const { deployment } = run;
  if (deployment.flowRunName === null) return runName(id);
  const { name, missing } = renderRunName(deployment.flowRunName, {
    parameters: run.parameters,
    flowName: deployment.flowName,
    deploymentName: deployment.name,
    scheduledTime: run.time,
  });
  return missing.length === 0 ? name : runName(id);
}

/**
 * The row of a scheduled run for `run`, SCHEDULED at its time as of `now`, with its unique key
 * (see `autoRunKey`): what both stores insert, unless a row with that key exists.
 */
export function autoRunRow(run: AutoRun, now: Date): ReturnType<typeof newRunRow> {
  const id = uuidv7(now.getTime());
  return newRunRow(
    {
      id,
      name: autoRunName(run, id),
      flowId: run.deployment.flowId,
      deploymentId: run.deployment.id,
      workQueueId: run.deployment.workQueueId,
      parameters: run.parameters,
      tags: [...new Set([...run.deployment.tags, 'auto-scheduled'])],
      idempotencyKey: autoRunKey(run.deployment.id, run.scheduleKey, run.time),
      jobVariables: {},
      autoScheduled: true,
      scheduleId: run.scheduleId,
      parentFlowRunId: null,
    },
    run.time.toISOString(),
    now.toISOString(),
  );
}

/**
 * Inserts the runs that do not exist yet; returns how many, and the runs' `runsAvailable` channels.
 * Runs in the caller's transaction on `db` (the root database: see `preparedStatements`).
 */
export function insertAutoRuns(db: SqliteDb, runs: readonly AutoRun[], now: Date): { inserted: number; channels: Map<string, number> } {
  const iso = now.toISOString();
  const { insertRun, insertState, liveSchedules } = statements(db);
  const live = new Set(liveSchedules.all({ ids: JSON.stringify([...new Set(runs.map((run) => run.scheduleId))]) }).map((row) => row.id));
  const added: { workQueueId: string | null; deploymentId: string | null }[] = [];
  for (const run of runs) {
    // Turned off, deleted or paused since the pass read it: its future runs were deleted with that change, so none is made again.
    if (!live.has(run.scheduleId)) continue;
    const fresh = insertRun.get(autoRunRow(run, now));
    // No row back: the key exists already (an earlier pass made this run).
    if (!fresh) continue;
    insertState.run({ flowRunId: fresh.id, type: 'SCHEDULED', name: 'Scheduled', timestamp: iso, message: null, scheduledTime: fresh.time });
    added.push(fresh);
  }
  return { inserted: added.length, channels: channelsOf(db, added) };
}
