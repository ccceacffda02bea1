/** `drover work-queue create|ls|inspect|update|pause|resume|delete`: the queues inside a work pool. */
import { WorkPoolName, type WorkQueue, WorkQueueName } from '@drover/schemas';
import type { Command } from 'commander';
import { z } from 'zod';
import { type Context, examples } from '../cliContext.js';
import { UsageError } from '../errors.js';
import { intFlag, limitFlag, limitValue, schemaArg, schemaFlag } from '../flags.js';
import { formatTime } from '../format.js';
import type { Output } from '../output.js';

const queueName = schemaArg(WorkQueueName);
const poolFlag = schemaFlag('--pool', WorkPoolName);
const POOL_HELP = 'the work pool the queue is in';

function limit(value: number | null): string {
  return value === null ? 'unlimited' : String(value);
}

function status(out: Output, q: WorkQueue): string {
  return q.status === 'READY' ? out.paint('green', 'ready') : out.paint('yellow', q.status === 'PAUSED' ? 'paused' : 'not ready');
}

interface QueueOptions {
  pool: string;
  priority?: number;
  concurrencyLimit?: number | 'none';
  description?: string;
  paused?: boolean;
  json?: boolean;
}

export function registerWorkQueue(program: Command, ctx: Context): void {
  const queue = program.command('work-queue').alias('work-queues').description("Work queues: a pool's lanes, served in priority order (1 first)");
  examples(queue, 'drover work-queue create urgent --pool local --priority 1', 'drover work-queue ls --pool local');

  examples(
    queue
      .command('create')
      .description('Create a queue in a pool')
      .argument('<name>', 'the queue name', queueName)
      .requiredOption('-p, --pool <pool>', POOL_HELP, poolFlag)
      .option('--priority <n>', '1 is served first (default: after the existing queues)', intFlag('--priority', 1, 1_000_000))
      .option('--concurrency-limit <n>', 'at most this many runs at once from this queue', limitFlag('--concurrency-limit', 0, 1_000_000))
      .option('-d, --description <text>', 'what the queue is for', schemaFlag('--description', z.string().max(10_000)))
      .option('--paused', 'create it paused')
      .option('--json', 'print the queue as JSON')
      .action(async (name: string, options: QueueOptions) => {
        const created = await ctx.client().workQueues.create({
          workPoolName: options.pool,
          name,
          priority: options.priority,
          concurrencyLimit: limitValue(options.concurrencyLimit) ?? null,
          description: options.description ?? null,
          isPaused: options.paused ?? false,
        });
        if (options.json) return ctx.out.json(created);
        ctx.out.line(`Created work queue ${ctx.out.paint('bold', created.name)} in pool ${created.workPoolName} (priority ${created.priority})`);
      }),
    'drover work-queue create urgent --pool local --priority 1',
  );

  examples(
    queue
      .command('ls')
      .description("List a pool's queues in priority order")
      .requiredOption('-p, --pool <pool>', POOL_HELP, poolFlag)
      .option('--json', 'print the queues as JSON')
      .action(async (options: { pool: string; json?: boolean }) => {
        const queues = await ctx.client().workQueues.list(options.pool);
        if (options.json) return ctx.out.json(queues);
        const { out } = ctx;
        out.table(
          ['NAME', 'PRIORITY', 'STATUS', 'CONCURRENCY', 'LAST POLLED'],
          queues.map((q) => [out.paint('bold', q.name), String(q.priority), status(out, q), limit(q.concurrencyLimit), formatTime(q.lastPolled)]),
        );
      }),
    'drover work-queue ls --pool local',
  );

  examples(
    queue
      .command('inspect')
      .description('Show a queue')
      .argument('<name>', 'the queue name', queueName)
      .requiredOption('-p, --pool <pool>', POOL_HELP, poolFlag)
      .option('--json', 'print the queue as JSON')
      .action(async (name: string, options: { pool: string; json?: boolean }) => {
        const q = await ctx.client().workQueues.read({ workPoolName: options.pool, name });
        if (options.json) return ctx.out.json(q);
        const { out } = ctx;
        out.fields([
          ['name', out.paint('bold', q.name)],
          ['id', q.id],
          ['pool', q.workPoolName],
          ['priority', String(q.priority)],
          ['status', q.statusReason ? `${status(out, q)}: ${q.statusReason}` : status(out, q)],
          ['concurrency', limit(q.concurrencyLimit)],
          ['description', q.description ?? '-'],
          ['last polled', formatTime(q.lastPolled)],
          ['created', formatTime(q.created)],
        ]);
      }),
    'drover work-queue inspect default --pool local',
  );

  examples(
    queue
      .command('update')
      .description("Change a queue's priority, concurrency limit or description")
      .argument('<name>', 'the queue name', queueName)
      .requiredOption('-p, --pool <pool>', POOL_HELP, poolFlag)
      .option('--priority <n>', '1 is served first', intFlag('--priority', 1, 1_000_000))
      .option('--concurrency-limit <n>', 'at most this many runs at once; "none" removes the limit', limitFlag('--concurrency-limit', 0, 1_000_000))
      .option('-d, --description <text>', 'what the queue is for', schemaFlag('--description', z.string().max(10_000)))
      .option('--json', 'print the queue as JSON')
      .action(async (name: string, options: QueueOptions) => {
        if (options.priority === undefined && options.concurrencyLimit === undefined && options.description === undefined) {
          throw new UsageError('Nothing to update: pass --priority, --concurrency-limit or --description');
        }
        const updated = await ctx
          .client()
          .workQueues.update(
            { workPoolName: options.pool, name },
            { priority: options.priority, concurrencyLimit: limitValue(options.concurrencyLimit), description: options.description },
          );
        if (options.json) return ctx.out.json(updated);
        ctx.out.line(`Updated work queue ${updated.name} in pool ${updated.workPoolName}`);
      }),
    'drover work-queue update urgent --pool local --concurrency-limit 2',
  );

  for (const [verb, describe] of [
    ['pause', 'Pause a queue: its runs wait until it is resumed'],
    ['resume', 'Resume a paused queue'],
    ['delete', "Delete a queue (not the pool's default queue)"],
  ] as const) {
    examples(
      queue
        .command(verb)
        .description(describe)
        .argument('<name>', 'the queue name', queueName)
        .requiredOption('-p, --pool <pool>', POOL_HELP, poolFlag)
        .option('--json', 'print the result as JSON')
        .action(async (name: string, options: { pool: string; json?: boolean }) => {
          const client = ctx.client();
          const ref = { workPoolName: options.pool, name };
          const result = verb === 'delete' ? await client.workQueues.delete(ref) : await client.workQueues.update(ref, { isPaused: verb === 'pause' });
          if (options.json) return ctx.out.json(result);
          ctx.out.line(`${verb === 'pause' ? 'Paused' : verb === 'resume' ? 'Resumed' : 'Deleted'} work queue ${result.name} in pool ${result.workPoolName}`);
        }),
      `drover work-queue ${verb} urgent --pool local`,
    );
  }
}
