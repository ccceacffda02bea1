/**
 * The server's Prometheus metrics (`GET /metrics`), in a registry of its own, so two servers in one
 * process never share or collide. Counters and histograms move as things happen (API calls,
 * scheduler passes, state changes); the gauges that describe the database are read at scrape time,
 * in one read transaction, by queries that each walk an index over the runs that are not finished
 * (SCHEDULED, PENDING, RUNNING, CANCELLING, PAUSED) or over the small tables (pools, queues,
 * workers, deployments with a limit). Finished runs, which grow without bound, are never counted
 * at scrape time: `drover_flow_run_state_changes_total` counts them as they happen.
 */
import { statSync } from 'node:fs';
import { ACTIVE_STATE_TYPES, type StateType } from '@drover/schemas';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { ServerEvents } from './events.js';
import type { Services } from './services/services.js';
import { isOnline } from './store/rows.js';

/**
 * Runs `read` in one read-only snapshot of the database, handing it a `query(text, params)` that
 * takes `?` placeholders; SQLite and PostgreSQL each give theirs (server.ts).
 */
export type ScrapeSnapshot = (read: (query: ScrapeQuery) => Promise<void>) => Promise<void>;
export type ScrapeQuery = <T>(text: string, params?: readonly unknown[]) => Promise<T[]>;

export interface ServerMetricsOptions {
  readonly snapshot: ScrapeSnapshot;
  /** The SQLite file, whose `-wal` file's size is reported (none for PostgreSQL). */
  readonly databaseFile?: string;
  readonly clock: Clock;
  readonly events: ServerEvents;
  readonly services: Services;
  /** A worker is online until it misses this many heartbeats (the store's setting). */
  readonly missedHeartbeats: number;
  /** The API's procedure names: the only values the latency histogram's `procedure` label takes. */
  readonly procedures: readonly string[];
}

/** States a run is not finished in: few at any time, so counting them is cheap. */
const OPEN_STATES: readonly StateType[] = ['SCHEDULED', 'PENDING', 'RUNNING', 'CANCELLING', 'PAUSED'];
const IN = (states: readonly string[]) => states.map((s) => `'${s}'`).join(', ');
/** The runs holding a concurrency slot, as claims count them (see `holdsSlotSql`). */
const HOLDS_SLOT = `(r.state_type IN (${IN(ACTIVE_STATE_TYPES)}) OR (r.state_type = 'SCHEDULED' AND r.retry_in_process = TRUE))`;

/**
 * The queries a scrape makes (exported for the test that checks their plans), in the SQL both
 * databases speak: quoted camelCase aliases (PostgreSQL folds bare ones to lower case), counts cast
 * to INTEGER (PostgreSQL's count is a bigint, which its driver returns as text), and groups by the
 * primary keys of the tables whose names are shown.
 */
export const SCRAPE_QUERIES = {
  runsByState: `SELECT state_type AS state, CAST(count(*) AS INTEGER) AS n FROM flow_runs WHERE state_type IN (${IN(OPEN_STATES)}) GROUP BY state_type`,
  runsByDeployment: `SELECT f.name || '/' || d.name AS deployment, r.state_type AS state, CAST(count(*) AS INTEGER) AS n
    FROM flow_runs r JOIN deployments d ON d.id = r.deployment_id JOIN flows f ON f.id = d.flow_id
    WHERE r.state_type IN (${IN(OPEN_STATES)}) GROUP BY d.id, f.id, r.state_type`,
  queues: `SELECT q.id AS id, q.name AS queue, p.name AS pool, q.concurrency_limit AS "queueLimit", p.concurrency_limit AS "poolLimit"
    FROM work_queues q JOIN work_pools p ON p.id = q.work_pool_id`,
  /** Due runs of one queue: a range of the `flow_runs_claim` index (queue, state, due time). */
  dueInQueue: `SELECT CAST(count(*) AS INTEGER) AS n, min(next_scheduled_start_time) AS oldest FROM flow_runs
    WHERE work_queue_id = ? AND state_type = 'SCHEDULED' AND next_scheduled_start_time <= ?`,
  slotsByQueue: `SELECT r.work_queue_id AS "queueId", CAST(count(*) AS INTEGER) AS n FROM flow_runs r WHERE ${HOLDS_SLOT} GROUP BY r.work_queue_id`,
  slotsByDeployment: `SELECT f.name || '/' || d.name AS deployment, CAST(count(*) AS INTEGER) AS n FROM flow_runs r
    JOIN deployments d ON d.id = r.deployment_id JOIN flows f ON f.id = d.flow_id WHERE ${HOLDS_SLOT} GROUP BY d.id, f.id`,
  deploymentLimits: `SELECT f.name || '/' || d.name AS deployment, d.concurrency_limit AS lim FROM deployments d
    JOIN flows f ON f.id = d.flow_id WHERE d.concurrency_limit IS NOT NULL`,
  workers: `SELECT p.name AS pool, w.last_heartbeat AS "lastHeartbeat", w.heartbeat_interval_seconds AS "interval"
    FROM work_pools p LEFT JOIN workers w ON w.work_pool_id = p.id`,
} as const;

/** The server's metrics: what the API and services record, and what a scrape reads from the database. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #options: ServerMetricsOptions;
  readonly #procedures: ReadonlySet<string>;
  readonly #requestDuration: Histogram<'procedure'>;
  readonly #detach: (() => void)[] = [];
  readonly #gauges;

  constructor(options: ServerMetricsOptions) {
    this.#options = options;
    this.#procedures = new Set(options.procedures);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#requestDuration = new Histogram({
      name: 'drover_api_request_duration_seconds',
      help: 'Time from an API request to its answer, by procedure (a batch counts for each procedure in it; claims long-poll up to 60 s)',
      labelNames: ['procedure'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60],
      registers,
    });
    const stateChanges = new Counter({
      name: 'drover_flow_run_state_changes_total',
      help: 'Runs that entered each state since the server started (finished runs are counted here, not at scrape time)',
      labelNames: ['state'],
      registers,
    });
    const onStateChange = (_id: string, state: string) => stateChanges.inc({ state });
    options.events.on('runStateChanged', onStateChange);
    this.#detach.push(() => options.events.off('runStateChanged', onStateChange));
    this.#observeScheduler(options.services, registers);
    this.#gauges = {
      runs: new Gauge({ name: 'drover_flow_runs', help: 'Runs not yet finished, by state', labelNames: ['state'], registers }),
      deploymentRuns: new Gauge({
        name: 'drover_deployment_flow_runs',
        help: 'Runs not yet finished, by deployment (flow/deployment) and state',
        labelNames: ['deployment', 'state'],
        registers,
      }),
      queueDepth: new Gauge({
        name: 'drover_work_queue_due_runs',
        help: 'SCHEDULED runs whose time has come, waiting for a worker, by pool and queue',
        labelNames: ['pool', 'queue'],
        registers,
      }),
      oldestDue: new Gauge({
        name: 'drover_work_queue_oldest_due_run_age_seconds',
        help: 'Seconds since the oldest due run of the queue was due (0 when none): the Late-runs signal',
        labelNames: ['pool', 'queue'],
        registers,
      }),
      slotsInUse: new Gauge({
        name: 'drover_concurrency_slots_in_use',
        help: 'Runs holding a concurrency slot (PENDING, RUNNING, CANCELLING, retrying in process), by scope (pool, queue, deployment) and name',
        labelNames: ['scope', 'name'],
        registers,
      }),
      slotLimits: new Gauge({
        name: 'drover_concurrency_slots_limit',
        help: 'Concurrency limit, by scope (pool, queue, deployment) and name; absent when unlimited',
        labelNames: ['scope', 'name'],
        registers,
      }),
      workersOnline: new Gauge({
        name: 'drover_workers_online',
        help: 'Workers whose heartbeats are current (ONLINE), by pool',
        labelNames: ['pool'],
        registers,
      }),
      walBytes: new Gauge({ name: 'drover_sqlite_wal_bytes', help: "Size of the SQLite database's write-ahead log file", registers }),
    };
  }

  /** Records one API request's duration under each procedure its path names (`/a,b?batch=1`). */
  observeRequest(url: string | undefined, seconds: number): void {
    const path = (url ?? '/').slice(1).split('?')[0] ?? '';
    for (const name of path.split(',')) this.#requestDuration.observe({ procedure: this.#procedures.has(name) ? name : 'unknown' }, seconds);
  }

  /** The metrics in Prometheus' text format, with the database gauges read now. */
  async scrape(): Promise<string> {
    await this.#options.snapshot((query) => this.#readDatabase(query));
    if (this.#options.databaseFile !== undefined) this.#gauges.walBytes.set(walBytes(this.#options.databaseFile));
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const detach of this.#detach.splice(0)) detach();
    this.registry.clear();
  }

  /**
   * Pass durations and runs made. The scheduler announces each pass's result but not its start,
   * so its `pass` is wrapped on this instance (services.ts builds the scheduler and is not ours to
   * change); the loop calls `this.pass()`, so it goes through the wrapper too.
   */
  #observeScheduler(services: Services, registers: Registry[]): void {
    const duration = new Histogram({
      name: 'drover_scheduler_pass_duration_seconds',
      help: "Duration of the scheduler's passes (full passes and passes over changed deployments)",
      labelNames: ['full'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers,
    });
    const inserted = new Counter({ name: 'drover_scheduler_runs_created_total', help: 'Runs the scheduler created from schedules', registers });
    const scheduler = services.scheduler;
    const original = scheduler.pass;
    scheduler.pass = async function (this: typeof scheduler) {
      const started = process.hrtime.bigint();
      const result = await original.call(this);
      duration.observe({ full: String(result.full) }, Number(process.hrtime.bigint() - started) / 1e9);
      inserted.inc(result.inserted);
      return result;
    };
    this.#detach.push(() => {
      scheduler.pass = original;
    });
  }

  async #readDatabase(query: ScrapeQuery): Promise<void> {
    const now = this.#options.clock.now();
    const g = this.#gauges;
    for (const gauge of Object.values(g)) gauge.reset();
    for (const state of OPEN_STATES) g.runs.set({ state }, 0);
    for (const row of await query<{ state: string; n: number }>(SCRAPE_QUERIES.runsByState)) g.runs.set({ state: row.state }, row.n);
    for (const row of await query<{ deployment: string; state: string; n: number }>(SCRAPE_QUERIES.runsByDeployment))
      g.deploymentRuns.set({ deployment: row.deployment, state: row.state }, row.n);

    const queues = await query<{ id: string; queue: string; pool: string; queueLimit: number | null; poolLimit: number | null }>(SCRAPE_QUERIES.queues);
    const inUse = new Map((await query<{ queueId: string | null; n: number }>(SCRAPE_QUERIES.slotsByQueue)).map((r) => [r.queueId, r.n]));
    const pools = new Map<string, { used: number; limit: number | null }>();
    for (const q of queues) {
      const [due] = await query<{ n: number; oldest: string | null }>(SCRAPE_QUERIES.dueInQueue, [q.id, now.toISOString()]);
      const { n, oldest } = due ?? { n: 0, oldest: null };
      g.queueDepth.set({ pool: q.pool, queue: q.queue }, n);
      g.oldestDue.set({ pool: q.pool, queue: q.queue }, oldest ? Math.max(0, (now.getTime() - Date.parse(oldest)) / 1000) : 0);
      const used = inUse.get(q.id) ?? 0;
      const name = `${q.pool}/${q.queue}`;
      g.slotsInUse.set({ scope: 'queue', name }, used);
      if (q.queueLimit !== null) g.slotLimits.set({ scope: 'queue', name }, q.queueLimit);
      const pool = pools.get(q.pool) ?? { used: 0, limit: q.poolLimit };
      pool.used += used;
      pools.set(q.pool, pool);
    }
    for (const [name, pool] of pools) {
      g.slotsInUse.set({ scope: 'pool', name }, pool.used);
      if (pool.limit !== null) g.slotLimits.set({ scope: 'pool', name }, pool.limit);
    }
    for (const row of await query<{ deployment: string; lim: number }>(SCRAPE_QUERIES.deploymentLimits)) {
      g.slotLimits.set({ scope: 'deployment', name: row.deployment }, row.lim);
      g.slotsInUse.set({ scope: 'deployment', name: row.deployment }, 0);
    }
    for (const row of await query<{ deployment: string; n: number }>(SCRAPE_QUERIES.slotsByDeployment))
      g.slotsInUse.set({ scope: 'deployment', name: row.deployment }, row.n);

    const missed = this.#options.missedHeartbeats;
    for (const w of await query<{ pool: string; lastHeartbeat: string | null; interval: number | null }>(SCRAPE_QUERIES.workers)) {
      const online = w.lastHeartbeat !== null && isOnline({ lastHeartbeat: w.lastHeartbeat, heartbeatIntervalSeconds: w.interval ?? 0 }, now, missed);
      g.workersOnline.inc({ pool: w.pool }, online ? 1 : 0);
    }
  }
}

function walBytes(databaseFile: string): number {
  if (databaseFile === ':memory:') return 0;
  try {
    return statSync(`${databaseFile}-wal`).size;
  } catch {
    return 0; // no WAL file yet (or checkpointed and removed)
  }
}
