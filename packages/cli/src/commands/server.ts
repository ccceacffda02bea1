/**
 * `drover server start`: the API and the background services in this process, on the SQLite
 * database in DROVER_HOME (or the PostgreSQL one of DROVER_DATABASE_URL), until SIGINT/SIGTERM.
 * `drover server services start`: the services alone. `drover server status`: is the configured
 * server up, and which version is it. `drover server migrate-db`: SQLite to PostgreSQL.
 */
import type { DroverClient } from '@drover/client';
import { isDroverError, type ServerVersion } from '@drover/schemas';
import type { Command } from 'commander';
import { z } from 'zod';
import { type Context, examples } from '../cliContext.js';
import { durationFlag, intFlag, schemaFlag } from '../flags.js';
import { startSpinner } from '../output.js';

interface StartOptions {
  host?: string;
  port?: number;
  services: boolean;
}

async function start(ctx: Context, options: StartOptions): Promise<void> {
  // Loaded here, not at the top: the server (SQLite driver, HTTP stack) is only needed by this command.
  const [{ isLoopback, loadServerConfig, redactUrl, startConfiguredServer }, { pino }, { uiRoot }] = await Promise.all([
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
  out.line(`  database: ${config.postgresUrl ? redactUrl(config.postgresUrl) : config.databaseFile}`);
  out.line(`  services: ${config.services.length > 0 ? config.services.join(', ') : 'none (--no-services)'}`);
  if (config.apiKey) out.line('  API key:  required (DROVER_API_KEY)');
  else if (!isLoopback(server.host)) {
    ctx.err.line(`Warning: listening on ${server.host} with no API key: anyone who can reach this machine can run flows. Set DROVER_API_KEY.`);
  }
  out.line(`Point clients at it with: export DROVER_API_URL=${server.url}`);
  out.line('Stop it with Ctrl+C.');
  await stopped(ctx);
  await server.close();
  ctx.err.line(`Drover server stopped${typeof ctx.signal.reason === 'string' ? ` (${ctx.signal.reason})` : ''}.`);
}

/** Resolves when the command is told to stop (SIGINT/SIGTERM). */
function stopped(ctx: Context): Promise<void> {
  return new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function startServicesOnly(ctx: Context): Promise<void> {
  const [{ loadServerConfig, redactUrl, startConfiguredServices }, { pino }] = await Promise.all([import('@drover/server'), import('pino')]);
  const config = loadServerConfig(ctx.io.env as NodeJS.ProcessEnv);
  const running = await startConfiguredServices(config, pino({ level: config.logLevel }, { write: (line: string) => ctx.io.stderr.write(line) }));
  const { out } = ctx;
  out.line(`Drover services running: ${config.services.join(', ')}`);
  out.line(`  database: ${config.postgresUrl ? redactUrl(config.postgresUrl) : config.databaseFile}`);
  if (config.postgresUrl) out.line('  They run while this process holds the services lock; other servers on the database wait their turn.');
  else out.line('  On SQLite, start every API server with --no-services, so the services run here only.');
  out.line('Stop them with Ctrl+C.');
  await stopped(ctx);
  await running.close();
  ctx.err.line(`Drover services stopped${typeof ctx.signal.reason === 'string' ? ` (${ctx.signal.reason})` : ''}.`);
}

const PostgresUrl = z.string().regex(/^postgres(ql)?:\/\/[^/]+/, 'a URL like postgresql://user:password@host:5432/database');

interface MigrateOptions {
  from: string;
  to: string;
  json?: boolean;
}

async function migrateDb(ctx: Context, options: MigrateOptions): Promise<void> {
  const { copySqliteToPostgres, redactUrl } = await import('@drover/server');
  const from = options.from.replace(/^sqlite:(\/\/)?/, '');
  const bar = ctx.err.isTTY && !options.json ? startSpinner(ctx.err, `Copying ${from} to ${redactUrl(options.to)}`) : undefined;
  let counts: Record<string, number>;
  try {
    counts = await copySqliteToPostgres(from, options.to, ({ table, copied, total }) => {
      const percent = total === 0 ? 100 : Math.floor((copied / total) * 100);
      const width = 24;
      const filled = Math.round((percent / 100) * width);
      bar?.update(
        `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}% ${copied.toLocaleString('en-US')}/${total.toLocaleString('en-US')} rows (${table})`,
      );
    });
  } finally {
    bar?.stop();
  }
  if (options.json) return ctx.out.json({ from, to: redactUrl(options.to), tables: counts });
  ctx.out.table(
    ['TABLE', 'ROWS'],
    Object.entries(counts).map(([table, rows]) => [table, rows.toLocaleString('en-US')]),
  );
  ctx.out.line(`Copied and verified every table into ${redactUrl(options.to)}.`);
  ctx.out.line(`Point the servers at it with: export DROVER_DATABASE_URL='${redactUrl(options.to)}'`);
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
SQLite file, or postgresql://user:password@host:5432/database for several servers on one
PostgreSQL database: see "Scaling out" in the README), DROVER_API_KEY (require it from every client: set it whenever --host is not a loopback
address), DROVER_SERVER_MAX_CONNECTIONS (default 900), DROVER_LOG_LEVEL, DROVER_SERVICES;
the services' settings DROVER_SCHEDULER_MIN_RUNS, DROVER_SCHEDULER_MAX_RUNS, DROVER_SCHEDULER_MIN_SECONDS,
DROVER_SCHEDULER_MAX_SECONDS, DROVER_LATE_AFTER_SECONDS, DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS,
DROVER_CANCELLATION_GRACE_SECONDS (see the README).`,
      )
      .action((options: StartOptions) => start(ctx, options)),
    'drover server start',
    'DROVER_HOME=/srv/drover DROVER_API_KEY="$(cat /etc/drover/api-key)" drover server start --host 0.0.0.0 --port 4200',
    'DROVER_DATABASE_URL=postgresql://drover@db:5432/drover drover server start --no-services --host 0.0.0.0',
  );

  const services = server.command('services').description('Run the background services without the API');
  examples(services, 'drover server services start');
  examples(
    services
      .command('start')
      .description(
        'Run the scheduler, late-run, worker health and run health services here, without the API, until Ctrl+C (SIGINT) or SIGTERM; on PostgreSQL only one process at a time runs them, and another takes over within seconds when it dies',
      )
      .addHelpText('after', "\nEnvironment: as `drover server start` (DROVER_DATABASE_URL, DROVER_SERVICES and the services' settings).")
      .action(() => startServicesOnly(ctx)),
    'drover server services start',
    'DROVER_DATABASE_URL=postgresql://drover@db:5432/drover DROVER_SERVICES=scheduler,late-runs drover server services start',
  );

  examples(
    server
      .command('migrate-db')
      .description(
        'Copy a whole SQLite database (deployments, schedules, pools, queues, workers, runs with their state history and logs) into an empty PostgreSQL database, verifying every count; a non-empty target is refused',
      )
      .requiredOption('--from <sqlite>', 'the SQLite database file (or sqlite:///path), e.g. ~/.drover/drover.db; stop its server first')
      .requiredOption(
        '--to <postgres>',
        'the PostgreSQL database URL, postgresql://user:password@host:5432/database; it must be empty',
        schemaFlag('--to', PostgresUrl),
      )
      .option('--json', 'print {from, to, tables: {name: rows}} as JSON')
      .action((options: MigrateOptions) => migrateDb(ctx, options)),
    'drover server migrate-db --from ~/.drover/drover.db --to postgresql://drover@db:5432/drover',
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
