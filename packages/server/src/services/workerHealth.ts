import { PeriodicService, type ServiceDeps } from './service.js';

/**
 * Watches workers' heartbeats. A worker's status is always computed from its last beat (OFFLINE
 * after 3 missed), so the API is right at any moment; this service notices the moments a worker
 * goes OFFLINE or a pool loses its last worker, and logs and reports them.
 */
export class WorkerHealth extends PeriodicService<{ wentOffline: string[]; poolsNotReady: string[] }> {
  #online = new Set<string>();
  #ready = new Set<string>();

  constructor(deps: ServiceDeps, settings: { intervalMs?: number } = {}) {
    super(deps, 'worker-health', settings.intervalMs ?? 15_000);
  }

  protected async work() {
    const wentOffline: string[] = [];
    const poolsNotReady: string[] = [];
    const online = new Set<string>();
    const ready = new Set<string>();
    for (const pool of await this.store.workPools.list()) {
      if (pool.status === 'READY') ready.add(pool.name);
      else if (this.#ready.has(pool.name) && pool.status === 'NOT_READY') poolsNotReady.push(pool.name);
      for (const worker of await this.store.workers.list(pool.name)) {
        const key = `${pool.name}/${worker.name}`;
        if (worker.status === 'ONLINE') online.add(key);
        else if (this.#online.has(key)) wentOffline.push(key);
      }
    }
    this.#online = online;
    this.#ready = ready;
    if (wentOffline.length) this.logger.warn({ workers: wentOffline }, 'workers went OFFLINE');
    if (poolsNotReady.length) this.logger.warn({ pools: poolsNotReady }, 'work pools have no online worker');
    return { wentOffline, poolsNotReady };
  }
}
