/**
 * Readiness, as Prefect shows it: is anything there to run a deployment's or a queue's runs now,
 * and if not, why, in words. Read from the pools' flags, their workers' heartbeats and when each
 * queue (or, for a runner, each deployment) was last polled: the answer to "why is my run Late?".
 */
import { inArray } from 'drizzle-orm';
import { workers, workPools } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { isOnline } from './rows.js';

/**
 * A queue or runner deployment not polled for this long has nobody polling it: workers and runners
 * poll at least every 60 s (their longest long-poll), so three of those is a missed poll, not a slow one.
 */
const POLL_SILENCE_MS = 180_000;

/** What readiness needs of a pool. */
export interface PoolFacts {
  readonly name: string;
  readonly isPaused: boolean;
  /** At least one of its workers is ONLINE. */
  readonly online: boolean;
}

export interface Readiness<S extends string> {
  readonly status: S;
  readonly statusReason: string | null;
}

/** The pools with these ids, with whether a worker of each is online, in one read of each table. */
export function poolFacts(db: Executor, poolIds: readonly string[], now: Date, missedHeartbeats: number): Map<string, PoolFacts> {
  const ids = [...new Set(poolIds)];
  if (ids.length === 0) return new Map();
  const pools = db.select({ id: workPools.id, name: workPools.name, isPaused: workPools.isPaused }).from(workPools).where(inArray(workPools.id, ids)).all();
  const beats = db.select().from(workers).where(inArray(workers.workPoolId, ids)).all();
  return poolFactsOf(pools, beats, now, missedHeartbeats);
}

/** The facts of `pools`, from the heartbeats of their workers. */
export function poolFactsOf(
  pools: readonly { id: string; name: string; isPaused: boolean }[],
  beats: readonly Pick<typeof workers.$inferSelect, 'workPoolId' | 'lastHeartbeat' | 'heartbeatIntervalSeconds'>[],
  now: Date,
  missedHeartbeats: number,
): Map<string, PoolFacts> {
  const online = new Set(beats.filter((w) => isOnline(w, now, missedHeartbeats)).map((w) => w.workPoolId));
  return new Map(pools.map((p) => [p.id, { name: p.name, isPaused: p.isPaused, online: online.has(p.id) }]));
}

const silent = (lastPolled: string | null, now: Date) => lastPolled === null || now.getTime() - Date.parse(lastPolled) > POLL_SILENCE_MS;

/** Why a queue's runs would not be claimed now, or READY. */
export function queueReadiness(
  queue: { name: string; isPaused: boolean; lastPolled: string | null },
  pool: PoolFacts,
  now: Date,
): Readiness<'READY' | 'NOT_READY' | 'PAUSED'> {
  if (queue.isPaused) return { status: 'PAUSED', statusReason: `queue ${queue.name} is paused` };
  const poolReason = poolNotReady(pool);
  if (poolReason) return { status: 'NOT_READY', statusReason: poolReason };
  if (silent(queue.lastPolled, now))
    return {
      status: 'NOT_READY',
      statusReason: `no worker of pool ${pool.name} has polled queue ${queue.name} in the last 3 minutes (workers started with --queue poll only theirs)`,
    };
  return { status: 'READY', statusReason: null };
}

function poolNotReady(pool: PoolFacts): string | null {
  if (pool.isPaused) return `work pool ${pool.name} is paused`;
  if (!pool.online) return `no online worker in pool ${pool.name} (start one with \`drover worker start --pool ${pool.name}\`)`;
  return null;
}

/**
 * Why a deployment's runs would not start now, or READY: on a pool, what its queue says; without
 * one, whether a runner (`serve()`) is polling for it.
 */
export function deploymentReadiness(
  deployment: { paused: boolean; lastPolled: string | null },
  queue: { name: string; isPaused: boolean; lastPolled: string | null } | null,
  pool: PoolFacts | null,
  now: Date,
): Readiness<'READY' | 'NOT_READY'> & { readonly lastPolled: string | null } {
  const lastPolled = queue ? queue.lastPolled : deployment.lastPolled;
  const notReady = (statusReason: string) => ({ status: 'NOT_READY' as const, statusReason, lastPolled });
  if (deployment.paused) return notReady('the deployment is paused');
  if (queue && pool) {
    const { status, statusReason } = queueReadiness(queue, pool, now);
    return status === 'READY' ? { status, statusReason, lastPolled } : notReady(statusReason as string);
  }
  if (silent(deployment.lastPolled, now)) return notReady('it has no work pool, and no runner (serve()) has polled for it in the last 3 minutes');
  return { status: 'READY', statusReason: null, lastPolled };
}
