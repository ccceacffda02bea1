/**
 * `drover deployment ls|inspect|run|delete|pause|resume` (and `schedule ...`, in
 * deploymentSchedule.ts): the deployments on the server, addressed as `flow-name/deployment-name`
 * or by id.
 */
import { type Deployment, droverErrorOf, type FlowRun, Tag, WorkQueueName } from '@drover/schemas';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { type Context, examples } from '../cliContext.js';
import { closestKey } from '../explainIssues.js';
import { deploymentArg, durationFlag, intFlag, isoFlag, jsonObjectFlag, keyValueFlag, schemaFlag, schemaListFlag } from '../flags.js';
import { describeSchedule, formatTime, inlineJson, stateLabel } from '../format.js';
import { followRun } from '../watch.js';
import { registerDeploymentSchedule } from './deploymentSchedule.js';

const fullName = (d: Deployment) => `${d.flowName}/${d.name}`;

/** The schedules column: the one schedule, or a count. */
function schedulesSummary(d: Deployment): string {
  if (d.schedules.length === 0) return '-';
  if (d.schedules.length === 1) {
    const [only] = d.schedules as [Deployment['schedules'][number]];
    return `${describeSchedule(only.schedule)}${only.active ? '' : ' (inactive)'}`;
  }
  const active = d.schedules.filter((s) => s.active).length;
  return `${d.schedules.length} schedules (${active} active)`;
}

function describeParameterSchema(schema: Deployment['parameterSchema']): string {
  const properties = (schema?.properties ?? {}) as Record<string, { type?: unknown; default?: unknown }>;
  const required = new Set((schema?.required ?? []) as string[]);
  const entries = Object.entries(properties).map(([name, p]) => {
    const type = Array.isArray(p.type) ? p.type.join('|') : (p.type ?? 'any');
    return `${name}: ${String(type)}${p.default !== undefined ? ` = ${inlineJson(p.default)}` : required.has(name) ? ' (required)' : ''}`;
  });
  return entries.length > 0 ? entries.join(', ') : 'none';
}

/** Refuses parameter names the deployment's flow does not have, before a run is created. */
function checkParameterNames(deployment: Deployment, parameters: Record<string, unknown>): void {
  const schema = deployment.parameterSchema;
  const properties = schema?.properties;
  if (!schema || typeof properties !== 'object' || properties === null || schema.additionalProperties === true) return;
  const known = Object.keys(properties);
  for (const key of Object.keys(parameters)) {
    if (known.includes(key)) continue;
    const guess = closestKey(key, known);
    throw droverErrorOf(
      'PARAMETERS_INVALID',
      `Unknown parameter "${key}" for deployment "${fullName(deployment)}" (its parameters: ${known.join(', ') || 'none'})${guess ? `: did you mean "${guess}"?` : ''}`,
      { parameter: key },
    );
  }
}

interface RunOptions {
  param?: Record<string, unknown>;
  params?: Record<string, unknown>;
  watch?: boolean;
  timeout?: number;
  startIn?: number;
  startAt?: string;
  idempotencyKey?: string;
  tag?: string[];
  queue?: string;
  jobVariable?: Record<string, unknown>;
  name?: string;
  json?: boolean;
}

async function runDeploymentCommand(ctx: Context, name: string, options: RunOptions): Promise<void> {
  const client = ctx.client();
  const deployment = await client.deployments.read(name);
  const parameters = { ...options.params, ...options.param };
  checkParameterNames(deployment, parameters);
  const scheduledTime = options.startIn !== undefined ? new Date(Date.now() + options.startIn * 1000).toISOString() : options.startAt;
  const run = await client.flowRuns.create({
    deployment: deployment.id,
    parameters,
    tags: options.tag ?? [],
    idempotencyKey: options.idempotencyKey,
    scheduledTime,
    workQueueName: options.queue,
    jobVariables: options.jobVariable ?? {},
    name: options.name,
  });
  const watch = options.watch || options.timeout !== undefined;
  const { out } = ctx;
  if (!watch) {
    if (options.json) return out.json(run);
    out.line(`Created flow run ${out.paint('bold', run.name)} (${run.id}) of ${fullName(deployment)}, scheduled for ${formatTime(run.expectedStartTime)}`);
    out.line(`Follow it with: drover flow-run logs ${run.id} --follow`);
    return;
  }
  if (!options.json)
    out.line(`Created flow run ${out.paint('bold', run.name)} (${run.id}) of ${fullName(deployment)}, scheduled for ${formatTime(run.expectedStartTime)}`);
  const final: FlowRun = await followRun(ctx, run, { states: true, timeoutSeconds: options.timeout, quiet: options.json });
  ctx.exitCode = final.state.type === 'COMPLETED' ? 0 : 1;
  if (options.json) return out.json(final);
  if (ctx.signal.aborted && final.state.type !== 'COMPLETED') {
    ctx.err.line(`Stopped watching; flow run ${final.name} (${final.id}) is ${final.state.type} and goes on without you.`);
    return;
  }
  out.line(`Flow run ${out.paint('bold', final.name)} finished: ${stateLabel(out, final.state)}${final.state.message ? `: ${final.state.message}` : ''}`);
  if (final.result !== null && final.state.type === 'COMPLETED') out.line(`Result: ${inlineJson(final.result)}`);
}

export function registerDeployment(program: Command, ctx: Context): void {
  const deployment = program
    .command('deployment')
    .alias('deployments')
    .description('List, inspect, run, pause and delete deployments, and manage their schedules');
  examples(deployment, 'drover deployment ls', 'drover deployment run hello/example --param name=ada --watch', 'drover deployment pause etl/nightly');

  examples(
    deployment
      .command('ls')
      .description('List deployments')
      .option('--flow <flow>', 'only the deployments of this flow')
      .option('-p, --pool <pool>', 'only the deployments of this work pool')
      .option('--limit <n>', 'at most this many (1-1000)', intFlag('--limit', 1, 1000), 100)
      .option('--json', 'print the deployments as JSON')
      .action(async (options: { flow?: string; pool?: string; limit: number; json?: boolean }) => {
        const list = await ctx.client().deployments.list({ flowName: options.flow, workPoolName: options.pool, page: { limit: options.limit, offset: 0 } });
        if (options.json) return ctx.out.json(list);
        const { out } = ctx;
        out.table(
          ['NAME', 'POOL', 'SCHEDULES', 'STATUS', 'UPDATED'],
          list.map((d) => [
            out.paint('bold', fullName(d)),
            d.workPoolName ? `${d.workPoolName}${d.workQueueName && d.workQueueName !== 'default' ? `/${d.workQueueName}` : ''}` : '-',
            schedulesSummary(d),
            d.paused ? out.paint('yellow', 'paused') : d.status === 'READY' ? out.paint('green', 'ready') : out.paint('yellow', 'not ready'),
            formatTime(d.updated),
          ]),
          'No deployments. Create one with `drover deploy`.',
        );
      }),
    'drover deployment ls',
    'drover deployment ls --pool local --json',
  );

  examples(
    deployment
      .command('inspect')
      .description('Show a deployment in full')
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .option('--json', 'print the deployment as JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const d = await ctx.client().deployments.read(name);
        if (options.json) return ctx.out.json(d);
        const { out } = ctx;
        out.fields([
          ['name', out.paint('bold', fullName(d))],
          ['id', d.id],
          ['status', d.status === 'READY' ? out.paint('green', 'ready') : `${out.paint('yellow', d.paused ? 'paused' : 'not ready')}: ${d.statusReason}`],
          ['last polled', d.lastPolled ? formatTime(d.lastPolled) : 'never'],
          ['entrypoint', d.entrypoint ?? '-'],
          ['work pool', d.workPoolName ? `${d.workPoolName} (queue ${d.workQueueName ?? 'default'})` : '- (served by a runner)'],
          ['parameters', inlineJson(d.parameters)],
          ['parameter schema', describeParameterSchema(d.parameterSchema)],
          ['tags', d.tags.join(', ') || '-'],
          ['version', d.version ?? '-'],
          ['description', d.description ?? '-'],
          ['job variables', inlineJson(d.jobVariables)],
          ['concurrency', d.concurrencyLimit === null ? 'unlimited' : `${d.concurrencyLimit} (${d.concurrencyOptions.collisionStrategy})`],
          ['pull steps', d.pullSteps.map((step) => inlineJson(step)).join('; ') || '-'],
          ['created', formatTime(d.created)],
          ['updated', formatTime(d.updated)],
        ]);
        out.line();
        out.table(
          ['SCHEDULE ID', 'SCHEDULE', 'SLUG', 'ACTIVE'],
          d.schedules.map((s) => [s.id, describeSchedule(s.schedule), s.slug ?? '-', s.active ? 'yes' : 'no']),
          'No schedules.',
        );
      }),
    'drover deployment inspect hello/example',
  );

  examples(
    deployment
      .command('run')
      .description('Create a run of a deployment now (or later), and optionally watch it to the end')
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .option('--param <key=value>', 'a parameter, repeatable; JSON values (3, true, "[1,2]") are parsed, others are strings', keyValueFlag('--param'))
      .option('--params <json>', 'parameters as a JSON object (--param entries win)', jsonObjectFlag('--params'))
      .option('--watch', "print the run's states and logs until it ends; exit 0 only if it COMPLETED")
      .option('--timeout <duration>', 'with --watch: give up after this long, e.g. 90s or 10m (implies --watch)', durationFlag('--timeout'))
      .addOption(new Option('--start-in <duration>', 'start after this long, e.g. 30s, 10m, 2h').argParser(durationFlag('--start-in')).conflicts('startAt'))
      .option('--start-at <iso>', 'start at this date-time, e.g. 2026-01-01T09:00:00Z (UTC without an offset)', isoFlag('--start-at'))
      .option('--idempotency-key <key>', 'the same key returns the same run instead of a new one', schemaFlag('--idempotency-key', z.string().min(1).max(500)))
      .option('-t, --tag <tag>', "a tag added to the deployment's, repeatable", schemaListFlag('--tag', Tag))
      .option('-q, --queue <queue>', "a queue of the deployment's pool instead of its own", schemaFlag('--queue', WorkQueueName))
      .option('--job-variable <key=value>', 'a job variable for this run, repeatable', keyValueFlag('--job-variable'))
      .option(
        '--name <name>',
        "the run's name (default: the deployment's flowRunName template, or a generated one)",
        schemaFlag('--name', z.string().min(1).max(200)),
      )
      .option('--json', 'print the run as JSON (with --watch: the run as it ended, no streaming)')
      .action((name: string, options: RunOptions) => runDeploymentCommand(ctx, name, options)),
    'drover deployment run hello/example --param name=ada --watch',
    'drover deployment run etl/nightly --start-in 10m --idempotency-key 2026-01-01',
  );

  examples(
    deployment
      .command('delete')
      .description('Delete a deployment and its scheduled runs (runs that ran are kept)')
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .option('--json', 'print what was deleted as JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const deleted = await ctx.client().deployments.delete(name);
        if (options.json) return ctx.out.json(deleted);
        ctx.out.line(
          `Deleted deployment ${deleted.name} (${deleted.id}) and ${deleted.deletedScheduledRuns} scheduled run${deleted.deletedScheduledRuns === 1 ? '' : 's'}`,
        );
      }),
    'drover deployment delete hello/example',
  );

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    examples(
      deployment
        .command(verb)
        .description(
          paused
            ? 'Pause a deployment: its schedules create no runs, and its runs scheduled but not started are removed'
            : 'Resume a paused deployment: its schedules create runs again',
        )
        .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
        .option('--json', 'print the deployment as JSON')
        .action(async (name: string, options: { json?: boolean }) => {
          const client = ctx.client();
          const d = paused ? await client.deployments.pause(name) : await client.deployments.resume(name);
          if (options.json) return ctx.out.json(d);
          ctx.out.line(
            paused ? `Paused deployment ${fullName(d)}: resume it with \`drover deployment resume ${fullName(d)}\`` : `Resumed deployment ${fullName(d)}`,
          );
        }),
      `drover deployment ${verb} hello/example`,
    );
  }

  registerDeploymentSchedule(deployment, ctx);
}
