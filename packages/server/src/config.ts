/**
 * The server's configuration, parsed once from flags and environment (flags win). Every value
 * says where it came from, so a bad one is reported with its source and what was expected.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { droverErrorOf } from '@drover/schemas';
import { z } from 'zod';
import { redactUrl } from './db/postgres.js';
import { SERVICE_NAMES, type ServiceName, type ServicesSettings } from './services/services.js';
import { tracesUrl } from './tracing.js';

export interface ServerFlags {
  readonly host?: string;
  readonly port?: string;
  /** false turns every background service off (`--no-services`). */
  readonly services?: boolean;
}

export interface ServerConfig {
  /** Where Drover keeps its files (`DROVER_HOME`, default ~/.drover). */
  readonly home: string;
  /** The SQLite database file (`DROVER_DATABASE_URL`, default $DROVER_HOME/drover.db); absent with `postgresUrl`. */
  readonly databaseFile?: string;
  /** The PostgreSQL database (`DROVER_DATABASE_URL=postgresql://…`), shared by every server on it. */
  readonly postgresUrl?: string;
  /** Connections each server keeps to PostgreSQL for requests (`DROVER_DATABASE_POOL_SIZE`, default 10). */
  readonly postgresPoolSize?: number;
  readonly host: string;
  readonly port: number;
  readonly apiKey: string | undefined;
  /**
   * Most connections open at once (`DROVER_SERVER_MAX_CONNECTIONS`, default 900). Each open
   * connection holds a socket and buffers; without a cap, clients that open connections and never
   * finish a request exhaust the process's file descriptors. Workers hold one long-poll each.
   */
  readonly maxConnections: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly services: readonly ServiceName[];
  /** The services' settings given in the environment (`SERVICE_SETTINGS`); defaults for the rest. */
  readonly serviceSettings: Omit<ServicesSettings, 'enabled'>;
  /**
   * Where spans go (OTLP over HTTP), from the standard OpenTelemetry variables:
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`.
   * Undefined (the default) turns tracing off, and then nothing of OpenTelemetry is loaded.
   */
  readonly otlpTracesUrl: string | undefined;
}

/**
 * The service settings an operator can set, Prefect's in Drover's names: each an environment
 * variable in whole units (runs or seconds), where it goes, and its smallest value.
 */
const SERVICE_SETTINGS = [
  { env: 'DROVER_SCHEDULER_MIN_RUNS', service: 'scheduler', key: 'minRuns', unit: 1, min: 1, what: 'runs kept ahead per schedule, at least' },
  { env: 'DROVER_SCHEDULER_MAX_RUNS', service: 'scheduler', key: 'maxRuns', unit: 1, min: 1, what: 'runs kept ahead per schedule, at most' },
  { env: 'DROVER_SCHEDULER_MIN_SECONDS', service: 'scheduler', key: 'minTimeMs', unit: 1000, min: 0, what: 'seconds of runs kept ahead, at least' },
  { env: 'DROVER_SCHEDULER_MAX_SECONDS', service: 'scheduler', key: 'maxTimeMs', unit: 1000, min: 1, what: 'seconds of runs kept ahead, at most' },
  { env: 'DROVER_LATE_AFTER_SECONDS', service: 'lateRuns', key: 'lateAfterMs', unit: 1000, min: 1, what: 'seconds past its time a run is Late' },
  {
    env: 'DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS',
    service: 'runHealth',
    key: 'heartbeatTimeoutMs',
    unit: 1000,
    min: 1,
    what: 'seconds without a heartbeat before a run is CRASHED',
  },
  {
    env: 'DROVER_CANCELLATION_GRACE_SECONDS',
    service: 'runHealth',
    key: 'cancellationGraceMs',
    unit: 1000,
    min: 1,
    what: 'seconds a worker has to confirm a cancellation',
  },
] as const;

function serviceSettings(env: NodeJS.ProcessEnv): Omit<ServicesSettings, 'enabled'> {
  const settings: Record<string, Record<string, number>> = {};
  for (const setting of SERVICE_SETTINGS) {
    const text = env[setting.env];
    if (text === undefined || text === '') continue;
    const value = parse(z.coerce.number().int().min(setting.min), text, setting.env, `a whole number of at least ${setting.min} (${setting.what})`);
    settings[setting.service] = { ...settings[setting.service], [setting.key]: value * setting.unit };
  }
  return settings;
}

const Port = z.coerce.number().int().min(0).max(65_535);
const MaxConnections = z.coerce.number().int().min(1).max(1_000_000);
// Below the common soft limit of 1024 open files, leaving room for the database, its WAL and the
// logs; enough for hundreds of workers, each holding a long-poll and a heartbeat connection.
const DEFAULT_MAX_CONNECTIONS = 900;
const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const ServiceList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(SERVICE_NAMES)));

const PoolSize = z.coerce.number().int().min(1).max(1000);

/** A PostgreSQL connection URL with a host: what `pg` would otherwise fail on later, with a vaguer message. */
const PostgresUrl = z.string().refine((value) => {
  try {
    return new URL(value).hostname !== '';
  } catch {
    return false;
  }
});

function parse<T>(schema: z.ZodType<T>, value: string, source: string, expected: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw droverErrorOf('VALIDATION_ERROR', `Invalid ${source} "${value}": expected ${expected}`, { source, value });
}

/** Reads the configuration; throws VALIDATION_ERROR naming the value, its source and what was expected. */
export function loadServerConfig(env: NodeJS.ProcessEnv, flags: ServerFlags = {}): ServerConfig {
  const home = resolve(env.DROVER_HOME || join(homedir(), '.drover'));
  const databaseUrl = env.DROVER_DATABASE_URL;
  let databaseFile: string | undefined = join(home, 'drover.db');
  let postgresUrl: string | undefined;
  if (databaseUrl && /^postgres(ql)?:\/\//.test(databaseUrl)) {
    if (!PostgresUrl.safeParse(databaseUrl).success) {
      throw droverErrorOf(
        'VALIDATION_ERROR',
        `Invalid DROVER_DATABASE_URL "${redactUrl(databaseUrl)}": expected a URL like postgresql://user:password@host:5432/database`,
        { source: 'DROVER_DATABASE_URL' },
      );
    }
    postgresUrl = databaseUrl;
    databaseFile = undefined;
  } else if (databaseUrl) {
    databaseFile = resolve(databaseUrl.replace(/^sqlite:(\/\/)?/, ''));
  }
  const portText = flags.port ?? env.DROVER_SERVER_PORT;
  const portSource = flags.port !== undefined ? '--port' : 'DROVER_SERVER_PORT';
  return {
    home,
    databaseFile,
    postgresUrl,
    postgresPoolSize: env.DROVER_DATABASE_POOL_SIZE
      ? parse(PoolSize, env.DROVER_DATABASE_POOL_SIZE, 'DROVER_DATABASE_POOL_SIZE', 'a whole number of connections, 1-1000')
      : undefined,
    host: flags.host ?? env.DROVER_SERVER_HOST ?? '127.0.0.1',
    port: portText === undefined ? 4200 : parse(Port, portText, portSource, 'a port number 0-65535'),
    apiKey: env.DROVER_API_KEY || undefined,
    maxConnections: env.DROVER_SERVER_MAX_CONNECTIONS
      ? parse(MaxConnections, env.DROVER_SERVER_MAX_CONNECTIONS, 'DROVER_SERVER_MAX_CONNECTIONS', 'a whole number of connections, 1-1000000')
      : DEFAULT_MAX_CONNECTIONS,
    logLevel: env.DROVER_LOG_LEVEL ? parse(LogLevel, env.DROVER_LOG_LEVEL, 'DROVER_LOG_LEVEL', `one of ${LogLevel.options.join(', ')}`) : 'info',
    services:
      flags.services === false
        ? []
        : env.DROVER_SERVICES !== undefined
          ? parse(ServiceList, env.DROVER_SERVICES, 'DROVER_SERVICES', `a comma-separated list of ${SERVICE_NAMES.join(', ')}`)
          : SERVICE_NAMES,
    serviceSettings: serviceSettings(env),
    otlpTracesUrl: env.OTEL_EXPORTER_OTLP_ENDPOINT ? tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) : undefined,
  };
}
