import { parseArgs } from 'node:util';
import { isDroverError } from '@drover/schemas';
import { loadServerConfig, startConfiguredServer } from '@drover/server';
import { uiRoot } from '@drover/ui';
import { pino } from 'pino';

const USAGE = `Usage: drover-server [--host HOST] [--port PORT] [--no-services]

Serves the Drover API and its web UI (at /) and runs the background services
(scheduler, late runs, worker health, run health) over the SQLite database in
DROVER_HOME.

Options:
  --host HOST      address to listen on (default 127.0.0.1, env DROVER_SERVER_HOST)
  --port PORT      port to listen on (default 4200, env DROVER_SERVER_PORT)
  --no-services    serve the API only; run no background service
  -h, --help       show this help

Environment:
  DROVER_HOME          folder for the database (default ~/.drover)
  DROVER_DATABASE_URL  the SQLite file to use instead of $DROVER_HOME/drover.db
  DROVER_API_KEY       when set, every request needs "Authorization: Bearer <key>"
  DROVER_LOG_LEVEL     fatal|error|warn|info|debug|trace|silent (default info)
  DROVER_SERVICES      comma-separated services to run (default all)
  DROVER_SCHEDULER_MIN_RUNS, DROVER_SCHEDULER_MAX_RUNS (default 3, 100),
  DROVER_SCHEDULER_MIN_SECONDS, DROVER_SCHEDULER_MAX_SECONDS (default 3600, 8640000):
                       how many runs, and how far ahead, the scheduler keeps per schedule
  DROVER_LATE_AFTER_SECONDS             a run this late is Late (default 15)
  DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS  a silent run is CRASHED after this (default 90)
  DROVER_CANCELLATION_GRACE_SECONDS     a worker has this long to confirm a cancel (default 30)

Example:
  DROVER_HOME=/srv/drover drover-server --host 0.0.0.0 --port 4200

Exit codes: 0 stopped by a signal, 1 could not start, 2 bad usage.`;

/** Runs the server until a signal; resolves with the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let values: { host?: string; port?: string; 'no-services'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { host: { type: 'string' }, port: { type: 'string' }, 'no-services': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const config = loadServerConfig(env, { host: values.host, port: values.port, services: values['no-services'] ? false : undefined });
    const server = await startConfiguredServer(config, pino({ level: config.logLevel }), uiRoot);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    process.stderr.write(`Drover server stopped (${signal}).\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`Error: ${isDroverError(error) ? error.message : (error as Error).stack}\n`);
    return 1;
  }
}
