/** `drover work-pool create|ls|inspect|update|pause|resume|delete|get-default-base-job-template`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BaseJobTemplate, defaultBaseJobTemplate, droverErrorOf, type WorkPool, WorkPoolName, WorkPoolType } from '@drover/schemas';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { type Context, examples } from '../cliContext.js';
import { UsageError } from '../errors.js';
import { explainIssues } from '../explainIssues.js';
import { limitFlag, limitValue, schemaArg, schemaFlag } from '../flags.js';
import { formatTime } from '../format.js';
import type { Output } from '../output.js';
import { shownPath } from '../projectFile.js';

/** Reads and checks a base job template file (JSON), naming the file and key of each problem. */
function readTemplate(file: string, cwd: string): BaseJobTemplate {
  const path = resolve(cwd, file);
  const shown = shownPath(path, cwd);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `Cannot read --base-job-template ${shown}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw droverErrorOf(
      'VALIDATION_ERROR',
      `${shown}: not valid JSON (${(error as Error).message}); get a starting point with \`drover work-pool get-default-base-job-template --type process\``,
      { file: path },
    );
  }
  const result = BaseJobTemplate.safeParse(json);
  if (!result.success)
    throw droverErrorOf(
      'VALIDATION_ERROR',
      explainIssues(result.error, BaseJobTemplate, json)
        .map((line) => `${shown}: ${line}`)
        .join('\n'),
      { file: path },
    );
  return result.data;
}

const poolName = schemaArg(WorkPoolName);
const typeOption = () => new Option('--type <type>', 'the infrastructure its workers launch jobs on').choices(WorkPoolType.options);

function statusLabel(out: Output, pool: WorkPool): string {
  return pool.status === 'READY' ? out.paint('green', 'READY') : pool.status === 'PAUSED' ? out.paint('yellow', 'PAUSED') : out.paint('dim', 'NOT_READY');
}

interface PoolChanges {
  description?: string;
  concurrencyLimit?: number | 'none';
  baseJobTemplate?: string;
  json?: boolean;
}

export function registerWorkPool(program: Command, ctx: Context): void {
  const pool = program.command('work-pool').alias('work-pools').description('Work pools: where deployments run, and the job template their workers use');
  examples(pool, 'drover work-pool create local --type process', 'drover work-pool ls');

  examples(
    pool
      .command('create')
      .description('Create a work pool (with a default queue)')
      .argument('<name>', 'the pool name', poolName)
      .addOption(typeOption().makeOptionMandatory())
      .option('--base-job-template <file>', "a JSON job template (default: the type's; see get-default-base-job-template)")
      .option('-d, --description <text>', 'what the pool is for', schemaFlag('--description', z.string().max(10_000)))
      .option('--concurrency-limit <n>', 'at most this many runs at once in the pool', limitFlag('--concurrency-limit', 0, 1_000_000))
      .option('--paused', 'create it paused (no runs are handed out until it is resumed)')
      .option('--json', 'print the pool as JSON')
      .action(async (name: string, options: PoolChanges & { type: WorkPoolType; paused?: boolean }) => {
        const created = await ctx.client().workPools.create({
          name,
          type: options.type,
          description: options.description ?? null,
          isPaused: options.paused ?? false,
          concurrencyLimit: limitValue(options.concurrencyLimit) ?? null,
          baseJobTemplate: options.baseJobTemplate === undefined ? undefined : readTemplate(options.baseJobTemplate, ctx.io.cwd),
        });
        if (options.json) return ctx.out.json(created);
        ctx.out.line(`Created work pool ${ctx.out.paint('bold', created.name)} (${created.type})${created.isPaused ? ', paused' : ''}`);
        ctx.out.line(`Start a worker for it: drover worker start --pool ${created.name}`);
      }),
    'drover work-pool create local --type process',
    'drover work-pool create k8s --type kubernetes --base-job-template template.json --concurrency-limit 10',
  );

  examples(
    pool
      .command('ls')
      .description('List work pools')
      .option('--json', 'print the pools as JSON')
      .action(async (options: { json?: boolean }) => {
        const pools = await ctx.client().workPools.list();
        if (options.json) return ctx.out.json(pools);
        const { out } = ctx;
        out.table(
          ['NAME', 'TYPE', 'STATUS', 'CONCURRENCY', 'DESCRIPTION'],
          pools.map((p) => [
            out.paint('bold', p.name),
            p.type,
            statusLabel(out, p),
            p.concurrencyLimit === null ? 'unlimited' : String(p.concurrencyLimit),
            p.description ?? '-',
          ]),
          'No work pools. Create one with `drover work-pool create NAME --type process`.',
        );
      }),
    'drover work-pool ls',
  );

  examples(
    pool
      .command('inspect')
      .description('Show a work pool with its queues and workers')
      .argument('<name>', 'the pool name', poolName)
      .option('--json', 'print the pool as JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const client = ctx.client();
        const [p, queues, workers] = await Promise.all([client.workPools.read(name), client.workQueues.list(name), client.workers.list(name)]);
        if (options.json) return ctx.out.json(p);
        const { out } = ctx;
        out.fields([
          ['name', out.paint('bold', p.name)],
          ['id', p.id],
          ['type', p.type],
          ['status', statusLabel(out, p)],
          ['concurrency', p.concurrencyLimit === null ? 'unlimited' : String(p.concurrencyLimit)],
          ['description', p.description ?? '-'],
          ['template variables', Object.keys(p.baseJobTemplate.variables.properties).join(', ') || '-'],
          ['created', formatTime(p.created)],
        ]);
        out.line();
        out.table(
          ['QUEUE', 'PRIORITY', 'STATUS', 'CONCURRENCY', 'LAST POLLED'],
          queues.map((q) => [
            q.name + (q.id === p.defaultQueueId ? ' (default)' : ''),
            String(q.priority),
            q.status === 'READY' ? out.paint('green', 'ready') : out.paint('yellow', q.status === 'PAUSED' ? 'paused' : 'not ready'),
            q.concurrencyLimit === null ? 'unlimited' : String(q.concurrencyLimit),
            formatTime(q.lastPolled),
          ]),
        );
        out.line();
        out.table(
          ['WORKER', 'STATUS', 'LAST HEARTBEAT'],
          workers.map((w) => [w.name, w.status === 'ONLINE' ? out.paint('green', 'ONLINE') : out.paint('dim', 'OFFLINE'), formatTime(w.lastHeartbeat)]),
          `No workers yet. Start one with \`drover worker start --pool ${p.name}\`.`,
        );
      }),
    'drover work-pool inspect local',
  );

  examples(
    pool
      .command('update')
      .description("Change a pool's description, concurrency limit or job template")
      .argument('<name>', 'the pool name', poolName)
      .option('-d, --description <text>', 'what the pool is for', schemaFlag('--description', z.string().max(10_000)))
      .option('--concurrency-limit <n>', 'at most this many runs at once; "none" removes the limit', limitFlag('--concurrency-limit', 0, 1_000_000))
      .option('--base-job-template <file>', 'a JSON job template to replace the current one')
      .option('--json', 'print the pool as JSON')
      .action(async (name: string, options: PoolChanges) => {
        if (options.description === undefined && options.concurrencyLimit === undefined && options.baseJobTemplate === undefined) {
          throw new UsageError('Nothing to update: pass --description, --concurrency-limit or --base-job-template');
        }
        const updated = await ctx.client().workPools.update(name, {
          description: options.description,
          concurrencyLimit: limitValue(options.concurrencyLimit),
          baseJobTemplate: options.baseJobTemplate === undefined ? undefined : readTemplate(options.baseJobTemplate, ctx.io.cwd),
        });
        if (options.json) return ctx.out.json(updated);
        ctx.out.line(`Updated work pool ${updated.name}`);
      }),
    'drover work-pool update local --concurrency-limit 4',
    'drover work-pool update local --concurrency-limit none',
  );

  for (const [verb, describe] of [
    ['pause', 'Pause a pool: its workers get no runs until it is resumed'],
    ['resume', 'Resume a paused pool'],
    ['delete', 'Delete a pool with its queues'],
  ] as const) {
    examples(
      pool
        .command(verb)
        .description(describe)
        .argument('<name>', 'the pool name', poolName)
        .option('--json', 'print the result as JSON')
        .action(async (name: string, options: { json?: boolean }) => {
          const client = ctx.client();
          const result =
            verb === 'pause'
              ? await client.workPools.pause(name)
              : verb === 'resume'
                ? await client.workPools.resume(name)
                : await client.workPools.delete(name);
          if (options.json) return ctx.out.json(result);
          ctx.out.line(`${verb === 'pause' ? 'Paused' : verb === 'resume' ? 'Resumed' : 'Deleted'} work pool ${result.name}`);
        }),
      `drover work-pool ${verb} local`,
    );
  }

  examples(
    pool
      .command('get-default-base-job-template')
      .description("Print a pool type's default job template (JSON), to edit and pass to --base-job-template")
      .addOption(typeOption().makeOptionMandatory())
      .option('--file <file>', 'write it to this file instead of printing it')
      .action((options: { type: WorkPoolType; file?: string }) => {
        const template = defaultBaseJobTemplate(options.type);
        if (options.file === undefined) return ctx.out.json(template);
        const path = resolve(ctx.io.cwd, options.file);
        writeFileSync(path, `${JSON.stringify(template, null, 2)}\n`);
        ctx.out.line(`Wrote the default ${options.type} job template to ${shownPath(path, ctx.io.cwd)}`);
      }),
    'drover work-pool get-default-base-job-template --type docker --file template.json',
  );
}
