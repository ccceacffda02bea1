/**
 * What every PostgreSQL store operation works with, and the two things it does differently from
 * SQLite: transactions that several servers run at once on one database, and events that reach
 * every server (NOTIFY) instead of this process alone.
 */
import { sql } from 'drizzle-orm';
import type { QueryResultRow } from 'pg';
import type { Clock } from '../../clock.js';
import type { PgDb, PgExecutor, PgTx } from '../../db/postgres.js';
import type { ServerEvents } from '../../events.js';
import type { StoreSettings } from '../storeContext.js';
import type { RecentRuns } from './recentRuns.js';
import { textArray } from './sqlDialect.js';

export interface PostgresContext {
  readonly db: PgDb;
  readonly clock: Clock;
  /**
   * This server's events, which long-polls and services listen to. Store operations never emit on
   * it: they `notify()`, and the LISTEN connection (postgresEvents.ts) emits what every server sent.
   */
  readonly events: ServerEvents;
  readonly settings: StoreSettings;
  /** The runs this server wrote last, for state changes that need not read them back (recentRuns.ts). */
  readonly recentRuns: RecentRuns;
}

/** A server event as it travels between servers: the payload of one NOTIFY. */
export type StoreEvent =
  /** `count` runs became claimable on `channel`; null wakes every waiting claimer (WAKE_ALL). */
  | { readonly type: 'runsAvailable'; readonly channel: string; readonly count: number | null }
  | { readonly type: 'deploymentChanged'; readonly deploymentId: string }
  | { readonly type: 'runStateChanged'; readonly flowRunId: string; readonly stateType: string };

/** The NOTIFY channel every Drover server on the database listens to. */
export const EVENTS_CHANNEL = 'drover_events';

/** NOTIFY payloads must stay under 8000 bytes; events are sent in batches below that. */
const MAX_PAYLOAD_BYTES = 7000;

/**
 * Tells every server (this one too) about `events`. Inside a transaction PostgreSQL holds the
 * notification until COMMIT and drops it on ROLLBACK, so a listener never hears of a run that
 * was not stored: call it in the transaction that made the change.
 */
export async function notify(db: PgExecutor, events: readonly StoreEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, payload) FROM unnest(${textArray(notifyPayloads(events))}) AS payload`);
}

/** The NOTIFY payloads that carry `events`: JSON arrays, each under `MAX_PAYLOAD_BYTES`. */
export function notifyPayloads(events: readonly StoreEvent[]): string[] {
  const batches: string[] = [];
  let batch: string[] = [];
  let bytes = 2;
  for (const event of events) {
    const text = JSON.stringify(event);
    if (batch.length > 0 && bytes + text.length + 1 > MAX_PAYLOAD_BYTES) {
      batches.push(`[${batch.join(',')}]`);
      batch = [];
      bytes = 2;
    }
    batch.push(text);
    bytes += text.length + 1;
  }
  if (batch.length > 0) batches.push(`[${batch.join(',')}]`);
  return batches;
}

/** The `runsAvailable` events that wake, on each channel, as many claimers as it offers runs. */
export function runsAvailable(channels: ReadonlyMap<string, number>): StoreEvent[] {
  return [...channels].map(([channel, count]) => ({ type: 'runsAvailable', channel, count }));
}

/** SQLSTATEs after which the whole transaction may simply run again: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/**
 * Runs `body` in one READ COMMITTED transaction: all of its writes are stored, or none. When
 * PostgreSQL aborts it to break a deadlock between servers (or a serialization failure), it runs
 * again from the start, so `body` must do nothing outside the database that it cannot repeat.
 */
export async function transaction<T>(ctx: PostgresContext, body: (tx: PgTx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.db.transaction(body);
    } catch (error) {
      const code = (error as { code?: unknown; cause?: { code?: unknown } }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
      if (attempt >= MAX_ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/**
 * Runs `text` as the prepared statement `name` on a connection of the pool, outside any
 * transaction (one statement is atomic on its own). For the hot paths that are one statement: a
 * Drizzle query is built again on every call (Drizzle's `prepare` serves only its query builder's
 * statements, not `sql` with CTEs), which cost the server more CPU than the database spent on them.
 * `name` must always go with the same `text`.
 */
export async function preparedQuery<Row>(db: PgDb, name: string, text: string, values: readonly unknown[]): Promise<Row[]> {
  const result = await db.$client.query<Row & QueryResultRow>({ name, text, values: [...values] });
  return result.rows;
}

const preparedByPool = new WeakMap<PgDb, Map<string, unknown>>();

/**
 * The Drizzle prepared query `name`, built by `build` once per pool and reused: Drizzle builds a
 * query's text every time its builder runs, and on the hot paths that building cost the server
 * more CPU than the database spent running the query. Only for queries on the pool (`ctx.db`),
 * not in a transaction, whose handle is new each time.
 */
export function preparedOnPool<Query>(db: PgDb, name: string, build: (db: PgDb, name: string) => Query): Query {
  let queries = preparedByPool.get(db);
  if (!queries) {
    queries = new Map();
    preparedByPool.set(db, queries);
  }
  if (!queries.has(name)) queries.set(name, build(db, name));
  return queries.get(name) as Query;
}
