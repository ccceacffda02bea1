import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './config.js';

describe('loadServerConfig', () => {
  it('defaults to ~/.drover/drover.db on 127.0.0.1:4200 with every service', () => {
    const config = loadServerConfig({ HOME: '/home/ada' });
    expect(config).toMatchObject({ host: '127.0.0.1', port: 4200, apiKey: undefined, logLevel: 'info', maxConnections: 900 });
    expect(loadServerConfig({ DROVER_SERVER_MAX_CONNECTIONS: '5000' }).maxConnections).toBe(5000);
    expect(config.databaseFile?.endsWith('/.drover/drover.db')).toBe(true);
    expect(config.services).toEqual(['scheduler', 'late-runs', 'worker-health', 'run-health']);
  });

  it('reads DROVER_HOME, the database URL and the services list; flags win over env', () => {
    const config = loadServerConfig(
      { DROVER_HOME: '/srv/drover', DROVER_SERVER_PORT: '5000', DROVER_SERVICES: 'scheduler, late-runs', DROVER_API_KEY: 'k' },
      { port: '6000', host: '0.0.0.0' },
    );
    expect(config).toMatchObject({
      home: '/srv/drover',
      databaseFile: '/srv/drover/drover.db',
      host: '0.0.0.0',
      port: 6000,
      apiKey: 'k',
      services: ['scheduler', 'late-runs'],
    });
    expect(loadServerConfig({ DROVER_DATABASE_URL: 'sqlite:///tmp/x.db' }).databaseFile).toBe('/tmp/x.db');
    for (const url of ['postgres://drover:pw@db:5432/drover', 'postgresql://db/drover']) {
      expect(loadServerConfig({ DROVER_DATABASE_URL: url })).toMatchObject({ postgresUrl: url, databaseFile: undefined });
    }
    expect(loadServerConfig({ DROVER_DATABASE_POOL_SIZE: '25' }).postgresPoolSize).toBe(25);
    expect(loadServerConfig({}, { services: false }).services).toEqual([]);
  });

  it("reads the services' settings in whole runs and seconds", () => {
    expect(loadServerConfig({}).serviceSettings).toEqual({});
    const config = loadServerConfig({
      DROVER_SCHEDULER_MIN_RUNS: '5',
      DROVER_SCHEDULER_MAX_RUNS: '50',
      DROVER_SCHEDULER_MIN_SECONDS: '7200',
      DROVER_SCHEDULER_MAX_SECONDS: '864000',
      DROVER_LATE_AFTER_SECONDS: '60',
      DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS: '300',
      DROVER_CANCELLATION_GRACE_SECONDS: '45',
    });
    expect(config.serviceSettings).toEqual({
      scheduler: { minRuns: 5, maxRuns: 50, minTimeMs: 7_200_000, maxTimeMs: 864_000_000 },
      lateRuns: { lateAfterMs: 60_000 },
      runHealth: { heartbeatTimeoutMs: 300_000, cancellationGraceMs: 45_000 },
    });
  });

  it.each([
    [
      { DROVER_SCHEDULER_MIN_RUNS: '0' },
      {},
      'Invalid DROVER_SCHEDULER_MIN_RUNS "0": expected a whole number of at least 1 (runs kept ahead per schedule, at least)',
    ],
    [
      { DROVER_LATE_AFTER_SECONDS: '15s' },
      {},
      'Invalid DROVER_LATE_AFTER_SECONDS "15s": expected a whole number of at least 1 (seconds past its time a run is Late)',
    ],
    [{ DROVER_SERVER_PORT: 'http' }, {}, 'Invalid DROVER_SERVER_PORT "http": expected a port number 0-65535'],
    [{ DROVER_SERVER_MAX_CONNECTIONS: '0' }, {}, 'Invalid DROVER_SERVER_MAX_CONNECTIONS "0": expected a whole number of connections, 1-1000000'],
    [{ DROVER_DATABASE_POOL_SIZE: 'many' }, {}, 'Invalid DROVER_DATABASE_POOL_SIZE "many": expected a whole number of connections, 1-1000'],
    [{}, { port: '70000' }, 'Invalid --port "70000": expected a port number 0-65535'],
    [{ DROVER_LOG_LEVEL: 'loud' }, {}, 'Invalid DROVER_LOG_LEVEL "loud": expected one of fatal, error, warn, info, debug, trace, silent'],
    [
      { DROVER_SERVICES: 'scheduler,cron' },
      {},
      'Invalid DROVER_SERVICES "scheduler,cron": expected a comma-separated list of scheduler, late-runs, worker-health, run-health',
    ],
    [
      { DROVER_DATABASE_URL: 'postgres://user:pw@:5432/drover' },
      {},
      'Invalid DROVER_DATABASE_URL "postgres://user:***@:5432/drover": expected a URL like postgresql://user:password@host:5432/database',
    ],
  ])('rejects %j %j', (env, flags, message) => {
    expect(() => loadServerConfig(env, flags)).toThrow(expect.objectContaining({ code: 'VALIDATION_ERROR', message }));
  });
});
