/**
 * The runs this server wrote last, as it wrote them, with the version of their row (PostgreSQL's
 * `xmin`, which every change to a row replaces). A state change of such a run decides on this copy
 * and writes on the condition that the row is still at that version (flowRuns.ts
 * `setFlowRunState`), so the common life of a run (created, claimed, RUNNING, COMPLETED through
 * one server) reads no row back. A copy is never trusted alone: when the row changed elsewhere
 * (another server, a heartbeat, a service), the conditional write finds another version, writes
 * nothing, and the change is decided again on the row read afresh; an answer that writes nothing
 * is never given from a copy.
 */
import type { flowRuns } from '../../db/pgSchema.js';

type RunRow = typeof flowRuns.$inferSelect;

export interface RecentRun {
  readonly run: RunRow;
  /** The pool of the run's queue (null without a queue), for the claimers a change wakes. */
  readonly workPoolId: string | null;
  readonly version: string;
}

/** Runs kept at most: the oldest written goes first (a run in flight is rewritten often). */
export const RECENT_RUNS_CAPACITY = 10_000;

export class RecentRuns {
  readonly #runs = new Map<string, RecentRun>();

  get(id: string): RecentRun | undefined {
    return this.#runs.get(id);
  }

  /**
   * Keeps `entry` as its run's latest write, without the run's parameters, job variables and
   * result: deciding a state change never reads them, and each may be 512 KiB, so 10,000 copies
   * with them could hold gigabytes.
   */
  remember(entry: RecentRun): void {
    const run = { ...entry.run, parameters: {}, jobVariables: {}, result: null };
    this.#runs.delete(run.id);
    this.#runs.set(run.id, { ...entry, run });
    if (this.#runs.size > RECENT_RUNS_CAPACITY) this.#runs.delete(this.#runs.keys().next().value as string);
  }

  forget(id: string): void {
    this.#runs.delete(id);
  }
}
