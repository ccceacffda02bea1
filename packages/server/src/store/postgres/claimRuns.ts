/**
 * Claims on PostgreSQL (see ../claimRuns.ts for what a claim gives), where workers on several
 * servers claim from one database at once and every limit must hold across all of them.
 *
 * Lock and count (chosen in bench/pgClaimLimits.ts): a worker's claim locks its pool's row, so
 * the claims of one pool take turns and the slots counted under the lock stay counted until the
 * claim commits; due runs are locked `FOR UPDATE SKIP LOCKED`, so a run another transaction holds
 * is never waited for nor taken twice; and a deployment with a limit is locked before its runs
 * holding slots are counted. A runner's claim locks its deployments instead of a pool.
 *
 * Lock order, as everywhere in this store: pool, queues, runs, deployments. A runner's claim
 * locks deployments before runs, but takes runs with SKIP LOCKED, so it never waits on a run
 * (and never closes a wait cycle with a worker's claim).
 *
 * The lock is held for the whole claim, so a claim costs few round trips: orchestration decides
 * every run in memory, and the states are written together at the end (`writeStates`).
 */
import { ClaimDeploymentRunsInput, type ClaimedFlowRun, ClaimRunsInput } from '@drover/schemas';
import { and, asc, count, eq, getTableColumns, gt, inArray, isNotNull, lte, min, type SQL, sql } from 'drizzle-orm';
import { deployments, flowRuns, workQueues } from '../../db/pgSchema.js';
import type { PgExecutor, PgTx } from '../../db/postgres.js';
import { type NewState, orchestrate } from '../../orchestration.js';
import {
  type Claim,
  type ClaimAttempt,
  type DeploymentLimit,
  type Ended,
  heldBack,
  limitsApply,
  MAX_PAGE,
  pollClaims,
  pollDeploymentClaims,
  poolRoom,
  queueRoom,
  queuesToClaim,
  type Taken,
} from '../claimRuns.js';
import { type StateExtras, stateWrite } from '../flowRuns.js';
import { claimedRuns, holdsSlotSql, newClaim, setFlowRunState } from './flowRuns.js';
import { EVENTS_CHANNEL, notifyPayloads, type PostgresContext, type StoreEvent, transaction } from './postgresContext.js';
import { columnNames, inList, rowJson, textArray } from './sqlDialect.js';
import { lockPool } from './workPools.js';

type RunRow = typeof flowRuns.$inferSelect;
/** A page of due runs after the cursor (`afterTime`, `afterId`; both '' for the first page). */
type Page = (after: { afterTime: string; afterId: string; pageSize: number }) => Promise<DueRun[]>;
/** A due run, and whether its deployment has a concurrency limit (read with it, to spare the claim a round trip when none has). */
type DueRun = RunRow & { limited: boolean };

/**
 * Due SCHEDULED runs matching `where`, soonest first, `pageSize` at a time after the cursor,
 * each locked for the claim; runs another transaction holds are passed over. `name` names the
 * prepared statement: its text must be the same on every call.
 */
function dueRuns(tx: PgTx, name: string, where: SQL) {
  return tx
    .select({
      ...getTableColumns(flowRuns),
      limited: sql<boolean>`EXISTS (SELECT 1 FROM ${deployments} WHERE ${deployments.id} = ${flowRuns.deploymentId} AND ${deployments.concurrencyLimit} IS NOT NULL)`,
    })
    .from(flowRuns)
    .where(
      and(
        where,
        eq(flowRuns.stateType, 'SCHEDULED'),
        eq(flowRuns.retryInProcess, false),
        lte(flowRuns.nextScheduledStartTime, sql.placeholder('before')),
        // A row comparison, which the claim indexes seek to (an OR of the two would be a filter).
        sql`(${flowRuns.nextScheduledStartTime}, ${flowRuns.id}) > (${sql.placeholder('afterTime')}, ${sql.placeholder('afterId')})`,
      ),
    )
    .orderBy(asc(flowRuns.nextScheduledStartTime), asc(flowRuns.id))
    .limit(sql.placeholder('pageSize'))
    .for('update', { skipLocked: true })
    .prepare(name);
}

/**
 * Hands a worker the pool's due runs and moves each to PENDING in the same transaction, so no two
 * workers, on any server, get the same run; pool, queue and deployment limits hold across all
 * servers. With `waitMs`, an empty answer waits until a run is offered for the pool (or the time
 * is up): announcements reach this server from every server through NOTIFY.
 */
export async function claimRuns(ctx: PostgresContext, input: ClaimRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> {
  return pollClaims(
    {
      clock: ctx.clock,
      events: ctx.events,
      setFlowRunState: (state) => setFlowRunState(ctx, state),
      claimOnce: (claim) => claimOnce(ctx, claim),
      nextDueTime: (workPoolId, after) => nextDueTime(ctx.db, workPoolId, after),
    },
    ClaimRunsInput.parse(input),
    signal,
  );
}

/**
 * When the pool's next SCHEDULED run after `after` is due, or null. Runs due already but held back
 * by a limit are not counted: the slot that frees wakes the claimer instead.
 */
async function nextDueTime(db: PgExecutor, workPoolId: string, after: string): Promise<string | null> {
  const [row] = await db
    .select({ next: min(flowRuns.nextScheduledStartTime) })
    .from(flowRuns)
    .innerJoin(workQueues, eq(workQueues.id, flowRuns.workQueueId))
    .where(
      and(
        eq(workQueues.workPoolId, workPoolId),
        eq(flowRuns.stateType, 'SCHEDULED'),
        eq(flowRuns.retryInProcess, false),
        gt(flowRuns.nextScheduledStartTime, new Date(after).toISOString()),
      ),
    );
  return row?.next ?? null;
}

async function claimOnce(ctx: PostgresContext, claim: Claim): Promise<ClaimAttempt> {
  const before = new Date(claim.scheduledBefore).toISOString();
  const { taken, workPoolId, queueIds, written } = await transaction(ctx, async (tx) => {
    const now = ctx.clock.now().toISOString();
    // Claims of this pool wait here for each other: what the one before took is counted below.
    const pool = await lockPool(tx, claim.workPoolName);
    const queues = await pollQueues(tx, pool, claim.workQueueNames, now);
    const queueIds = claim.workQueueNames ? queues.map((q) => q.id) : null;
    if (pool.isPaused) return { taken: [], workPoolId: pool.id, queueIds, written: [] };

    // Counting the active runs reads every one of them, so it is done only when a limit needs it.
    const active = limitsApply(pool, queues) ? await activeByQueue(tx, pool.id) : new Map<string, number>();
    let remaining = poolRoom(pool, active, claim.limit);
    const limits = new Map<string, DeploymentLimit>();
    const taken: Taken[] = [];
    const ended: Ended[] = [];
    const writes: Write[] = [];
    for (const queue of queues) {
      if (remaining <= 0) break;
      if (queue.isPaused) continue;
      const take = queueRoom(queue, active, remaining);
      const dueInQueue = dueRuns(tx, 'drover_claim_due_in_queue', eq(flowRuns.workQueueId, sql.placeholder('queueId')));
      const claimed = await claimDue(ctx, tx, (after) => dueInQueue.execute({ queueId: queue.id, before, ...after }), take, limits, claim.workerName);
      taken.push(...claimed.taken);
      ended.push(...claimed.ended);
      writes.push(...claimed.writes);
      remaining -= claimed.taken.length;
    }
    const written = await writeStates(tx, writes, stateEvents(taken, ended));
    return { taken, workPoolId: pool.id, queueIds, written };
  });
  // Every run the claim took is in one of the pool's queues.
  rememberClaimed(ctx, written, () => workPoolId);
  return { runs: await claimedRuns(ctx.db, taken), workPoolId, queueIds };
}

type QueueRow = typeof workQueues.$inferSelect;

/**
 * The pool's queues a claim serves, in priority order, marked as polled now (what makes them
 * READY); a name the pool lacks is WORK_QUEUE_NOT_FOUND. One statement marks and reads them: the
 * pool's other queues are read only for that error (which rolls the marks back).
 */
async function pollQueues(
  tx: PgTx,
  pool: { id: string; name: string; concurrencyLimit: number | null },
  names: readonly string[] | undefined,
  now: string,
): Promise<QueueRow[]> {
  const polled = await tx
    .update(workQueues)
    .set({ lastPolled: sql`${sql.placeholder('now')}` })
    .where(
      and(
        eq(workQueues.workPoolId, sql.placeholder('poolId')),
        sql`(${sql.placeholder('names')}::text[] IS NULL OR ${workQueues.name} = ANY(${sql.placeholder('names')}::text[]))`,
      ),
    )
    .returning()
    .prepare('drover_claim_poll_queues')
    .execute({ now, poolId: pool.id, names: names ?? null });
  const byPriority = polled.sort((a, b) => a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (names?.some((name) => !byPriority.some((q) => q.name === name))) {
    const allQueues = await tx.select().from(workQueues).where(eq(workQueues.workPoolId, pool.id)).orderBy(asc(workQueues.priority), asc(workQueues.id));
    queuesToClaim(pool, allQueues, names); // throws WORK_QUEUE_NOT_FOUND
  }
  return byPriority;
}

/** How many runs hold a slot in each of the pool's queues. */
async function activeByQueue(tx: PgTx, poolId: string): Promise<Map<string, number>> {
  const rows = await tx
    .select({ queueId: flowRuns.workQueueId, n: count() })
    .from(flowRuns)
    .innerJoin(workQueues, eq(workQueues.id, flowRuns.workQueueId))
    .where(and(eq(workQueues.workPoolId, sql.placeholder('poolId')), holdsSlotSql))
    .groupBy(flowRuns.workQueueId)
    .prepare('drover_claim_active_by_queue')
    .execute({ poolId });
  return new Map(rows.map((r) => [r.queueId as string, r.n]));
}

/** What the waiters on these runs (long-polls of a run's state) are told on commit. */
function stateEvents(taken: readonly Taken[], ended: readonly Ended[]): StoreEvent[] {
  return [
    ...taken.map((run) => ({ type: 'runStateChanged' as const, flowRunId: run.id, stateType: 'PENDING' })),
    ...ended.map((run) => ({ type: 'runStateChanged' as const, flowRunId: run.id, stateType: run.type })),
  ];
}

/** A state a claim decided for a run it holds locked, to be written with the claim's other writes (`writeStates`). */
type Write = { run: RunRow; state: NewState; now: Date; extras?: StateExtras };

/**
 * Decides, for up to `take` due SCHEDULED runs of `page`, soonest first, a move to PENDING for
 * `workerName`, skipping runs whose deployment is at its limit (ENQUEUE: they wait as they are;
 * CANCEL_NEW: orchestration cancels them). Pages through candidates, so skipped runs never hide
 * claimable ones behind them. `limits` holds the deployments locked and counted so far in this
 * transaction. Orchestration decides each run as `transition` would, with the slots counted here;
 * the states are written afterwards, all in one statement (`writeStates`), not one round trip per
 * run while the pool's claimers wait on the lock.
 */
async function claimDue(
  ctx: PostgresContext,
  tx: PgTx,
  page: Page,
  take: number,
  limits: Map<string, DeploymentLimit>,
  workerName: string,
): Promise<{ taken: Taken[]; ended: Ended[]; writes: Write[] }> {
  const taken: Taken[] = [];
  const ended: Ended[] = [];
  const writes: Write[] = [];
  let after = { afterTime: '', afterId: '' };
  let pageSize = Math.min(take, MAX_PAGE);
  while (taken.length < take) {
    const runs = await page({ ...after, pageSize });
    for (const run of runs) if (run.deploymentId !== null && !run.limited && !limits.has(run.deploymentId)) limits.set(run.deploymentId, null);
    await lockDeploymentLimits(
      tx,
      limits,
      runs.flatMap((run) => (run.limited && run.deploymentId !== null ? [run.deploymentId] : [])),
    );
    for (const { limited: _, ...run } of runs) {
      if (taken.length >= take) break;
      const slots = run.deploymentId ? (limits.get(run.deploymentId) ?? null) : null;
      // At an ENQUEUE deployment's limit the run simply waits its turn, SCHEDULED as it is.
      if (heldBack(slots)) continue;
      const now = ctx.clock.now();
      const decision = orchestrate(run, { type: 'PENDING' }, { now, deploymentSlots: slots, slotWaitSeconds: ctx.settings.slotWaitSeconds });
      if (decision.status === 'ACCEPT') {
        const claim = newClaim();
        writes.push({ run, state: decision.state, now, extras: { workerName, claimHash: claim.hash } });
        taken.push({ id: run.id, token: claim.token });
        if (slots) slots.active++;
      } else if (decision.status === 'REJECT' && decision.state) {
        writes.push({ run, state: decision.state, now });
        ended.push({ id: run.id, type: decision.state.type });
      }
    }
    const last = runs.at(-1);
    if (!last || runs.length < pageSize) break;
    after = { afterTime: last.nextScheduledStartTime as string, afterId: last.id };
    pageSize = Math.min(pageSize * 2, MAX_PAGE);
  }
  return { taken, ended, writes };
}

const RUN_COLUMNS = columnNames(flowRuns);

/**
 * Writes the states a claim decided onto its runs and into their histories, as `transition`
 * writes one (see ../flowRuns.ts `stateWrite`), and sends the `events` they make (on commit), in
 * one statement: the rows travel as one JSON parameter per set of changed columns, unpacked by
 * `json_populate_recordset` into the tables' own column types. One UPDATE per set of columns
 * (most claims have one), one INSERT for the history, each a CTE (data-modifying CTEs all run).
 * A statement per run, or one CTE per run, cost the claim (holding its pool's lock) a round trip
 * or a plan per run.
 */
async function writeStates(tx: PgTx, writes: readonly Write[], events: readonly StoreEvent[]): Promise<Written[]> {
  if (writes.length === 0) return [];
  const bySetColumns = new Map<string, Record<string, unknown>[]>();
  const history: Record<string, unknown>[] = [];
  const after = new Map<string, RunRow>();
  for (const { run, state, now, extras } of writes) {
    const write = stateWrite(run, state, now, extras);
    after.set(run.id, { ...run, ...write.set });
    const row = rowJson(RUN_COLUMNS, { id: run.id, ...write.set });
    const columns = Object.keys(row).sort().join(',');
    const rows = bySetColumns.get(columns);
    if (rows) rows.push(row);
    else bySetColumns.set(columns, [row]);
    const { flowRunId, type, name, timestamp, message, scheduledTime } = write.history;
    history.push({ flow_run_id: flowRunId, type, name, timestamp, message, scheduled_time: scheduledTime });
  }
  const updates = [...bySetColumns].map(([columns, rows], i) => {
    const set = columns
      .split(',')
      .filter((column) => column !== 'id')
      .map((column) => sql`${sql.identifier(column)} = v.${sql.identifier(column)}`);
    return sql`${sql.identifier(`runs${i}`)} AS (UPDATE flow_runs SET ${sql.join(set, sql`, `)}
      FROM json_populate_recordset(NULL::flow_runs, ${JSON.stringify(rows)}::json) AS v WHERE flow_runs.id = v.id
      RETURNING flow_runs.id, flow_runs.xmin::text AS version)`;
  });
  const written = sql.join(
    updates.map((_, i) => sql`SELECT id, version FROM ${sql.identifier(`runs${i}`)}`),
    sql` UNION ALL `,
  );
  const { rows } = await tx.execute<{ id: string; version: string }>(sql`WITH ${sql.join(updates, sql`, `)},
    history AS (INSERT INTO flow_run_states (flow_run_id, type, name, timestamp, message, scheduled_time)
      SELECT flow_run_id, type, name, timestamp, message, scheduled_time FROM json_populate_recordset(NULL::flow_run_states, ${JSON.stringify(history)}::json))
    SELECT written.id, written.version,
      (SELECT count(*) FROM (SELECT pg_notify(${EVENTS_CHANNEL}, payload) FROM unnest(${textArray(notifyPayloads(events))}) AS payload) AS notified)
    FROM (${written}) AS written`);
  return rows.map(({ id, version }) => ({ run: after.get(id) as RunRow, version }));
}

/** A run as a claim wrote it, with its row's version (see recentRuns.ts). */
type Written = { run: RunRow; version: string };

/**
 * Keeps what a committed claim wrote as this server's copies of the runs (recentRuns.ts): their
 * next state change (RUNNING) then reads nothing back. `poolOf` is the run's pool, or undefined
 * when this claim does not know it (the copy is then not kept).
 */
function rememberClaimed(ctx: PostgresContext, written: readonly Written[], poolOf: (run: RunRow) => string | null | undefined): void {
  for (const { run, version } of written) {
    const workPoolId = poolOf(run);
    if (workPoolId !== undefined) ctx.recentRuns.remember({ run, workPoolId, version });
  }
}

/**
 * Adds to `limits` the deployments of `deploymentIds` it lacks: each with a concurrency limit is
 * locked (in id order), then its runs holding a slot are counted, so a claim elsewhere (another
 * pool's, a runner's) counts after this one commits; the others are null. The count is its own
 * statement after the lock: in READ COMMITTED only a statement begun after the lock was granted
 * sees what the transaction that held it committed.
 */
async function lockDeploymentLimits(tx: PgTx, limits: Map<string, DeploymentLimit>, deploymentIds: readonly string[]): Promise<void> {
  const missing = [...new Set(deploymentIds)].filter((id) => !limits.has(id));
  if (missing.length === 0) return;
  const limited = await tx
    .select({ id: deployments.id, limit: deployments.concurrencyLimit, collisionStrategy: deployments.collisionStrategy })
    .from(deployments)
    .where(and(inList(deployments.id, missing), isNotNull(deployments.concurrencyLimit)))
    .orderBy(asc(deployments.id))
    .for('no key update');
  for (const id of missing) limits.set(id, null);
  if (limited.length === 0) return;
  const active = await activeByDeployment(
    tx,
    limited.map((d) => d.id),
  );
  for (const d of limited) limits.set(d.id, { limit: d.limit as number, active: active.get(d.id) ?? 0, collisionStrategy: d.collisionStrategy });
}

/** How many runs of each of these deployments hold a slot. */
async function activeByDeployment(tx: PgTx, deploymentIds: readonly string[]): Promise<Map<string, number>> {
  const rows = await tx
    .select({ deploymentId: flowRuns.deploymentId, n: count() })
    .from(flowRuns)
    .where(and(inList(flowRuns.deploymentId, deploymentIds), holdsSlotSql))
    .groupBy(flowRuns.deploymentId);
  return new Map(rows.map((r) => [r.deploymentId as string, r.n]));
}

/**
 * For a runner (`serve()`): claims the due runs of the given deployments, whatever their pool,
 * within the deployments' concurrency limits, which hold across servers: the claim locks the
 * deployments (marking them polled) before it counts their runs. With `waitMs`, an empty answer
 * waits for a run.
 */
export async function claimDeploymentRuns(ctx: PostgresContext, input: ClaimDeploymentRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> {
  const claim = ClaimDeploymentRunsInput.parse(input);
  const once = async () => {
    const before = new Date(claim.scheduledBefore).toISOString();
    const { taken, written } = await transaction(ctx, async (tx) => {
      const limits = await pollDeployments(tx, claim.deploymentIds, ctx.clock.now().toISOString());
      const dueOfDeployments = dueRuns(tx, 'drover_claim_due_of_deployments', sql`${flowRuns.deploymentId} = ANY(${sql.placeholder('deploymentIds')}::text[])`);
      const claimed = await claimDue(
        ctx,
        tx,
        (after) => dueOfDeployments.execute({ deploymentIds: claim.deploymentIds, before, ...after }),
        claim.limit,
        limits,
        claim.workerName,
      );
      const written = await writeStates(tx, claimed.writes, stateEvents(claimed.taken, claimed.ended));
      return { taken: claimed.taken, written };
    });
    // A run with a queue is in a pool that this claim did not read.
    rememberClaimed(ctx, written, (run) => (run.workQueueId === null ? null : undefined));
    return claimedRuns(ctx.db, taken);
  };
  return pollDeploymentClaims({ clock: ctx.clock, events: ctx.events, setFlowRunState: (state) => setFlowRunState(ctx, state) }, claim, once, signal);
}

/**
 * Marks the deployments polled now (a runner polling is what makes its deployments READY, see
 * readiness.ts), which locks them, in id order; then counts the runs holding a slot of those with
 * a limit. Returns the limits of all of them (null: no limit, or no such deployment).
 */
async function pollDeployments(tx: PgTx, deploymentIds: readonly string[], now: string): Promise<Map<string, DeploymentLimit>> {
  const inIdOrder = tx
    .select({ id: deployments.id })
    .from(deployments)
    .where(inList(deployments.id, deploymentIds))
    .orderBy(asc(deployments.id))
    .for('no key update');
  const locked = await tx
    .update(deployments)
    .set({ lastPolled: now })
    .where(inArray(deployments.id, inIdOrder))
    .returning({ id: deployments.id, limit: deployments.concurrencyLimit, collisionStrategy: deployments.collisionStrategy });
  const limits = new Map<string, DeploymentLimit>(deploymentIds.map((id) => [id, null]));
  const limited = locked.filter((d) => d.limit !== null);
  if (limited.length === 0) return limits;
  const active = await activeByDeployment(
    tx,
    limited.map((d) => d.id),
  );
  for (const d of limited) limits.set(d.id, { limit: d.limit as number, active: active.get(d.id) ?? 0, collisionStrategy: d.collisionStrategy });
  return limits;
}
