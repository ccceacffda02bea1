/**
 * What the background services do to runs that time has overtaken, on PostgreSQL (see
 * ../runMaintenance.ts for the rules). Two servers may run the same service at once (a leader
 * changing hands, a test running two): each operation locks the runs it changes with
 * `FOR UPDATE SKIP LOCKED` and re-checks them under the lock, so a run is changed once, by one
 * of them, and a second pass finds nothing left to do.
 */
import { and, eq, inArray, isNotNull, lt, ne, or, type SQL } from 'drizzle-orm';
import { deploymentSchedules, flowRuns } from '../../db/pgSchema.js';
import type { PgTx } from '../../db/postgres.js';
import type { Proposal } from '../../orchestration.js';
import { catchupReasons, expiredCancellation, lateProposal, silenceProposal, silenceThreshold } from '../runMaintenance.js';
import { channelsOf, transition } from './flowRuns.js';
import { notify, type PostgresContext, runsAvailable, transaction } from './postgresContext.js';
import { inList } from './sqlDialect.js';

type RunRow = typeof flowRuns.$inferSelect;

/**
 * The runs matching `where`, locked for this transaction. Runs another transaction holds are
 * skipped (it is changing them; the next pass sees what it did), and PostgreSQL checks `where`
 * again on the newest version of each run it locks, so every run returned still qualifies.
 */
function lockRuns(tx: PgTx, where: SQL | undefined): Promise<RunRow[]> {
  return tx.select().from(flowRuns).where(where).orderBy(flowRuns.id).for('update', { skipLocked: true });
}

/**
 * Proposes a state for each of `runs` (locked by this transaction) through orchestration, and
 * tells every server of the changes on commit; returns the ids changed, in the order of `runs`.
 */
async function changeRuns(ctx: PostgresContext, tx: PgTx, runs: readonly RunRow[], propose: (run: RunRow) => Proposal): Promise<string[]> {
  const changed: { id: string; type: string; workQueueId: string | null; deploymentId: string | null }[] = [];
  for (const run of runs) {
    const outcome = await transition(tx, ctx, run, propose(run));
    if (outcome.written) changed.push({ id: run.id, type: outcome.written.type, workQueueId: run.workQueueId, deploymentId: run.deploymentId });
  }
  if (changed.length === 0) return [];
  await notify(tx, [
    ...changed.map((c) => ({ type: 'runStateChanged' as const, flowRunId: c.id, stateType: c.type })),
    ...runsAvailable(await channelsOf(tx, changed)),
  ]);
  return changed.map((c) => c.id);
}

/** SCHEDULED runs more than `lateAfterMs` past their time become Late (still SCHEDULED). */
export async function markLateRuns(ctx: PostgresContext, lateAfterMs: number): Promise<string[]> {
  const threshold = new Date(ctx.clock.now().getTime() - lateAfterMs).toISOString();
  return transaction(ctx, async (tx) => {
    const runs = await lockRuns(
      tx,
      and(
        eq(flowRuns.stateType, 'SCHEDULED'),
        ne(flowRuns.stateName, 'Late'),
        eq(flowRuns.retryInProcess, false),
        lt(flowRuns.nextScheduledStartTime, threshold),
      ),
    );
    return changeRuns(ctx, tx, runs, lateProposal);
  });
}

/**
 * Cancels the Late scheduler runs their schedule says not to catch up (see ../runMaintenance.ts).
 * Which runs those are depends on all of a schedule's Late runs (`latest` keeps the newest), so
 * they are all read first, without locks, and only the runs to cancel are then locked and checked
 * again: still Late and unchanged since the read.
 */
export async function applyCatchup(ctx: PostgresContext): Promise<string[]> {
  return transaction(ctx, async (tx) => {
    const now = ctx.clock.now().getTime();
    const rows = await tx
      .select({ run: flowRuns, catchup: deploymentSchedules.catchup, maxLateSeconds: deploymentSchedules.maxLateSeconds })
      .from(flowRuns)
      .innerJoin(deploymentSchedules, eq(deploymentSchedules.id, flowRuns.scheduleId))
      .where(
        and(
          eq(flowRuns.stateType, 'SCHEDULED'),
          eq(flowRuns.stateName, 'Late'),
          eq(flowRuns.autoScheduled, true),
          or(ne(deploymentSchedules.catchup, 'all'), isNotNull(deploymentSchedules.maxLateSeconds)),
        ),
      )
      .orderBy(flowRuns.id);
    const reasons = catchupReasons(rows, now);
    if (reasons.size === 0) return [];
    const read = new Map(rows.map(({ run }) => [run.id, run]));
    const locked = await lockRuns(tx, and(inList(flowRuns.id, [...reasons.keys()]), eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.stateName, 'Late')));
    const unchanged = new Set(locked.filter((run) => run.stateTimestamp === read.get(run.id)?.stateTimestamp).map((run) => run.id));
    // In the order of the read, as SQLite changes them.
    const byId = new Map(locked.map((run) => [run.id, run]));
    const runs = [...reasons.keys()].filter((id) => unchanged.has(id)).map((id) => byId.get(id) as RunRow);
    return changeRuns(ctx, tx, runs, (run) => ({ type: 'CANCELLED', message: reasons.get(run.id) }));
  });
}

/**
 * Runs whose jobs have gone silent for `timeoutMs` are crashed or offered again (see
 * ../runMaintenance.ts), counting silence from `listeningSince` at the earliest.
 */
export async function crashSilentRuns(ctx: PostgresContext, timeoutMs: number, listeningSince: Date): Promise<string[]> {
  const now = ctx.clock.now().getTime();
  const threshold = silenceThreshold(now, timeoutMs, listeningSince);
  if (threshold === null) return [];
  return transaction(ctx, async (tx) => {
    const runs = await lockRuns(
      tx,
      and(
        or(inArray(flowRuns.stateType, ['RUNNING', 'PENDING']), and(eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.retryInProcess, true))),
        lt(flowRuns.lastHeartbeat, threshold),
      ),
    );
    return changeRuns(ctx, tx, runs, (run) => silenceProposal(run, now));
  });
}

/** CANCELLING runs that no worker confirmed within `graceMs` are CANCELLED by the server. */
export async function expireCancellations(ctx: PostgresContext, graceMs: number): Promise<string[]> {
  const threshold = new Date(ctx.clock.now().getTime() - graceMs).toISOString();
  const proposal = expiredCancellation(graceMs);
  return transaction(ctx, async (tx) => {
    const runs = await lockRuns(tx, and(eq(flowRuns.stateType, 'CANCELLING'), lt(flowRuns.stateTimestamp, threshold)));
    return changeRuns(ctx, tx, runs, () => proposal);
  });
}
