import { EventEmitter } from 'node:events';

/** What the server's parts tell each other: the store emits, services and long-polls listen. */
export interface ServerEventMap {
  /**
   * Runs became claimable (created, rescheduled, or a slot freed) on a channel: a work pool's id
   * for workers, or `deploymentChannel(id)` for runners serving that deployment.
   */
  runsAvailable: [channel: string];
  /** A deployment or one of its schedules changed: the scheduler should look at it soon. */
  deploymentChanged: [deploymentId: string];
  /** A run's state changed: waiters on that run (long-polls) wake. */
  runStateChanged: [flowRunId: string, stateType: string];
}

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
