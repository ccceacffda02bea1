/**
 * @drover/server: Drover's source of truth. It stores flows, deployments, work pools, queues,
 * workers and flow runs behind one repository contract (`Store`: `SqliteStore` on one file, WAL, or
 * `PostgresStore` for several servers on one PostgreSQL database),
 * decides every state change through one orchestration function, and serves it all as a typed
 * tRPC API over HTTP.
 *
 * @example
 * import { startServer } from '@drover/server';
 * const server = await startServer({ databaseFile: `${process.env.HOME}/.drover/drover.db`, port: 4200 });
 * // ... later
 * await server.close();
 */
export { type Clock, FakeClock, systemClock } from './clock.js';
export { loadServerConfig, type ServerConfig, type ServerFlags } from './config.js';
export { type CopyCounts, type CopyProgress, copySqliteToPostgres } from './db/copyToPostgres.js';
export { migratePostgres, openPostgres, type PostgresHandle, redactUrl } from './db/postgres.js';
export { migrationsFolder, openSqlite, type SqliteHandle } from './db/sqlite.js';
export { type ServerEventMap, ServerEvents } from './events.js';
export { type Decision, type OrchestrationContext, orchestrate, type Proposal, RULES, type RunSnapshot } from './orchestration.js';
export { type AppRouter, appRouter } from './router.js';
export {
  type DroverServer,
  type DroverServerOptions,
  type DroverServices,
  isLoopback,
  startConfiguredServer,
  startConfiguredServices,
  startServer,
  startServices,
} from './server.js';
export { LateRuns, type LateRunsSettings } from './services/lateRuns.js';
export { RunHealth, type RunHealthSettings } from './services/runHealth.js';
export { Scheduler, type SchedulerPass, type SchedulerSettings } from './services/scheduler.js';
export { PeriodicService, type ServiceDeps } from './services/service.js';
export { SERVICE_NAMES, type ServiceName, Services, type ServicesLeader, type ServicesSettings } from './services/services.js';
export { WorkerHealth } from './services/workerHealth.js';
export { PostgresStore } from './store/postgresStore.js';
export { type ActiveSchedule, type AutoRun, type PageInput, type ScheduledDeployment, SqliteStore, type Store } from './store/store.js';
export { DEFAULT_STORE_SETTINGS, type StoreContext, type StoreSettings } from './store/storeContext.js';
export { withTemporaryServer } from './temporaryServer.js';
export { trpcCodeOf } from './trpc.js';
export { VERSION } from './version.js';
