import { EventEmitter } from 'node:events';

/** What the server's parts tell each other: the store emits, services and long-polls listen. */
export interface ServerEventMap {
  /**
   * Runs became claimable (created, rescheduled, or a slot freed) on a channel: a work pool's id
   * for workers, or `deploymentChannel(id)` for runners serving that deployment. `wake.remaining`
   * is how many waiting claimers to wake (as many as runs became claimable; each woken one takes
   * one from it), so one new run wakes one of a thousand waiting workers, not all of them.
   */
  runsAvailable: [channel: string, wake: Wake];
  /** A deployment or one of its schedules changed: the scheduler should look at it soon. */
  deploymentChanged: [deploymentId: string];
  /** A run's state changed: waiters on that run (long-polls) wake. */
  runStateChanged: [flowRunId: string, stateType: string];
}

/** How many more waiting claimers an announcement may wake. */
export interface Wake {
  remaining: number;
}

/** Wakes every claimer waiting on the channel: for changes that may free any number of runs (a pool resumed, a limit raised). */
export const WAKE_ALL = (): Wake => ({ remaining: Number.POSITIVE_INFINITY });

/** A typed event emitter for the server's internal events. */
export class ServerEvents extends EventEmitter<ServerEventMap> {
  constructor() {
    super();
    // Every waiting long-poll adds a listener; hundreds at once is normal, not a leak.
    this.setMaxListeners(0);
  }
}

/** The `runsAvailable` channel of one deployment, which runners (`serve()`) wait on. */
export function deploymentChannel(deploymentId: string): string {
  return `deployment:${deploymentId}`;
}

/** The `runsAvailable` channel of one work queue, which workers polling only some queues wait on. */
export function queueChannel(workQueueId: string): string {
  return `queue:${workQueueId}`;
}
