import { setImmediate } from 'node:timers/promises';
import { iterateDates } from '@drover/scheduling';
import type { Schedule } from '@drover/schemas';
import type { AutoRun, ScheduledDeployment } from '../store/store.js';
import { PeriodicService, type ServiceDeps } from './service.js';

export interface SchedulerSettings {
  /** A full pass over every deployment this often. */
  readonly intervalMs: number;
  /** After a deployment or schedule change, its runs are made within this delay (changes close together share a pass). */
  readonly changeDelayMs: number;
  /** Keep at least this many runs ahead per schedule... */
  readonly minRuns: number;
  /** ...and runs covering at least this much time ahead. */
  readonly minTimeMs: number;
  /** Never more than this many runs ahead per schedule (a schedule's `maxScheduledRuns` overrides it)... */
  readonly maxRuns: number;
  /** ...nor runs further ahead than this. */
  readonly maxTimeMs: number;
  /** Deployments read per transaction. */
  readonly batchSize: number;
}

const DEFAULT_SCHEDULER_SETTINGS: SchedulerSettings = {
  intervalMs: 60_000,
  changeDelayMs: 200,
  minRuns: 3,
  minTimeMs: 3_600_000,
  maxRuns: 100,
  maxTimeMs: 100 * 86_400_000,
  batchSize: 500,
};

export interface SchedulerPass {
  readonly deployments: number;
  readonly inserted: number;
  /** True for a pass over every deployment, false for one over changed deployments only. */
  readonly full: boolean;
}

/**
 * Turns schedules into SCHEDULED runs ahead of time. Every run carries a key built from the
 * deployment, the schedule (slug or id) and the UTC instant, and inserting an existing key does
 * nothing, so passes may repeat, overlap, restart or follow a redeploy without ever duplicating.
 */
export class Scheduler extends PeriodicService<SchedulerPass> {
  readonly settings: SchedulerSettings;
  #changed = new Set<string>();
  #lastFullPass = Number.NEGATIVE_INFINITY;
  readonly #onChange = (deploymentId: string) => {
    this.#changed.add(deploymentId);
    this.soon(this.settings.changeDelayMs);
  };

  constructor(deps: ServiceDeps, settings: Partial<SchedulerSettings> = {}) {
    const merged = { ...DEFAULT_SCHEDULER_SETTINGS, ...settings };
    super(deps, 'scheduler', merged.intervalMs);
    this.settings = merged;
  }

  override start(): void {
    this.store.events.on('deploymentChanged', this.#onChange);
    super.start();
  }

  override async stop(): Promise<void> {
    this.store.events.off('deploymentChanged', this.#onChange);
    await super.stop();
  }

  protected async work(): Promise<SchedulerPass> {
    const now = this.store.clock.now();
    const changed = [...this.#changed];
    this.#changed.clear();
    if (changed.length > 0 && now.getTime() - this.#lastFullPass < this.settings.intervalMs) {
      return {
        deployments: changed.length,
        inserted: await this.#schedule(await this.store.scheduling.scheduledDeployments({ ids: changed }), now),
        full: false,
      };
    }
    this.#lastFullPass = now.getTime();
    let afterId = '';
    let deployments = 0;
    let inserted = 0;
    for (;;) {
      const page = await this.store.scheduling.scheduledDeployments({ afterId, limit: this.settings.batchSize });
      if (page.length === 0) break;
      deployments += page.length;
      inserted += await this.#schedule(page, now);
      afterId = (page.at(-1) as ScheduledDeployment).id;
      // Each page is one short transaction; between pages the API gets the event loop back, so a
      // pass over 10,000 deployments never stalls requests for its whole length.
      await setImmediate();
    }
    if (inserted > 0) this.logger.info({ deployments, inserted }, 'scheduled runs');
    return { deployments, inserted, full: true };
  }

  /** Inserts the runs these deployments' schedules lack; one transaction per page. */
  async #schedule(page: readonly ScheduledDeployment[], now: Date): Promise<number> {
    const { minRuns, minTimeMs, maxTimeMs } = this.settings;
    const ahead = await this.store.scheduling.futureAutoRuns(
      page.flatMap((d) => d.schedules.map((s) => s.id)),
      now,
    );
    const runs: AutoRun[] = [];
    for (const deployment of page) {
      for (const schedule of deployment.schedules) {
        const maxRuns = schedule.maxScheduledRuns ?? this.settings.maxRuns;
        const existing = ahead.get(schedule.id);
        const wanted = Math.min(minRuns, maxRuns);
        if (existing && existing.count >= wanted && Date.parse(existing.last) >= now.getTime() + minTimeMs) continue;
        const parameters = { ...deployment.parameters, ...schedule.parameters };
        let count = 0;
        try {
          for (const time of iterateDates(schedule.schedule as Schedule, now)) {
            const ms = time.getTime() - now.getTime();
            if (ms > maxTimeMs || count >= maxRuns || (count >= wanted && ms > minTimeMs)) break;
            runs.push({ deployment, scheduleId: schedule.id, scheduleKey: schedule.slug ?? schedule.id, parameters, time });
            count++;
          }
        } catch (error) {
          // One schedule that cannot be evaluated must not stop scheduling for every other one.
          this.logger.error({ err: error, deploymentId: deployment.id, scheduleId: schedule.id }, 'schedule skipped');
        }
      }
    }
    return this.store.scheduling.insertAutoRuns(runs, now);
  }
}
