/**
 * The `drover` program: one commander tree built from an explicit `io` (streams, environment,
 * working directory, stop signal), so it runs the same in the binary and in tests, and `run()`,
 * the one place where errors become output and exit codes:
 * 0 ok, 1 failure (server error, not found, a watched run that did not complete), 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { apiSettings, DroverClient } from '@drover/client';
import { isDroverError } from '@drover/schemas';
import { Command, CommanderError } from 'commander';
import type { CliIo, Context } from './cliContext.js';
import { registerConfig } from './commands/config.js';
import { registerDeploy } from './commands/deploy.js';
import { registerDeployment } from './commands/deployment.js';
import { registerFlowRun } from './commands/flowRun.js';
import { registerInit } from './commands/init.js';
import { registerServer } from './commands/server.js';
import { registerWorker } from './commands/worker.js';
import { registerWorkPool } from './commands/workPool.js';
import { registerWorkQueue } from './commands/workQueue.js';
import { UsageError } from './errors.js';
import { Output } from './output.js';

export type { CliIo, Context } from './cliContext.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

function buildProgram(io: CliIo): { program: Command; context: Context } {
  let client: DroverClient | undefined;
  const context: Context = {
    io,
    out: new Output(io.stdout, io.env),
    err: new Output(io.stderr, io.env),
    signal: io.signal ?? new AbortController().signal,
    client: () => {
      if (!client) {
        const settings = apiSettings({}, io.env as NodeJS.ProcessEnv);
        client = new DroverClient({ apiUrl: settings.apiUrl, apiKey: settings.apiKey ?? '' });
      }
      return client;
    },
    exitCode: 0,
  };

  const program = new Command('drover')
    .description('Drover: deploy TypeScript flows with schedules, run them on work pools, watch every run.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand(false)
    // Root options only before the command, so `drover deploy --version 2` is the deploy's --version.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'Error: ')),
      getOutHelpWidth: () => io.stdout.columns ?? 100,
      getErrHelpWidth: () => io.stderr.columns ?? 100,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .addHelpText(
      'after',
      `
Start here:
  $ drover server start                      # the API and scheduler, on SQLite in ~/.drover
  $ drover work-pool create local --type process
  $ drover init && drover deploy --all       # a project with drover.yaml, deployed
  $ drover worker start --pool local         # runs what is due
  $ drover deployment run hello/example --watch

Environment: DROVER_API_URL and DROVER_API_KEY (win over \`drover config\`), DROVER_HOME, NO_COLOR.
Exit codes: 0 ok, 1 failure, 2 bad usage.`,
    );

  registerServer(program, context);
  registerInit(program, context);
  registerDeploy(program, context);
  registerDeployment(program, context);
  registerWorkPool(program, context);
  registerWorkQueue(program, context);
  registerWorker(program, context);
  registerFlowRun(program, context);
  registerConfig(program, context);

  // Every usage error ends with where to read more, for the command that failed.
  const hint = (command: Command, path: string) => {
    command.showHelpAfterError(`Run "${path} --help" for usage.`).helpCommand(false);
    for (const sub of command.commands) hint(sub, `${path} ${sub.name()}`);
  };
  hint(program, 'drover');
  return { program, context };
}

/** The `drover` commander program, writing to `io` and reading nothing else from the process. */
export function createProgram(io: CliIo): Command {
  return buildProgram(io).program;
}

/**
 * Runs `drover <argv>` and resolves with the exit code: 0 ok, 1 failure, 2 bad usage. Errors are
 * printed as `Error: <message>` on stderr; nothing is thrown.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { program, context } = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message (through outputError) or the help already.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    context.err.line(`${context.err.paint('red', 'Error:')} ${message}`);
    if (!isDroverError(error) && io.env.DROVER_DEBUG && error instanceof Error && error.stack) context.err.line(error.stack);
    return error instanceof UsageError ? 2 : 1;
  }
}
