import type { Clock } from '../clock.js';
import type { GroupCommit, SqliteDb } from '../db/sqlite.js';
import type { ServerEvents } from '../events.js';

/** Tunables of the store, with Prefect-compatible defaults. */
export interface StoreSettings {
  /** A run refused a deployment slot (ENQUEUE) is offered again after this long; within a worker's 10 s prefetch. */
  readonly slotWaitSeconds: number;
  /** A worker is OFFLINE after missing this many heartbeats. */
  readonly missedHeartbeats: number;
}

export const DEFAULT_STORE_SETTINGS: StoreSettings = { slotWaitSeconds: 5, missedHeartbeats: 3 };

/** What every store operation works with. */
export interface StoreContext {
  readonly db: SqliteDb;
  /** The hot paths' writes (creates, claims, state changes, heartbeats, logs), committed together per event-loop turn. */
  readonly commits: GroupCommit;
  readonly clock: Clock;
  readonly events: ServerEvents;
  readonly settings: StoreSettings;
}
