import { ACTIVE_STATE_TYPES, ClaimDeploymentRunsInput, ClaimRunsInput, DroverError, type FlowRun } from '@drover/schemas';
import { and, asc, count, eq, gt, inArray, lte, min, or, type SQL } from 'drizzle-orm';
import { deploymentChannel } from '../events.js';
import { deployments, flowRuns, workQueues } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import type { StoreContext } from './context.js';
import { activeRunsOfDeployment, loadRuns, transition } from './flowRuns.js';
import { requirePool } from './workPools.js';

type Claim = ReturnType<typeof ClaimRunsInput.parse>;
type DeploymentLimit = { limit: number; active: number; collisionStrategy: 'ENQUEUE' | 'CANCEL_NEW' } | null;

const PAGE = 200;

/** A run a claim did not take but moved (CANCEL_NEW cancels it): its waiters are told after commit. */
type Ended = { id: string; type: string };

/**
 * Hands a worker the pool's due runs and moves each to PENDING in the same transaction, so two
 * workers never get the same run. Queues are served in priority order (1 first); paused pools and
 * queues give nothing; pool, queue and deployment concurrency limits are never exceeded. With
 * `waitMs`, an empty answer waits until a run is created for the pool (or the time is up).
 */
export async function claimRuns(ctx: StoreContext, input: ClaimRunsInput, signal?: AbortSignal): Promise<FlowRun[]> {
  const claim = ClaimRunsInput.parse(input);
  const first = claimOnce(ctx, claim);
  if (first.runs.length > 0 || claim.waitMs === 0) return first.runs;
  // Wake for a new run, or when the next scheduled one enters the worker's window, whichever is first.
  const started = ctx.clock.now().getTime();
  const before = Date.parse(claim.scheduledBefore);
  const nextDue = nextDueTime(ctx, first.workPoolId);
  const untilDue = nextDue === null ? Number.POSITIVE_INFINITY : Math.max(0, Date.parse(nextDue) - before);
  await waitForRuns(ctx, [first.workPoolId], Math.min(claim.waitMs, untilDue), signal);
  // A worker that hung up would never launch what it was given.
  if (signal?.aborted) return [];
  const waited = ctx.clock.now().getTime() - started;
  return claimOnce(ctx, { ...claim, scheduledBefore: new Date(before + waited).toISOString() }).runs;
}

/** When the pool's next SCHEDULED run is due, or null when it has none. */
function nextDueTime(ctx: StoreContext, workPoolId: string): string | null {
  const row = ctx.db
    .select({ next: min(flowRuns.nextScheduledStartTime) })
    .from(flowRuns)
    .innerJoin(workQueues, eq(workQueues.id, flowRuns.workQueueId))
    .where(and(eq(workQueues.workPoolId, workPoolId), eq(flowRuns.stateType, 'SCHEDULED'), eq(flowRuns.retryInProcess, false)))
    .get();
  return row?.next ?? null;
}

/**
 * Resolves when runs become available on one of `channels` (pool ids, deployment channels), after
 * `waitMs`, or when the caller hangs up (`signal`).
 */
function waitForRuns(ctx: StoreContext, channels: readonly string[], waitMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      ctx.events.off('runsAvailable', onRuns);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    signal?.addEventListener('abort', done, { once: true });
    const onRuns = (channel: string) => {
      if (channels.includes(channel)) done();
    };
    const timer = setTimeout(done, waitMs);
    ctx.events.on('runsAvailable', onRuns);
  });
}

function claimOnce(ctx: StoreContext, claim: Claim): { runs: FlowRun[]; workPoolId: string } {
  const now = ctx.clock.now();
  const before = new Date(claim.scheduledBefore).toISOString();
  const { ids, ended, workPoolId } = ctx.db.transaction(
    (tx) => {
      const pool = requirePool(tx, claim.workPoolName);
      const allQueues = tx.select().from(workQueues).where(eq(workQueues.workPoolId, pool.id)).orderBy(asc(workQueues.priority)).all();
      const queues = claim.workQueueNames ? allQueues.filter((q) => claim.workQueueNames?.includes(q.name)) : allQueues;
      const unknown = claim.workQueueNames?.find((name) => !allQueues.some((q) => q.name === name));
      if (unknown !== undefined) {
        throw new DroverError('WORK_QUEUE_NOT_FOUND', `Work queue "${unknown}" not found in pool "${pool.name}" (its queues: ${allQueues.map((q) => q.name).join(', ')})`, {
          workPoolName: pool.name,
          workQueueName: unknown,
        });
      }
      if (queues.length > 0) {
        tx.update(workQueues).set({ lastPolled: now.toISOString() }).where(inArray(workQueues.id, queues.map((q) => q.id))).run();
      }
      if (pool.isPaused) return { ids: [], ended: [], workPoolId: pool.id };

      const active = activeByQueue(tx, allQueues.map((q) => q.id));
      const poolActive = [...active.values()].reduce((a, b) => a + b, 0);
      let remaining = Math.min(claim.limit, pool.concurrencyLimit === null ? Number.POSITIVE_INFINITY : pool.concurrencyLimit - poolActive);
      const limits = new Map<string, DeploymentLimit>();
      const ids: string[] = [];
      const ended: Ended[] = [];
      for (const queue of queues) {
        if (remaining <= 0) break;
        if (queue.isPaused) continue;
        const take = Math.min(remaining, queue.concurrencyLimit === null ? Number.POSITIVE_INFINITY : queue.concurrencyLimit - (active.get(queue.id) ?? 0));
        const claimed = claimDue(tx, ctx, eq(flowRuns.workQueueId, queue.id), before, take, limits, claim.workerName);
        ids.push(...claimed.ids);
        ended.push(...claimed.ended);
        remaining -= claimed.ids.length;
      }
      return { ids, ended, workPoolId: pool.id };
    },
    { behavior: 'immediate' },
  );
  for (const id of ids) ctx.events.emit('runStateChanged', id, 'PENDING');
  for (const run of ended) ctx.events.emit('runStateChanged', run.id, run.type);
  return { runs: loadRuns(ctx.db, ids), workPoolId };
}

/**
 * Moves up to `take` due SCHEDULED runs matching `where` to PENDING for `workerName`, soonest
 * first, skipping runs whose deployment is at its limit (ENQUEUE: they wait as they are;
 * CANCEL_NEW: orchestration cancels them). Pages through candidates, so skipped runs never hide
 * claimable ones behind them. Returns the claimed ids, and the ids of runs it cancelled instead.
 */
function claimDue(
  tx: Executor,
  ctx: StoreContext,
  where: SQL,
  before: string,
  take: number,
  limits: Map<string, DeploymentLimit>,
  workerName: string,
): { ids: string[]; ended: Ended[] } {
  const ids: string[] = [];
  const ended: Ended[] = [];
  let after: { time: string; id: string } | null = null;
  while (ids.length < take) {
    const page = tx
      .select()
      .from(flowRuns)
      .where(
        and(
          where,
          eq(flowRuns.stateType, 'SCHEDULED'),
          eq(flowRuns.retryInProcess, false),
          lte(flowRuns.nextScheduledStartTime, before),
          after ? or(gt(flowRuns.nextScheduledStartTime, after.time), and(eq(flowRuns.nextScheduledStartTime, after.time), gt(flowRuns.id, after.id))) : undefined,
        ),
      )
      .orderBy(asc(flowRuns.nextScheduledStartTime), asc(flowRuns.id))
      .limit(PAGE)
      .all();
    for (const run of page) {
      if (ids.length >= take) break;
      const slots = run.deploymentId ? deploymentLimit(tx, limits, run.deploymentId) : null;
      // At an ENQUEUE deployment's limit the run simply waits its turn, SCHEDULED as it is.
      if (slots && slots.active >= slots.limit && slots.collisionStrategy === 'ENQUEUE') continue;
      const outcome = transition(tx, ctx, run, { type: 'PENDING' }, { deploymentSlots: slots, extras: { workerName } });
      if (outcome.status === 'ACCEPT') {
        ids.push(run.id);
        if (slots) slots.active++;
      } else if (outcome.written) {
        ended.push({ id: run.id, type: outcome.written.type });
      }
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) break;
    after = { time: last.nextScheduledStartTime as string, id: last.id };
  }
  return { ids, ended };
}

/**
 * For a runner (`serve()`): claims the due runs of the given deployments, whatever their pool,
 * within the deployments' concurrency limits. With `waitMs`, an empty answer waits for a run.
 */
export async function claimDeploymentRuns(ctx: StoreContext, input: ClaimDeploymentRunsInput, signal?: AbortSignal): Promise<FlowRun[]> {
  const claim = ClaimDeploymentRunsInput.parse(input);
  const once = () => {
    const before = new Date(claim.scheduledBefore).toISOString();
    const { ids, ended } = ctx.db.transaction(
      (tx) => claimDue(tx, ctx, inArray(flowRuns.deploymentId, claim.deploymentIds), before, claim.limit, new Map(), claim.workerName),
      { behavior: 'immediate' },
    );
    for (const id of ids) ctx.events.emit('runStateChanged', id, 'PENDING');
    for (const run of ended) ctx.events.emit('runStateChanged', run.id, run.type);
    return loadRuns(ctx.db, ids);
  };
  const first = once();
  if (first.length > 0 || claim.waitMs === 0) return first;
  await waitForRuns(ctx, claim.deploymentIds.map(deploymentChannel), claim.waitMs, signal);
  return signal?.aborted ? [] : once();
}

function activeByQueue(db: Executor, queueIds: string[]): Map<string, number> {
  if (queueIds.length === 0) return new Map();
  const rows = db
    .select({ queueId: flowRuns.workQueueId, n: count() })
    .from(flowRuns)
    .where(and(inArray(flowRuns.workQueueId, queueIds), inArray(flowRuns.stateType, [...ACTIVE_STATE_TYPES])))
    .groupBy(flowRuns.workQueueId)
    .all();
  return new Map(rows.map((r) => [r.queueId as string, r.n]));
}

function deploymentLimit(db: Executor, cache: Map<string, DeploymentLimit>, deploymentId: string): DeploymentLimit {
  if (!cache.has(deploymentId)) {
    const deployment = db.select().from(deployments).where(eq(deployments.id, deploymentId)).get();
    cache.set(
      deploymentId,
      deployment?.concurrencyLimit != null
        ? { limit: deployment.concurrencyLimit, active: activeRunsOfDeployment(db, deploymentId), collisionStrategy: deployment.collisionStrategy }
        : null,
    );
  }
  return cache.get(deploymentId) ?? null;
}
