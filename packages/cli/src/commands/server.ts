/**
 * `drover server start`: the API and the background services in this process, on the SQLite
 * database in DROVER_HOME, until SIGINT/SIGTERM. `drover server status`: is the configured
 * server up, and which version is it.
 */
import type { DroverClient } from '@drover/client';
import { isDroverError, type ServerVersion } from '@drover/schemas';
import type { Command } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { durationFlag, intFlag } from '../flags.js';

interface StartOptions {
  host?: string;
  port?: number;
  services: boolean;
}

async function start(ctx: Context, options: StartOptions): Promise<void> {
  // Loaded here, not at the top: the server (SQLite driver, HTTP stack) is only needed by this command.
  const [{ isLoopback, loadServerConfig, startConfiguredServer }, { pino }, { uiRoot }] = await Promise.all([
    import('@drover/server'),
    import('pino'),
    import('@drover/ui'),
  ]);
  const config = loadServerConfig(ctx.io.env as NodeJS.ProcessEnv, {
    host: options.host,
    port: options.port === undefined ? undefined : String(options.port),
    services: options.services ? undefined : false,
  });
  // Request and service logs are JSON lines on stderr; stdout keeps the few lines a person reads.
  const server = await startConfiguredServer(config, pino({ level: config.logLevel }, { write: (line: string) => ctx.io.stderr.write(line) }), uiRoot);
  const { out } = ctx;
  out.line(`Drover server listening at ${out.paint('bold', server.url)} (open it in a browser for the UI)`);
  out.line(`  database: ${config.databaseFile}`);
  out.line(`  services: ${config.services.length > 0 ? config.services.join(', ') : 'none (--no-services)'}`);
  if (config.apiKey) out.line('  API key:  required (DROVER_API_KEY)');
  else if (!isLoopback(server.host)) {
    ctx.err.line(`Warning: listening on ${server.host} with no API key: anyone who can reach this machine can run flows. Set DROVER_API_KEY.`);
  }
  out.line(`Point clients at it with: export DROVER_API_URL=${server.url}`);
  out.line('Stop it with Ctrl+C.');
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  ctx.err.line(`Drover server stopped${typeof ctx.signal.reason === 'string' ? ` (${ctx.signal.reason})` : ''}.`);
}

async function probe(client: DroverClient): Promise<ServerVersion> {
  const [, version] = await Promise.all([client.health(), client.version()]);
  return version;
}

async function status(ctx: Context, options: { json?: boolean; wait?: boolean; timeout: number }): Promise<void> {
  const client = ctx.client();
  const deadline = Date.now() + options.timeout * 1000;
  let version: ServerVersion;
  for (;;) {
    try {
      version = await probe(client);
      break;
    } catch (error) {
      const unreachable = isDroverError(error, 'SERVER_UNREACHABLE');
      if (!options.wait || !unreachable || Date.now() >= deadline || ctx.signal.aborted) {
        if (options.json && unreachable) {
          ctx.out.json({ url: client.apiUrl, status: 'down', error: (error as Error).message });
          ctx.exitCode = 1;
          return;
        }
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  if (options.json) return ctx.out.json({ url: client.apiUrl, status: 'up', version: version.version });
  ctx.out.line(`Drover server at ${client.apiUrl} is ${ctx.out.paint('green', 'up')} (version ${version.version})`);
}

export function registerServer(program: Command, ctx: Context): void {
  const server = program.command('server').description('Run the Drover server, or check on one');
  examples(server, 'drover server start', 'drover server status --wait');

  examples(
    server
      .command('start')
      .description(
        'Serve the API and the web UI (open its address in a browser) and run the scheduler and other services here, until Ctrl+C (SIGINT) or SIGTERM',
      )
      .option('--host <host>', 'address to listen on (default 127.0.0.1, env DROVER_SERVER_HOST)')
      .option('--port <port>', 'port to listen on, 0 for any free one (default 4200, env DROVER_SERVER_PORT)', intFlag('--port', 0, 65_535))
      .option('--no-services', 'serve the API only: no scheduler, late-run, worker or run health service')
      .addHelpText(
        'after',
        `
Environment: DROVER_HOME (folder of the database, default ~/.drover), DROVER_DATABASE_URL (another
SQLite file), DROVER_API_KEY (require it from every client: set it whenever --host is not a loopback
address), DROVER_SERVER_MAX_CONNECTIONS (default 900), DROVER_LOG_LEVEL, DROVER_SERVICES;
the services' settings DROVER_SCHEDULER_MIN_RUNS, DROVER_SCHEDULER_MAX_RUNS, DROVER_SCHEDULER_MIN_SECONDS,
DROVER_SCHEDULER_MAX_SECONDS, DROVER_LATE_AFTER_SECONDS, DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS,
DROVER_CANCELLATION_GRACE_SECONDS (see the README).`,
      )
      .action((options: StartOptions) => start(ctx, options)),
    'drover server start',
    'DROVER_HOME=/srv/drover DROVER_API_KEY="$(cat /etc/drover/api-key)" drover server start --host 0.0.0.0 --port 4200',
  );

  examples(
    server
      .command('status')
      .description('Check that the configured server (DROVER_API_URL, else the profile, else 127.0.0.1:4200) answers')
      .option('--wait', 'retry until the server is up or --timeout passes')
      .option('--timeout <duration>', 'how long --wait waits, e.g. 30s', durationFlag('--timeout'), 30)
      .option('--json', 'print {url, status, version} as JSON')
      .action((options: { json?: boolean; wait?: boolean; timeout: number }) => status(ctx, options)),
    'drover server status',
    'drover server status --wait --timeout 20s',
  );
}
