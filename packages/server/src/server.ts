import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock } from './clock.js';
import type { ServerConfig } from './config.js';
import { openSqlite, type SqliteHandle } from './db/sqlite.js';
import { ServerEvents } from './events.js';
import { createHttpServer, listen } from './http.js';
import { Services, type ServicesSettings } from './services/services.js';
import { DEFAULT_STORE_SETTINGS, type StoreSettings } from './store/context.js';
import { SqliteStore } from './store/store.js';

export interface DroverServerOptions {
  /** The SQLite file (created when absent). */
  readonly databaseFile: string;
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
}

/** A running server: its address, its store (for services and tests) and how to stop it. */
export interface DroverServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly store: SqliteStore;
  readonly services: Services;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens the database (migrating it) and serves the API until `close()`. */
export async function startServer(options: DroverServerOptions): Promise<DroverServer> {
  const logger = options.logger ?? pino({ level: 'info' });
  const database = openSqlite(options.databaseFile, { checkpointIntervalMs: options.checkpointIntervalMs });
  const store = new SqliteStore(database.db, options.clock ?? systemClock, new ServerEvents(), { ...DEFAULT_STORE_SETTINGS, ...options.settings });
  const http = createHttpServer({ store, logger, apiKey: options.apiKey, maxConnections: options.maxConnections });
  const services = new Services({ store, logger }, options.services);
  let address: Awaited<ReturnType<typeof listen>>;
  try {
    address = await listen(http, options.host ?? '127.0.0.1', options.port ?? 4200);
  } catch (error) {
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
  logger.info({ url, database: options.databaseFile, services: services.enabled }, 'Drover server listening');
  const close = () => stop(http, services, database);
  return { url, host, port: address.port, store, services, close, [Symbol.asyncDispose]: close };
}

/** Starts the server a configuration (`loadServerConfig`) describes, creating the database's folder. */
export function startConfiguredServer(config: ServerConfig, logger: Logger): Promise<DroverServer> {
  mkdirSync(dirname(config.databaseFile), { recursive: true });
  return startServer({
    databaseFile: config.databaseFile,
    host: config.host,
    port: config.port,
    apiKey: config.apiKey,
    maxConnections: config.maxConnections,
    logger,
    services: { enabled: config.services, ...config.serviceSettings },
  });
}

/** True for an address only this machine can reach (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(host: string): boolean {
  return host === '::1' || /^(::ffff:)?127\./.test(host);
}

async function stop(http: Server, services: Services, database: SqliteHandle): Promise<void> {
  await services.stop();
  await new Promise<void>((resolve) => {
    http.close(() => resolve());
    http.closeIdleConnections();
    // Long-polls hold connections open; end them rather than wait out their timeout.
    setTimeout(() => http.closeAllConnections(), 1000).unref();
  });
  await database.close();
}
