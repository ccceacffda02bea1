import { LateRuns, type LateRunsSettings } from './lateRuns.js';
import { RunHealth, type RunHealthSettings } from './runHealth.js';
import { Scheduler, type SchedulerSettings } from './scheduler.js';
import type { ServiceDeps } from './service.js';
import { WorkerHealth } from './workerHealth.js';

export const SERVICE_NAMES = ['scheduler', 'late-runs', 'worker-health', 'run-health'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServicesSettings {
  /** Services to run; all by default. */
  readonly enabled?: readonly ServiceName[];
  readonly scheduler?: Partial<SchedulerSettings>;
  readonly lateRuns?: Partial<LateRunsSettings>;
  readonly runHealth?: Partial<RunHealthSettings>;
  readonly workerHealth?: { intervalMs?: number };
}

/**
 * Decides which server of several on one database runs the services (PostgreSQL: an advisory
 * lock); with none, as on SQLite's one server, this server runs them.
 */
export interface ServicesLeader {
  /** Calls `elected` when this server becomes the one to run the services, and `deposed` when it stops being it. */
  campaign(handlers: { elected(): void; deposed(): void }): void;
  close(): Promise<void>;
}

/** The background services, built from the server's store and started together. */
export class Services {
  readonly scheduler: Scheduler;
  readonly lateRuns: LateRuns;
  readonly runHealth: RunHealth;
  readonly workerHealth: WorkerHealth;
  readonly enabled: readonly ServiceName[];

  readonly #leader: ServicesLeader | undefined;

  constructor(deps: ServiceDeps, settings: ServicesSettings = {}, leader?: ServicesLeader) {
    this.#leader = leader;
    this.scheduler = new Scheduler(deps, settings.scheduler);
    this.lateRuns = new LateRuns(deps, settings.lateRuns);
    this.runHealth = new RunHealth(deps, settings.runHealth);
    this.workerHealth = new WorkerHealth(deps, settings.workerHealth);
    this.enabled = settings.enabled ?? SERVICE_NAMES;
  }

  #byName() {
    return { scheduler: this.scheduler, 'late-runs': this.lateRuns, 'run-health': this.runHealth, 'worker-health': this.workerHealth };
  }

  /** Starts the enabled services, at once or when this server is elected to run them. */
  start(): void {
    const startAll = () => {
      for (const name of this.enabled) this.#byName()[name].start();
    };
    if (this.enabled.length === 0) return;
    if (!this.#leader) {
      startAll();
      return;
    }
    this.#leader.campaign({
      elected: startAll,
      // A pass under way finishes: every pass is idempotent, so the next leader repeating it changes nothing.
      deposed: () => void this.#stopAll(),
    });
  }

  async stop(): Promise<void> {
    await this.#leader?.close();
    await this.#stopAll();
  }

  async #stopAll(): Promise<void> {
    await Promise.all(Object.values(this.#byName()).map((service) => service.stop()));
  }
}
