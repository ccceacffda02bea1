import { PeriodicService, type ServiceDeps } from './service.js';

export interface LateRunsSettings {
  readonly intervalMs: number;
  /** A SCHEDULED run this far past its time is Late. */
  readonly lateAfterMs: number;
}

const DEFAULT_LATE_RUNS_SETTINGS: LateRunsSettings = { intervalMs: 5_000, lateAfterMs: 15_000 };

/**
 * Marks overdue runs Late, then cancels the missed runs their schedule's catch-up policy says not
 * to run, so a long outage does not end in a stampede of stale runs.
 */
export class LateRuns extends PeriodicService<{ late: string[]; cancelled: string[] }> {
  readonly settings: LateRunsSettings;

  constructor(deps: ServiceDeps, settings: Partial<LateRunsSettings> = {}) {
    const merged = { ...DEFAULT_LATE_RUNS_SETTINGS, ...settings };
    super(deps, 'late-runs', merged.intervalMs);
    this.settings = merged;
  }

  protected async work() {
    const late = await this.store.maintenance.markLateRuns(this.settings.lateAfterMs);
    const cancelled = await this.store.maintenance.applyCatchup();
    if (late.length || cancelled.length) this.logger.info({ late: late.length, cancelled: cancelled.length }, 'late runs');
    return { late, cancelled };
  }
}
