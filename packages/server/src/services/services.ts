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

/** The background services, built from the server's store and started together. */
export class Services {
  readonly scheduler: Scheduler;
  readonly lateRuns: LateRuns;
  readonly runHealth: RunHealth;
  readonly workerHealth: WorkerHealth;
  readonly enabled: readonly ServiceName[];

  constructor(deps: ServiceDeps, settings: ServicesSettings = {}) {
    this.scheduler = new Scheduler(deps, settings.scheduler);
    this.lateRuns = new LateRuns(deps, settings.lateRuns);
    this.runHealth = new RunHealth(deps, settings.runHealth);
    this.workerHealth = new WorkerHealth(deps, settings.workerHealth);
    this.enabled = settings.enabled ?? SERVICE_NAMES;
  }

  #byName() {
    return { scheduler: this.scheduler, 'late-runs': this.lateRuns, 'run-health': this.runHealth, 'worker-health': this.workerHealth };
  }

  start(): void {
    for (const name of this.enabled) this.#byName()[name].start();
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.#byName()).map((service) => service.stop()));
  }
}
