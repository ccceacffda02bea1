import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { ValidationError } from '@drover/schemas';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock } from './clock.js';
import type { ServerConfig } from './config.js';
import { openPostgres, redactUrl } from './db/postgres.js';
import { openSqlite, type SqliteHandle } from './db/sqlite.js';
import { ServerEvents } from './events.js';
import { createHttpServer, listen } from './http.js';
import { type ScrapeSnapshot, ServerMetrics } from './metrics.js';
import { appRouter } from './router.js';
import { Services, type ServicesLeader, type ServicesSettings } from './services/services.js';
import { listenForEvents } from './store/postgres/postgresEvents.js';
import { PostgresServicesLeader } from './store/postgres/servicesLeader.js';
import { PostgresStore } from './store/postgresStore.js';
import { SqliteStore, type Store } from './store/store.js';
import { DEFAULT_STORE_SETTINGS, type StoreSettings } from './store/storeContext.js';
import { startServerTracing } from './tracing.js';

export interface DroverServerOptions {
  /** The SQLite file (created when absent, with its folder); give this or `postgresUrl`. */
  readonly databaseFile?: string;
  /**
   * A PostgreSQL database (`postgres://` or `postgresql://`), shared by every server on it; its
   * schema is brought up to date at start. Give this or `databaseFile`.
   */
  readonly postgresUrl?: string;
  /** Connections to `postgresUrl` for requests (default 10); the server holds two more (events, services leader). */
  readonly postgresPoolSize?: number;
  /** Where `databaseFile` came from, which errors name with the fix (default: this option). */
  readonly databaseSource?: 'DROVER_HOME' | 'DROVER_DATABASE_URL' | 'databaseFile';
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly apiKey?: string;
  /** Most connections open at once (no cap when absent). */
  readonly maxConnections?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly settings?: Partial<StoreSettings>;
  /** WAL checkpoint interval in ms (0: none). */
  readonly checkpointIntervalMs?: number;
  /** Which background services run (all by default) and their settings. */
  readonly services?: ServicesSettings;
  /**
   * Export OpenTelemetry spans to this OTLP/HTTP traces URL (`.../v1/traces`); no tracing, and
   * nothing of OpenTelemetry loaded, when absent (see `OTEL_EXPORTER_OTLP_ENDPOINT`).
   */
  readonly otlpTracesUrl?: string;
  /** The `service.name` of its spans (default `drover-server`). */
  readonly serviceName?: string;
  /** The web UI's built files to serve at `/` (`uiRoot` from `@drover/ui`); the API alone when absent. */
  readonly uiRoot?: string;
}

/** A running server: its address, its store (for services and tests) and how to stop it. */
export interface DroverServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly store: Store;
  readonly services: Services;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens the database (migrating it) and serves the API until `close()`. */
export async function startServer(options: DroverServerOptions): Promise<DroverServer> {
  const logger = options.logger ?? pino({ level: 'info' });
  const database = await openStore(options, logger);
  const { store } = database;
  const services = new Services({ store, logger }, options.services, database.leader);
  const metrics = new ServerMetrics({
    snapshot: database.snapshot,
    databaseFile: options.databaseFile,
    clock: store.clock,
    events: store.events,
    services,
    missedHeartbeats: store.settings.missedHeartbeats,
    procedures: Object.keys(appRouter._def.procedures),
  });
  const http = createHttpServer({ store, logger, apiKey: options.apiKey, maxConnections: options.maxConnections, metrics, uiRoot: options.uiRoot });
  let stopTracing: (() => Promise<void>) | undefined;
  let address: Awaited<ReturnType<typeof listen>>;
  try {
    if (options.otlpTracesUrl) stopTracing = await startServerTracing(options.otlpTracesUrl, options.serviceName ?? 'drover-server');
    address = await listen(http, options.host ?? '127.0.0.1', options.port ?? 4200);
  } catch (error) {
    metrics.close();
    await stopTracing?.();
    await database.close();
    throw error;
  }
  const host = address.address;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  services.start();
  if (!options.apiKey && !isLoopback(host)) {
    logger.warn(
      { url },
      `Drover server listening on ${host}, reachable from other machines, with no API key: anyone who can reach it can run flows. Set DROVER_API_KEY, or bind 127.0.0.1`,
    );
  }
  logger.info({ url, database: database.label, services: services.enabled, ui: options.uiRoot !== undefined }, 'Drover server listening');
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await stop(http, services, database);
      metrics.close();
      await stopTracing?.();
    })();
    return closing;
  };
  return { url, host, port: address.port, store, services, close, [Symbol.asyncDispose]: close };
}

/** The background services running alone, without the API (`startServices`). */
export interface DroverServices {
  readonly services: Services;
  close(): Promise<void>;
}

/**
 * The background services alone, without the API, as `drover server services start` runs them
 * beside API-only servers (`--no-services`), the split Prefect makes. On PostgreSQL they run only
 * while this process holds the services' lock, so any number of these (and of full servers) may
 * run; on SQLite, run one of them and give every server `--no-services`.
 */
export async function startServices(options: StoreOptions & Pick<DroverServerOptions, 'logger'>): Promise<DroverServices> {
  const logger = options.logger ?? pino({ level: 'info' });
  const database = await openStore(options, logger);
  const services = new Services({ store: database.store, logger }, options.services, database.leader);
  services.start();
  logger.info({ database: database.label, services: services.enabled }, 'Drover services running');
  let closing: Promise<void> | undefined;
  return {
    services,
    close: () => {
      closing ??= (async () => {
        await services.stop();
        await database.close();
      })();
      return closing;
    },
  };
}

/** The services a configuration (`loadServerConfig`) describes, without the API. */
export function startConfiguredServices(config: ServerConfig, logger: Logger): Promise<DroverServices> {
  return startServices({ ...databaseOptionsOf(config), logger, services: { enabled: config.services, ...config.serviceSettings } });
}

function databaseOptionsOf(config: ServerConfig): Pick<DroverServerOptions, 'databaseFile' | 'postgresUrl' | 'postgresPoolSize' | 'databaseSource'> {
  return {
    databaseFile: config.databaseFile,
    postgresUrl: config.postgresUrl,
    postgresPoolSize: config.postgresPoolSize,
    // loadServerConfig puts the database in the home folder unless DROVER_DATABASE_URL names another.
    databaseSource: config.databaseFile === join(config.home, 'drover.db') ? 'DROVER_HOME' : 'DROVER_DATABASE_URL',
  };
}

/** Starts the server a configuration (`loadServerConfig`) describes, serving the UI in `uiRoot` when given. */
export function startConfiguredServer(config: ServerConfig, logger: Logger, uiRoot?: string): Promise<DroverServer> {
  return startServer({
    uiRoot,
    ...databaseOptionsOf(config),
    host: config.host,
    port: config.port,
    apiKey: config.apiKey,
    maxConnections: config.maxConnections,
    otlpTracesUrl: config.otlpTracesUrl,
    logger,
    services: { enabled: config.services, ...config.serviceSettings },
  });
}

type DatabaseSource = NonNullable<DroverServerOptions['databaseSource']>;

const DATABASE_SOURCES: Record<DatabaseSource, { readonly name: string; readonly fix: string }> = {
  DROVER_HOME: { name: 'DROVER_HOME', fix: 'set DROVER_HOME (default ~/.drover) to such a folder, or DROVER_DATABASE_URL to a file in one' },
  DROVER_DATABASE_URL: { name: 'DROVER_DATABASE_URL', fix: 'set DROVER_DATABASE_URL to a file in such a folder, or unset it to use $DROVER_HOME/drover.db' },
  databaseFile: { name: 'the databaseFile option', fix: 'pass a databaseFile in such a folder' },
};

/** What opening the store takes: the database and the store's and services' settings. */
type StoreOptions = Pick<
  DroverServerOptions,
  'databaseFile' | 'postgresUrl' | 'postgresPoolSize' | 'databaseSource' | 'clock' | 'settings' | 'checkpointIntervalMs' | 'services'
>;

interface OpenedStore {
  readonly store: Store;
  /** What the server's log says it serves: the file, or the PostgreSQL URL without its password. */
  readonly label: string;
  readonly snapshot: ScrapeSnapshot;
  /** Who runs the services among the servers on one PostgreSQL database (none on SQLite: this one does). */
  readonly leader?: ServicesLeader;
  close(): Promise<void>;
}

/** Opens the store the options name: SQLite by default, PostgreSQL with `postgresUrl`. */
async function openStore(options: StoreOptions, logger: Logger): Promise<OpenedStore> {
  const clock = options.clock ?? systemClock;
  const settings = { ...DEFAULT_STORE_SETTINGS, ...options.settings };
  const events = new ServerEvents();
  if ((options.postgresUrl === undefined) === (options.databaseFile === undefined)) {
    throw new ValidationError('VALIDATION_ERROR', 'Give the server one database: databaseFile (SQLite) or postgresUrl (PostgreSQL)', {});
  }
  if (options.postgresUrl !== undefined) {
    const url = options.postgresUrl;
    const handle = await openPostgres(
      url,
      options.databaseSource === 'DROVER_DATABASE_URL' ? 'DROVER_DATABASE_URL' : 'the postgresUrl option',
      options.postgresPoolSize,
    );
    let listener: Awaited<ReturnType<typeof listenForEvents>>;
    try {
      listener = await listenForEvents(url, events, logger);
    } catch (error) {
      await handle.close();
      throw error;
    }
    const pool = handle.db.$client;
    return {
      store: new PostgresStore(handle.db, clock, events, settings),
      label: redactUrl(url),
      leader: options.services?.enabled?.length === 0 ? undefined : new PostgresServicesLeader(url, logger),
      async snapshot(read) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          await read(async <T>(text: string, params: readonly unknown[] = []) => {
            let n = 0;
            return (
              await client.query(
                text.replace(/\?/g, () => `$${++n}`),
                [...params],
              )
            ).rows as T[];
          });
        } finally {
          await client.query('COMMIT').catch(() => {});
          client.release();
        }
      },
      async close() {
        await listener.close();
        await handle.close();
      },
    };
  }
  const file = options.databaseFile as string;
  const handle = openDatabase(file, options.databaseSource ?? 'databaseFile', options.checkpointIntervalMs);
  const sqlite = handle.db.$client;
  return {
    store: new SqliteStore(handle.db, clock, events, settings),
    label: file,
    // The reads run without a turn of the event loop between them (each query resolves at once), so no group commit interleaves.
    async snapshot(read) {
      sqlite.exec('BEGIN');
      try {
        await read(async <T>(text: string, params: readonly unknown[] = []) => sqlite.prepare(text).all(...params) as T[]);
      } finally {
        sqlite.exec('COMMIT');
      }
    },
    close: () => handle.close(),
  };
}

/**
 * Opens the database, creating its folder first, as Prefect creates its home: a new DROVER_HOME
 * or a DROVER_DATABASE_URL in a new folder just works. A folder that cannot be created or a file
 * that cannot be opened (a file in the way, no permission) is reported with the path, where it
 * came from and what to change, instead of better-sqlite3's bare "directory does not exist".
 */
function openDatabase(file: string, source: DatabaseSource, checkpointIntervalMs: number | undefined): SqliteHandle {
  const refuse = (reason: string, cause: unknown) =>
    new ValidationError(
      'VALIDATION_ERROR',
      `Cannot open the database ${file} (from ${DATABASE_SOURCES[source].name}): ${reason}; expected a folder this user can create and write: ${DATABASE_SOURCES[source].fix}`,
      { file, source },
      { cause },
    );
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (error) {
    throw refuse(`its folder ${dirname(file)} cannot be created (${(error as Error).message})`, error);
  }
  try {
    return openSqlite(file, { checkpointIntervalMs });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_CANTOPEN') throw refuse((error as Error).message, error);
    throw error;
  }
}

/** True for an address only this machine can reach (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(host: string): boolean {
  return host === '::1' || /^(::ffff:)?127\./.test(host);
}

async function stop(http: Server, services: Services, database: OpenedStore): Promise<void> {
  await services.stop();
  await new Promise<void>((resolve) => {
    http.close(() => resolve());
    http.closeIdleConnections();
    // Long-polls hold connections open; end them rather than wait out their timeout.
    setTimeout(() => http.closeAllConnections(), 1000).unref();
  });
  await database.close();
}
