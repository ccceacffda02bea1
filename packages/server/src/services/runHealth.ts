import { PeriodicService, type ServiceDeps } from './service.js';

export interface RunHealthSettings {
  readonly intervalMs: number;
  /** A RUNNING or PENDING run without a heartbeat for this long is CRASHED (3 missed 30 s beats). */
  readonly heartbeatTimeoutMs: number;
  /** A CANCELLING run no worker confirmed within this long is CANCELLED by the server. */
  readonly cancellationGraceMs: number;
}

const DEFAULT_RUN_HEALTH_SETTINGS: RunHealthSettings = { intervalMs: 10_000, heartbeatTimeoutMs: 90_000, cancellationGraceMs: 30_000 };

/**
 * Finds runs whose jobs died with nobody left to say so: silent runs become CRASHED (and retry
 * when their flow has retries), unconfirmed cancellations become CANCELLED. Both free their
 * concurrency slots at once, so a dead job never holds a slot.
 */
export class RunHealth extends PeriodicService<{ crashed: string[]; cancelled: string[] }> {
  readonly settings: RunHealthSettings;
  /** Since when this service could have heard heartbeats: silence before it says nothing about a job. */
  #listeningSince: Date;

  constructor(deps: ServiceDeps, settings: Partial<RunHealthSettings> = {}) {
    const merged = { ...DEFAULT_RUN_HEALTH_SETTINGS, ...settings };
    super(deps, 'run-health', merged.intervalMs);
    this.settings = merged;
    this.#listeningSince = this.store.clock.now();
  }

  override start(): void {
    if (this.state !== 'running') this.#listeningSince = this.store.clock.now();
    super.start();
  }

  protected async work() {
    const crashed = await this.store.maintenance.crashSilentRuns(this.settings.heartbeatTimeoutMs, this.#listeningSince);
    const cancelled = await this.store.maintenance.expireCancellations(this.settings.cancellationGraceMs);
    if (crashed.length || cancelled.length) this.logger.warn({ crashed, cancelled }, 'runs without a live job');
    return { crashed, cancelled };
  }
}
