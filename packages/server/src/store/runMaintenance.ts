/**
 * What the background services do to runs that time has overtaken: mark Late, apply a schedule's
 * catch-up policy to missed runs, crash runs whose heartbeats stopped, and finish cancellations
 * no worker confirmed. Every change goes through orchestration, like any other.
 */
import { and, eq, inArray, isNotNull, lt, ne, or } from 'drizzle-orm';
import { deploymentSchedules, flowRuns } from '../db/schema.js';
import type { Proposal } from '../orchestration.js';
import { announceRunsAvailable, channelsOf, transition } from './flowRuns.js';
import type { StoreContext } from './storeContext.js';

type RunRow = typeof flowRuns.$inferSelect;

/** `95 s`, `12 min`, `2 h`: how late or how long, as a person would say it. */
function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** Changes runs one at a time in one transaction and tells waiters; returns the ids changed. */
function changeRuns(ctx: StoreContext, runs: readonly RunRow[], propose: (run: RunRow) => Proposal): string[] {
  if (runs.length === 0) return [];
  const changed = ctx.db.transaction(
    (tx) =>
      runs.flatMap((stale) => {
        // Read again inside the write lock: a worker may have moved the run since the scan.
        const run = tx.select().from(flowRuns).where(eq(flowRuns.id, stale.id)).get();
        if (!run || run.stateType !== stale.stateType || run.stateTimestamp !== stale.stateTimestamp) return [];
        const outcome = transition(ctx, run, propose(run));
        return outcome.written ? [{ id: run.id, type: outcome.written.type, workQueueId: run.workQueueId, deploymentId: run.deploymentId }] : [];
      }),
    { behavior: 'immediate' },
  );
  for (const c of changed) ctx.events.emit('runStateChanged', c.id, c.type);
  announceRunsAvailable(ctx, channelsOf(ctx.db, changed));
  return changed.map((c) => c.id);
}

/** SCHEDULED runs more than `lateAfterMs` past their time become Late (still SCHEDULED). */
export function markLateRuns(ctx: StoreContext, lateAfterMs: number): string[] {
  const threshold = new Date(ctx.clock.now().getTime() - lateAfterMs).toISOString();
  const runs = ctx.db
    .select()
    .from(flowRuns)
    .where(
      and(
        eq(flowRuns.stateType, 'SCHEDULED'),
        ne(flowRuns.stateName, 'Late'),
        eq(flowRuns.retryInProcess, false),
        lt(flowRuns.nextScheduledStartTime, threshold),
      ),
    )
    .all();
  return changeRuns(ctx, runs, lateProposal);
}

/** What a run gone Late becomes: SCHEDULED as it was, named Late. */
export function lateProposal(run: Pick<RunRow, 'nextScheduledStartTime'>): Proposal {
  return { type: 'SCHEDULED', name: 'Late', scheduledTime: run.nextScheduledStartTime ?? undefined };
}

/**
 * Cancels the Late scheduler runs their schedule says not to catch up: every one under
 * `catchup: none`, all but the newest per schedule under `latest`, and any later than
 * `maxLateSeconds`. Manual runs are never cancelled here.
 */
export function applyCatchup(ctx: StoreContext): string[] {
  const now = ctx.clock.now().getTime();
  const rows = ctx.db
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
    .all();
  const reasons = catchupReasons(rows, now);
  const runs = rows.map((r) => r.run).filter((run) => reasons.has(run.id));
  return changeRuns(ctx, runs, (run) => ({ type: 'CANCELLED', message: reasons.get(run.id) }));
}

/** A Late scheduler run with its schedule's catch-up policy. */
export interface LateAutoRun {
  readonly run: Pick<RunRow, 'id' | 'scheduleId' | 'nextScheduledStartTime'>;
  readonly catchup: (typeof deploymentSchedules.$inferSelect)['catchup'];
  readonly maxLateSeconds: number | null;
}

/** Which of these runs their schedules say not to catch up at `now` (ms), each with why: `applyCatchup`'s rules. */
export function catchupReasons(rows: readonly LateAutoRun[], now: number): Map<string, string> {
  const newest = new Map<string, string>();
  for (const { run } of rows) {
    const key = run.scheduleId as string;
    if ((newest.get(key) ?? '') < (run.nextScheduledStartTime as string)) newest.set(key, run.nextScheduledStartTime as string);
  }
  const reasons = new Map<string, string>();
  for (const { run, catchup, maxLateSeconds } of rows) {
    const lateMs = now - Date.parse(run.nextScheduledStartTime as string);
    const late = `missed: ${humanDuration(lateMs)} late`;
    if (maxLateSeconds !== null && lateMs > maxLateSeconds * 1000) reasons.set(run.id, `${late}, schedule maxLateSeconds=${maxLateSeconds}`);
    else if (catchup === 'none') reasons.set(run.id, `${late}, schedule catchup=none`);
    else if (catchup === 'latest' && run.nextScheduledStartTime !== newest.get(run.scheduleId as string)) {
      reasons.set(run.id, `${late}, schedule catchup=latest (a newer missed run replaces it)`);
    }
  }
  return reasons;
}

/**
 * Runs whose jobs have gone silent for `timeoutMs`: RUNNING and PENDING runs become CRASHED
 * (their slot frees at once; retries apply), with a message naming the worker and the last
 * heartbeat. A PENDING run whose job was never launched (no infrastructure id: its worker died
 * holding it), and a run waiting in its engine for a retry whose engine fell silent, are offered
 * again instead, SCHEDULED at their time, since no job can be running them.
 *
 * Silence is counted from `listeningSince` at the earliest: while this server was down nobody
 * could heartbeat, so an outage longer than the timeout must not crash runs whose jobs are
 * healthy and only waiting for the server to come back.
 */
export function crashSilentRuns(ctx: StoreContext, timeoutMs: number, listeningSince: Date): string[] {
  const now = ctx.clock.now().getTime();
  const threshold = silenceThreshold(now, timeoutMs, listeningSince);
  if (threshold === null) return [];
  const runs = ctx.db
    .select()
    .from(flowRuns)
    .where(
      and(
        or(inArray(flowRuns.stateType, ['RUNNING', 'PENDING']), and(eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.retryInProcess, true))),
        lt(flowRuns.lastHeartbeat, threshold),
      ),
    )
    .all();
  return changeRuns(ctx, runs, (run) => silenceProposal(run, now));
}

/** The last heartbeat older than which a job is silent at `now` (ms), or null while this server has listened for less than `timeoutMs`. */
export function silenceThreshold(now: number, timeoutMs: number, listeningSince: Date): string | null {
  return now - listeningSince.getTime() <= timeoutMs ? null : new Date(now - timeoutMs).toISOString();
}

/** What a run whose job fell silent becomes at `now` (ms): see `crashSilentRuns`. */
export function silenceProposal(
  run: Pick<RunRow, 'stateType' | 'stateName' | 'lastHeartbeat' | 'workerName' | 'nextScheduledStartTime' | 'infrastructureId'>,
  now: number,
): Proposal {
  const silence = `No heartbeat for ${humanDuration(now - Date.parse(run.lastHeartbeat as string))} (last at ${run.lastHeartbeat}) from worker "${run.workerName ?? 'unknown'}"`;
  if (run.stateType === 'SCHEDULED') {
    return {
      type: 'SCHEDULED',
      name: run.stateName,
      scheduledTime: run.nextScheduledStartTime ?? undefined,
      message: `${silence} while it waited to retry: offered again`,
    };
  }
  if (run.stateType === 'PENDING' && run.infrastructureId === null) {
    return { type: 'SCHEDULED', scheduledTime: run.nextScheduledStartTime ?? undefined, message: `${silence} before it launched the job: offered again` };
  }
  return { type: 'CRASHED', message: `${silence}: its job is presumed dead` };
}

/** CANCELLING runs that no worker confirmed within `graceMs` are CANCELLED by the server. */
export function expireCancellations(ctx: StoreContext, graceMs: number): string[] {
  const threshold = new Date(ctx.clock.now().getTime() - graceMs).toISOString();
  const runs = ctx.db
    .select()
    .from(flowRuns)
    .where(and(eq(flowRuns.stateType, 'CANCELLING'), lt(flowRuns.stateTimestamp, threshold)))
    .all();
  const proposal = expiredCancellation(graceMs);
  return changeRuns(ctx, runs, () => proposal);
}

/** What a CANCELLING run becomes when no worker confirmed within `graceMs`. */
export function expiredCancellation(graceMs: number): Proposal {
  return { type: 'CANCELLED', message: `No worker confirmed the cancellation within ${humanDuration(graceMs)}, so the server cancelled the run` };
}
