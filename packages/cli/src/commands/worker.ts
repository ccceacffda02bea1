/** `drover worker start`: a worker for a pool in this process, until Ctrl+C (SIGINT) or SIGTERM. */
import { WorkerName, WorkPoolName, WorkPoolType, WorkQueueName } from '@drover/schemas';
import { type Command, Option } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { intFlag, schemaFlag, schemaListFlag } from '../flags.js';

interface StartOptions {
  pool: string;
  queue?: string[];
  limit?: number;
  name?: string;
  type?: WorkPoolType;
  prefetchSeconds?: number;
  metricsPort?: number;
  warmProcesses?: number;
  keptIdleSeconds?: number;
}

async function start(ctx: Context, options: StartOptions): Promise<void> {
  // Loaded here: only this command needs the launchers.
  const { ProcessLauncher, Worker } = await import('@drover/worker');
  const tuned = options.warmProcesses !== undefined || options.keptIdleSeconds !== undefined;
  const worker = new Worker({
    launchers: tuned ? { process: new ProcessLauncher({ warmProcesses: options.warmProcesses, keptIdleSeconds: options.keptIdleSeconds }) } : undefined,
    workPoolName: options.pool,
    workQueues: options.queue,
    name: options.name,
    limit: options.limit,
    type: options.type,
    prefetchSeconds: options.prefetchSeconds,
    metricsPort: options.metricsPort,
    client: ctx.client(),
    print: (line) => ctx.out.line(line),
  });
  const stop = () => {
    ctx.err.line(`Stopping worker ${worker.name}: running jobs get their grace period, then are stopped...`);
    void worker.stop();
  };
  if (ctx.signal.aborted) return;
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    await worker.start(); // resolves once stopped; the worker says so itself
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }
}

export function registerWorker(program: Command, ctx: Context): void {
  const worker = program.command('worker').description('Run a worker: it polls a work pool and launches the runs that are due');
  examples(worker, 'drover worker start --pool local --limit 4');

  examples(
    worker
      .command('start')
      .description('Start a worker for a pool in this process; Ctrl+C (SIGINT) or SIGTERM stops it gracefully')
      .requiredOption('-p, --pool <pool>', 'the work pool to serve', schemaFlag('--pool', WorkPoolName))
      .option('-q, --queue <queue>', "a queue to take runs from, repeatable (default: all of the pool's)", schemaListFlag('--queue', WorkQueueName))
      .option('-l, --limit <n>', 'at most this many runs at once', intFlag('--limit', 1, 10_000))
      .option('-n, --name <name>', 'the worker name (default: hostname-pid)', schemaFlag('--name', WorkerName))
      .addOption(
        new Option('-t, --type <type>', 'the pool type: checked against the pool, or used to create it when it does not exist').choices(WorkPoolType.options),
      )
      .option('--prefetch-seconds <s>', 'claim runs due this far ahead and launch each at its time', intFlag('--prefetch-seconds', 0, 3600))
      .option('--metrics-port <port>', "serve the worker's Prometheus metrics at http://127.0.0.1:<port>/metrics", intFlag('--metrics-port', 0, 65_535))
      .option(
        '--warm-processes <n>',
        'process pools: engines kept started, waiting for a run (default 2, 65–85 MB each; 0 starts every job cold)',
        intFlag('--warm-processes', 0, 64),
      )
      .option(
        '--kept-idle-seconds <s>',
        'process pools with reuseProcess: how long an engine whose run is over waits for the next run of its deployment (default 60)',
        intFlag('--kept-idle-seconds', 1, 86_400),
      )
      .action((options: StartOptions) => start(ctx, options)),
    'drover worker start --pool local',
    'drover worker start --pool local --queue urgent --queue default --limit 4',
    'drover worker start --pool local --warm-processes 4',
  );
}
