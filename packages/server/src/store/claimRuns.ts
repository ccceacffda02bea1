import { ClaimDeploymentRunsInput, type ClaimedFlowRun, ClaimRunsInput, droverErrorOf, type SetStateInput } from '@drover/schemas';
import { and, asc, count, eq, gt, lte, min, or, type SQL, sql } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import { deployments, flowRuns, workPools, workQueues } from '../db/schema.js';
import { preparedStatements, type SqliteDb } from '../db/sqlite.js';
import { deploymentChannel, queueChannel, type ServerEvents, type Wake } from '../events.js';
import { activeRunsOfDeployment, claimedRuns, deploymentRow, holdsSlotSql, newClaim, setFlowRunState, transition } from './flowRuns.js';
import { inJsonArray } from './sqlDialect.js';
import type { StoreContext } from './storeContext.js';
import { requirePool } from './workPools.js';

export type Claim = ReturnType<typeof ClaimRunsInput.parse>;
export type DeploymentClaim = ReturnType<typeof ClaimDeploymentRunsInput.parse>;
/** A deployment's concurrency limit as a claim tracks it: null for a deployment without one. */
export type DeploymentLimit = { limit: number; active: number; collisionStrategy: 'ENQUEUE' | 'CANCEL_NEW' } | null;

/**
 * Candidates are read a page at a time: a first page as long as the claim's limit (reading 200
 * full rows to hand out 10 cost most of such a claim), then pages twice as long, up to this,
 * when runs held back by a deployment's limit were skipped.
 */
export const MAX_PAGE = 200;

type RunRow = typeof flowRuns.$inferSelect;

/**
 * Due SCHEDULED runs matching `where`, soonest first, `pageSize` at a time after the cursor
 * (`afterTime`, `afterId`; both '' for the first page: every due run has a time, so all sort after it).
 */
function dueRuns(db: SqliteDb, where: SQL) {
  const afterTime = sql.placeholder('afterTime');
  return db
    .select()
    .from(flowRuns)
    .where(
      and(
        where,
        eq(flowRuns.stateType, 'SCHEDULED'),
        eq(flowRuns.retryInProcess, false),
        lte(flowRuns.nextScheduledStartTime, sql.placeholder('before')),
        or(gt(flowRuns.nextScheduledStartTime, afterTime), and(eq(flowRuns.nextScheduledStartTime, afterTime), gt(flowRuns.id, sql.placeholder('afterId')))),
      ),
    )
    .orderBy(asc(flowRuns.nextScheduledStartTime), asc(flowRuns.id))
    .limit(sql.placeholder('pageSize'))
    .prepare();
}

/** The statements of a claim, prepared once per database (see `preparedStatements`). */
const statements = preparedStatements((db: SqliteDb) => ({
  poolByName: db
    .select()
    .from(workPools)
    .where(eq(workPools.name, sql.placeholder('name')))
    .prepare(),
  queuesOfPool: db
    .select()
    .from(workQueues)
    .where(eq(workQueues.workPoolId, sql.placeholder('poolId')))
    .orderBy(asc(workQueues.priority))
    .prepare(),
  markDeploymentsPolled: db
    .update(deployments)
    .set({ lastPolled: sql`${sql.placeholder('now')}` })
    .where(inJsonArray(deployments.id, 'ids'))
    .prepare(),
  markPolled: db
    .update(workQueues)
    .set({ lastPolled: sql`${sql.placeholder('now')}` })
    .where(inJsonArray(workQueues.id, 'ids'))
    .prepare(),
  activeByQueue: db
    .select({ queueId: flowRuns.workQueueId, n: count() })
    .from(flowRuns)
    .where(and(inJsonArray(flowRuns.workQueueId, 'ids'), holdsSlotSql))
    .groupBy(flowRuns.workQueueId)
    .prepare(),
  dueInQueue: dueRuns(db, eq(flowRuns.workQueueId, sql.placeholder('queueId'))),
  dueOfDeployments: dueRuns(db, inJsonArray(flowRuns.deploymentId, 'deploymentIds')),
}));

/** `requirePool` through a prepared statement; a miss goes to `requirePool` itself for its error. */
function findPool(db: SqliteDb, name: string): typeof workPools.$inferSelect {
  return statements(db).poolByName.get({ name }) ?? requirePool(db, name);
}

/** A run a claim did not take but moved (CANCEL_NEW cancels it): its waiters are told after commit. */
export type Ended = { id: string; type: string };
/** A run a claim took, with the token its claimer gets (the store keeps only its hash). */
export type Taken = { id: string; token: string };
/** One look for due runs: what it claimed, and where a claim that got nothing waits. */
export type ClaimAttempt = { runs: ClaimedFlowRun[]; workPoolId: string; queueIds: string[] | null };

/**
 * What the long-poll of a claim needs from a store; the same long-poll serves SQLite and
 * PostgreSQL, so both wait, wake and hand out alike.
 */
export interface ClaimPoller {
  readonly clock: Clock;
  readonly events: ServerEvents;
  /** Offers a run a claimer hung up on again (see `handOut`). */
  setFlowRunState(input: SetStateInput): Promise<unknown>;
}

/**
 * Hands a worker the pool's due runs and moves each to PENDING in the same transaction, so two
 * workers never get the same run. Queues are served in priority order (1 first); paused pools and
 * queues give nothing; pool, queue and deployment concurrency limits are never exceeded. With
 * `waitMs`, an empty answer waits until a run is created for the pool (or the time is up).
 */
export async function claimRuns(ctx: StoreContext, input: ClaimRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> {
  return pollClaims(
    {
      clock: ctx.clock,
      events: ctx.events,
      setFlowRunState: (state) => setFlowRunState(ctx, state),
      claimOnce: (claim) => claimOnce(ctx, claim),
      nextDueTime: async (workPoolId, after) => nextDueTime(ctx, workPoolId, after),
    },
    ClaimRunsInput.parse(input),
    signal,
  );
}

/**
 * A worker's claim with its long-poll: claims once; when that gives nothing and the claim may
 * wait (`waitMs`), waits for a run on its pool or queues, or for the next scheduled one to enter
 * its window, and claims again. Woken by an announced run that another claimer took first, it
 * waits again for what is left of `waitMs`, rather than answer nothing early.
 */
export async function pollClaims(
  poller: ClaimPoller & {
    claimOnce(claim: Claim): Promise<ClaimAttempt>;
    /** When the pool's next SCHEDULED run after `after` is due, or null (see `nextDueTime`). */
    nextDueTime(workPoolId: string, after: string): Promise<string | null>;
  },
  claim: Claim,
  signal?: AbortSignal,
): Promise<ClaimedFlowRun[]> {
  const watch = watchRuns(poller.events);
  try {
    const first = await poller.claimOnce(claim);
    if (first.runs.length > 0 || claim.waitMs === 0) return handOut(poller, first.runs, signal);
    const started = poller.clock.now().getTime();
    const waitEnds = performance.now() + claim.waitMs;
    const before = Date.parse(claim.scheduledBefore);
    // A claim of some queues only wakes for runs offered on those queues (and for pool-wide changes);
    // a claim of the whole pool, for any of the pool's runs.
    const channels = first.queueIds
      ? { budgeted: first.queueIds.map(queueChannel), broadcast: [first.workPoolId] }
      : { budgeted: [first.workPoolId], broadcast: [] };
    let scheduledBefore = claim.scheduledBefore;
    for (;;) {
      // Wake for a new run, or when the next scheduled one enters the worker's window, whichever is first.
      const nextDue = await poller.nextDueTime(first.workPoolId, scheduledBefore);
      const untilDue = nextDue === null ? Number.POSITIVE_INFINITY : Math.max(0, Date.parse(nextDue) - Date.parse(scheduledBefore));
      const woken = await watch.wait(channels, Math.min(waitEnds - performance.now(), untilDue), signal);
      // A worker that hung up would never launch what it was given.
      if (signal?.aborted) return [];
      scheduledBefore = new Date(before + poller.clock.now().getTime() - started).toISOString();
      const { runs } = await poller.claimOnce({ ...claim, scheduledBefore });
      if (runs.length > 0 || woken !== 'announced' || performance.now() >= waitEnds) return handOut(poller, runs, signal);
    }
  } finally {
    watch.stop();
  }
}

/**
 * The claimed runs, for a claimer still there to get them. One that hung up while its claim was
 * being made (a worker stopping, a dropped connection) never sees the answer and would never
 * launch them: they are offered again at once, through orchestration, rather than waiting
 * PENDING for the heartbeat timeout.
 */
async function handOut(poller: ClaimPoller, runs: ClaimedFlowRun[], signal: AbortSignal | undefined): Promise<ClaimedFlowRun[]> {
  if (!signal?.aborted || runs.length === 0) return runs;
  for (const run of runs) {
    await poller.setFlowRunState({
      flowRunId: run.id,
      claimToken: run.claimToken,
      state: { type: 'SCHEDULED', scheduledTime: run.nextScheduledStartTime ?? undefined, message: 'Its claimer hung up before it got the run: offered again' },
    });
  }
  return [];
}

/**
 * When the pool's next SCHEDULED run after `after` is due, or null. Runs due already but held back
 * by a limit are not counted: the slot that frees wakes the claimer instead.
 */
function nextDueTime(ctx: StoreContext, workPoolId: string, after: string): string | null {
  const row = ctx.db
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
    )
    .get();
  return row?.next ?? null;
}

/** The channels a waiting claim wakes on: `budgeted` ones as one of the runs offered there; `broadcast` ones only when every waiter is to wake. */
interface WaitChannels {
  readonly budgeted: readonly string[];
  readonly broadcast: readonly string[];
}

/**
 * Whether an announcement on `channel` wakes a claim waiting on `channels`: one that wakes every
 * claimer does; one with a budget does while the budget lasts, and this claim takes one from it.
 */
function wakes(channels: WaitChannels, channel: string, wake: Wake): boolean {
  if (wake.remaining === Number.POSITIVE_INFINITY) return channels.budgeted.includes(channel) || channels.broadcast.includes(channel);
  if (wake.remaining <= 0 || !channels.budgeted.includes(channel)) return false;
  wake.remaining--;
  return true;
}

/**
 * Listens for `runsAvailable` from before a claim looks, so a run announced while it looks (its
 * create committed in the same group, or just after the look began) still wakes the wait that
 * follows. `wait` resolves at once if an announcement heard since the last wait wakes it, else
 * when one does (either way taking one from the announcement's budget: n runs wake n claimers,
 * oldest first), after `waitMs`, or when the caller hangs up (`signal`); it says which.
 */
function watchRuns(events: ServerEvents): {
  wait(channels: WaitChannels, waitMs: number, signal?: AbortSignal): Promise<'announced' | 'timeout' | 'aborted'>;
  stop(): void;
} {
  // Heard while the claim looked: budgets are taken only when it waits, so a look that got runs takes none.
  let heard: { channel: string; wake: Wake }[] = [];
  let waiting: { channels: WaitChannels; wake: () => void } | undefined;
  const onRuns = (channel: string, wake: Wake) => {
    if (waiting === undefined) heard.push({ channel, wake });
    else if (wakes(waiting.channels, channel, wake)) waiting.wake();
  };
  events.on('runsAvailable', onRuns);
  return {
    wait: (channels, waitMs, signal) =>
      new Promise((resolve) => {
        const pending = heard;
        heard = [];
        if (signal?.aborted) return resolve('aborted');
        if (pending.some(({ channel, wake }) => wakes(channels, channel, wake))) return resolve('announced');
        const done = (why: 'announced' | 'timeout' | 'aborted') => () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          waiting = undefined;
          resolve(why);
        };
        const onAbort = done('aborted');
        signal?.addEventListener('abort', onAbort, { once: true });
        const timer = setTimeout(done('timeout'), Math.max(0, waitMs));
        waiting = { channels, wake: done('announced') };
      }),
    stop: () => events.off('runsAvailable', onRuns),
  };
}

type PoolRow = Pick<typeof workPools.$inferSelect, 'name' | 'concurrencyLimit'>;
type QueueRow = Pick<typeof workQueues.$inferSelect, 'id' | 'name' | 'concurrencyLimit'>;

/** The queues a claim serves, in priority order: the named ones, or all; a name the pool lacks is WORK_QUEUE_NOT_FOUND. */
export function queuesToClaim<Q extends QueueRow>(pool: PoolRow, allQueues: readonly Q[], names: readonly string[] | undefined): readonly Q[] {
  const unknown = names?.find((name) => !allQueues.some((q) => q.name === name));
  if (unknown !== undefined) {
    throw droverErrorOf(
      'WORK_QUEUE_NOT_FOUND',
      `Work queue "${unknown}" not found in pool "${pool.name}" (its queues: ${allQueues.map((q) => q.name).join(', ')})`,
      {
        workPoolName: pool.name,
        workQueueName: unknown,
      },
    );
  }
  return names ? allQueues.filter((q) => names.includes(q.name)) : allQueues;
}

/** Whether a limit of the pool or of one of the claimed queues needs the runs holding slots counted. */
export function limitsApply(pool: PoolRow, queues: readonly QueueRow[]): boolean {
  return pool.concurrencyLimit !== null || queues.some((q) => q.concurrencyLimit !== null);
}

/** How many runs a claim of at most `limit` may take from the pool, given the runs holding a slot in each of its queues (`active`). */
export function poolRoom(pool: PoolRow, active: ReadonlyMap<string, number>, limit: number): number {
  const poolActive = [...active.values()].reduce((a, b) => a + b, 0);
  return Math.min(limit, pool.concurrencyLimit === null ? Number.POSITIVE_INFINITY : pool.concurrencyLimit - poolActive);
}

/** How many of the pool's `remaining` runs the queue may take. */
export function queueRoom(queue: QueueRow, active: ReadonlyMap<string, number>, remaining: number): number {
  return Math.min(remaining, queue.concurrencyLimit === null ? Number.POSITIVE_INFINITY : queue.concurrencyLimit - (active.get(queue.id) ?? 0));
}

/** Whether a due run waits as it is instead of being claimed: its ENQUEUE deployment is at its limit (CANCEL_NEW goes to orchestration, which cancels it). */
export function heldBack(slots: DeploymentLimit): boolean {
  return slots !== null && slots.active >= slots.limit && slots.collisionStrategy === 'ENQUEUE';
}

async function claimOnce(ctx: StoreContext, claim: Claim): Promise<ClaimAttempt> {
  const now = ctx.clock.now();
  const before = new Date(claim.scheduledBefore).toISOString();
  const db = ctx.db;
  const { taken, ended, workPoolId, queueIds } = await ctx.commits.run(() => {
    const pool = findPool(db, claim.workPoolName);
    const allQueues = statements(db).queuesOfPool.all({ poolId: pool.id });
    const queues = queuesToClaim(pool, allQueues, claim.workQueueNames);
    if (queues.length > 0) statements(db).markPolled.run({ now: now.toISOString(), ids: JSON.stringify(queues.map((q) => q.id)) });
    const queueIds = claim.workQueueNames ? queues.map((q) => q.id) : null;
    if (pool.isPaused) return { taken: [], ended: [], workPoolId: pool.id, queueIds };

    // Counting the active runs reads every one of them, so it is done only when a limit needs it.
    const active = limitsApply(pool, queues)
      ? activeByQueue(
          db,
          allQueues.map((q) => q.id),
        )
      : new Map<string, number>();
    let remaining = poolRoom(pool, active, claim.limit);
    const limits = new Map<string, DeploymentLimit>();
    const taken: Taken[] = [];
    const ended: Ended[] = [];
    for (const queue of queues) {
      if (remaining <= 0) break;
      if (queue.isPaused) continue;
      const take = queueRoom(queue, active, remaining);
      const claimed = claimDue(ctx, (after) => statements(db).dueInQueue.all({ queueId: queue.id, before, ...after }), take, limits, claim.workerName);
      taken.push(...claimed.taken);
      ended.push(...claimed.ended);
      remaining -= claimed.taken.length;
    }
    return { taken, ended, workPoolId: pool.id, queueIds };
  });
  for (const run of taken) ctx.events.emit('runStateChanged', run.id, 'PENDING');
  for (const run of ended) ctx.events.emit('runStateChanged', run.id, run.type);
  return { runs: claimedRuns(db, taken), workPoolId, queueIds };
}

/**
 * Moves up to `take` due SCHEDULED runs of `page` to PENDING for `workerName`, soonest first,
 * skipping runs whose deployment is at its limit (ENQUEUE: they wait as they are; CANCEL_NEW:
 * orchestration cancels them). Pages through candidates, so skipped runs never hide claimable
 * ones behind them. Returns the claimed runs with their new claim tokens, and the runs it
 * cancelled instead.
 */
function claimDue(
  ctx: StoreContext,
  page: (after: { afterTime: string; afterId: string; pageSize: number }) => RunRow[],
  take: number,
  limits: Map<string, DeploymentLimit>,
  workerName: string,
): { taken: Taken[]; ended: Ended[] } {
  const taken: Taken[] = [];
  const ended: Ended[] = [];
  let after = { afterTime: '', afterId: '' };
  let pageSize = Math.min(take, MAX_PAGE);
  while (taken.length < take) {
    const runs = page({ ...after, pageSize });
    for (const run of runs) {
      if (taken.length >= take) break;
      const slots = run.deploymentId ? deploymentLimit(ctx.db, limits, run.deploymentId) : null;
      // At an ENQUEUE deployment's limit the run simply waits its turn, SCHEDULED as it is.
      if (heldBack(slots)) continue;
      const claim = newClaim();
      const outcome = transition(ctx, run, { type: 'PENDING' }, { deploymentSlots: slots, extras: { workerName, claimHash: claim.hash } });
      if (outcome.status === 'ACCEPT') {
        taken.push({ id: run.id, token: claim.token });
        if (slots) slots.active++;
      } else if (outcome.written) {
        ended.push({ id: run.id, type: outcome.written.type });
      }
    }
    const last = runs.at(-1);
    if (!last || runs.length < pageSize) break;
    after = { afterTime: last.nextScheduledStartTime as string, afterId: last.id };
    pageSize = Math.min(pageSize * 2, MAX_PAGE);
  }
  return { taken, ended };
}

/**
 * For a runner (`serve()`): claims the due runs of the given deployments, whatever their pool,
 * within the deployments' concurrency limits. With `waitMs`, an empty answer waits for a run.
 */
export async function claimDeploymentRuns(ctx: StoreContext, input: ClaimDeploymentRunsInput, signal?: AbortSignal): Promise<ClaimedFlowRun[]> {
  const claim = ClaimDeploymentRunsInput.parse(input);
  const once = async () => {
    const before = new Date(claim.scheduledBefore).toISOString();
    const deploymentIds = JSON.stringify(claim.deploymentIds);
    const { taken, ended } = await ctx.commits.run(() => {
      // A runner polling is what makes its deployments READY (see readiness.ts).
      statements(ctx.db).markDeploymentsPolled.run({ now: ctx.clock.now().toISOString(), ids: deploymentIds });
      return claimDue(ctx, (after) => statements(ctx.db).dueOfDeployments.all({ deploymentIds, before, ...after }), claim.limit, new Map(), claim.workerName);
    });
    for (const run of taken) ctx.events.emit('runStateChanged', run.id, 'PENDING');
    for (const run of ended) ctx.events.emit('runStateChanged', run.id, run.type);
    return claimedRuns(ctx.db, taken);
  };
  return pollDeploymentClaims({ clock: ctx.clock, events: ctx.events, setFlowRunState: (state) => setFlowRunState(ctx, state) }, claim, once, signal);
}

/**
 * A runner's claim with its long-poll: claims once (`once`); when that gives nothing and the claim
 * may wait, waits for a run of its deployments and claims again (waiting on, as `pollClaims` does,
 * when another runner took the run first).
 */
export async function pollDeploymentClaims(
  poller: ClaimPoller,
  claim: DeploymentClaim,
  once: () => Promise<ClaimedFlowRun[]>,
  signal?: AbortSignal,
): Promise<ClaimedFlowRun[]> {
  const watch = watchRuns(poller.events);
  try {
    const first = await once();
    if (first.length > 0 || claim.waitMs === 0) return handOut(poller, first, signal);
    const waitEnds = performance.now() + claim.waitMs;
    for (;;) {
      const woken = await watch.wait({ budgeted: claim.deploymentIds.map(deploymentChannel), broadcast: [] }, waitEnds - performance.now(), signal);
      if (signal?.aborted) return [];
      const runs = await once();
      // Woken by a run another runner took first: wait on for what is left of `waitMs`.
      if (runs.length > 0 || woken !== 'announced' || performance.now() >= waitEnds) return handOut(poller, runs, signal);
    }
  } finally {
    watch.stop();
  }
}

function activeByQueue(db: SqliteDb, queueIds: string[]): Map<string, number> {
  if (queueIds.length === 0) return new Map();
  const rows = statements(db).activeByQueue.all({ ids: JSON.stringify(queueIds) });
  return new Map(rows.map((r) => [r.queueId as string, r.n]));
}

function deploymentLimit(db: SqliteDb, cache: Map<string, DeploymentLimit>, deploymentId: string): DeploymentLimit {
  if (!cache.has(deploymentId)) {
    const deployment = deploymentRow(db, deploymentId);
    cache.set(
      deploymentId,
      deployment?.concurrencyLimit != null
        ? { limit: deployment.concurrencyLimit, active: activeRunsOfDeployment(db, deploymentId), collisionStrategy: deployment.collisionStrategy }
        : null,
    );
  }
  return cache.get(deploymentId) ?? null;
}
