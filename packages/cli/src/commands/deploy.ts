/**
 * `drover deploy`: create or update deployments from drover.yaml (`--all`, `--name N`) or from an
 * entrypoint on the command line, with flags over the file's values. Everything is checked first
 * (see deployPlan.ts); then the project's build and push steps run, then each deployment is
 * upserted. `--dry-run` prints the plan, with each schedule's next run times, and changes nothing.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { buildAndPushImage } from '@drover/client';
import { type BuildStep, DeploymentImage, DeploymentName, Tag, WorkPoolName, WorkQueueName } from '@drover/schemas';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { type Context, examples } from '../cliContext.js';
import { type DeployFlags, type DeployPlan, type PlannedDeployment, planDeploy } from '../deployPlan.js';
import { UsageError } from '../errors.js';
import { intervalFlag, jsonObjectFlag, keyValueFlag, type ScheduleFlags, scheduleFromFlags, schemaFlag, schemaListFlag } from '../flags.js';
import { describeSchedule, formatTime, inlineJson } from '../format.js';

interface DeployOptions extends ScheduleFlags {
  name?: string;
  all?: boolean;
  pool?: string;
  queue?: string;
  param?: Record<string, unknown>;
  params?: Record<string, unknown>;
  tag?: string[];
  version?: string;
  description?: string;
  jobVariable?: Record<string, unknown>;
  dryRun?: boolean;
  json?: boolean;
}

const ENTRYPOINT = /^[^:]+:[A-Za-z_$][\w$]*$/;

function entrypointArg(value: string): string {
  if (!ENTRYPOINT.test(value)) throw new UsageError(`Invalid entrypoint "${value}": expected path/to/file.ts:exportName`, { value });
  return value;
}

/** One line describing a build or push step. */
function describeStep(step: BuildStep): string {
  if ('docker_build' in step) return `docker build ${step.docker_build.tag ? `${step.docker_build.image}:${step.docker_build.tag}` : step.docker_build.image}`;
  if ('docker_push' in step) return `docker push ${step.docker_push.tag ? `${step.docker_push.image}:${step.docker_push.tag}` : step.docker_push.image}`;
  return `run_shell_script: ${step.run_shell_script.script}`;
}

async function runShellScript(ctx: Context, script: string, directory: string): Promise<void> {
  const output: string[] = [];
  const code = await new Promise<number>((done) => {
    const child = spawn('sh', ['-c', script], { cwd: directory, env: ctx.io.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer) => {
      output.push(String(chunk));
      ctx.io.stderr.write(String(chunk));
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', () => done(127));
    child.on('close', (status) => done(status ?? 1));
  });
  if (code !== 0) {
    const tail = output.join('').trim().split('\n').slice(-3).join(' ');
    throw new Error(`The build step \`${script}\` exited with ${code}${tail ? `: ${tail}` : ''}; nothing was deployed`);
  }
}

async function runStep(ctx: Context, step: BuildStep, root: string): Promise<void> {
  if ('docker_build' in step) {
    const { image, tag, dockerfile, buildArgs } = step.docker_build;
    await buildAndPushImage(DeploymentImage.parse({ name: image, tag, dockerfile, buildArgs }), { build: true, push: false, root });
  } else if ('docker_push' in step) {
    await buildAndPushImage(DeploymentImage.parse({ name: step.docker_push.image, tag: step.docker_push.tag }), { build: false, push: true, root });
  } else {
    await runShellScript(ctx, step.run_shell_script.script, resolve(root, step.run_shell_script.directory ?? '.'));
  }
}

/** Each schedule's next 3 times from `now`, computed here with the scheduler's own maths. */
async function nextRuns(planned: PlannedDeployment, now: Date) {
  const { getDates } = await import('@drover/scheduling');
  return planned.input.schedules.map((s) => ({
    schedule: s.schedule,
    slug: s.slug,
    active: s.active,
    next: getDates(s.schedule, { n: 3, start: now }).map((d) => d.toISOString()),
  }));
}

async function printPlan(ctx: Context, plan: DeployPlan, now: Date): Promise<void> {
  const { out } = ctx;
  out.line(out.paint('bold', 'Dry run: nothing was changed.'));
  const steps = [...plan.build, ...plan.push];
  if (steps.length > 0) {
    out.line();
    out.line(`Would run ${steps.length} build/push step${steps.length > 1 ? 's' : ''} in ${plan.root}:`);
    for (const step of steps) out.line(`  ${describeStep(step)}`);
  }
  for (const d of plan.deployments) {
    const { input } = d;
    out.line();
    if (!d.existing) out.line(`${out.paint('green', 'Would create')} deployment ${out.paint('bold', d.fullName)} (from ${d.source})`);
    else if (d.changes.length === 0)
      out.line(`${out.paint('dim', 'No changes to')} deployment ${out.paint('bold', d.fullName)} (${d.existing.id}, from ${d.source})`);
    else
      out.line(
        `${out.paint('yellow', 'Would update')} deployment ${out.paint('bold', d.fullName)} (${d.existing.id}, from ${d.source}): ${d.changes.map((c) => c.field).join(', ')}`,
      );
    for (const change of d.changes) {
      if (change.field === 'schedules' || change.field === 'parameterSchema' || change.field === 'pullSteps') out.line(`  ~ ${change.field} changed`);
      else out.line(`  ~ ${change.field}: ${inlineJson(change.from)} → ${inlineJson(change.to)}`);
    }
    out.line(`  entrypoint:  ${input.entrypoint}`);
    out.line(`  work pool:   ${input.workPoolName}${input.workQueueName ? `, queue ${input.workQueueName}${d.createsQueue ? ' (will be created)' : ''}` : ''}`);
    out.line(`  parameters:  ${inlineJson(input.parameters)}`);
    if (input.tags.length > 0) out.line(`  tags:        ${input.tags.join(', ')}`);
    if (input.paused) out.line('  paused:      yes (no scheduled runs are created)');
    if (input.schedules.length === 0) out.line('  schedules:   none');
    else out.line('  schedules:');
    for (const s of await nextRuns(d, now)) {
      const label = `${describeSchedule(s.schedule)}${s.slug ? ` [${s.slug}]` : ''}${s.active ? '' : ' (inactive)'}`;
      out.line(`    ${label}`);
      out.line(`      next: ${s.next.length > 0 ? s.next.map(formatTime).join(', ') : 'never again'}`);
    }
    for (const warning of d.warnings) out.line(`  ${out.paint('yellow', 'warning:')} ${warning}`);
  }
}

async function deploy(ctx: Context, entrypoint: string | undefined, options: DeployOptions): Promise<void> {
  const flags: DeployFlags = {
    name: options.name,
    all: options.all,
    pool: options.pool,
    queue: options.queue,
    schedule: scheduleFromFlags(options),
    param: options.param,
    params: options.params,
    tag: options.tag,
    version: options.version,
    description: options.description,
    jobVariable: options.jobVariable,
  };
  const client = ctx.client();
  const plan = await planDeploy({ entrypoint, flags, cwd: ctx.io.cwd, env: ctx.io.env, client });
  const now = new Date();
  if (options.dryRun) {
    if (options.json) {
      return ctx.out.json({
        dryRun: true,
        steps: [...plan.build, ...plan.push],
        deployments: await Promise.all(
          plan.deployments.map(async (d) => ({
            name: d.fullName,
            action: d.existing ? 'update' : 'create',
            id: d.existing?.id ?? null,
            changes: d.changes.map((c) => c.field),
            schedules: await nextRuns(d, now),
            warnings: d.warnings,
            input: d.input,
          })),
        ),
      });
    }
    return printPlan(ctx, plan, now);
  }

  for (const d of plan.deployments) for (const warning of d.warnings) ctx.err.line(`${ctx.err.paint('yellow', 'Warning:')} ${warning}`);
  const steps = [...plan.build, ...plan.push];
  for (const [i, step] of steps.entries()) {
    ctx.err.line(`Step ${i + 1}/${steps.length}: ${describeStep(step)}`);
    await runStep(ctx, step, plan.root);
  }
  const results: { name: string; action: 'create' | 'update'; id: string; changes: string[] }[] = [];
  // One transaction: when the server refuses one deployment, none of the others is saved either.
  const saved = await client.deployments.upsertMany(plan.deployments.map((d) => d.input));
  for (const [i, d] of plan.deployments.entries()) {
    const { deployment, created } = saved[i] as (typeof saved)[number];
    results.push({ name: d.fullName, action: created ? 'create' : 'update', id: deployment.id, changes: d.changes.map((c) => c.field) });
    if (!options.json) {
      const verb = created ? ctx.out.paint('green', 'Created') : ctx.out.paint('yellow', 'Updated');
      const what = created ? '' : d.changes.length > 0 ? `: ${d.changes.map((c) => c.field).join(', ')}` : ': no changes';
      ctx.out.line(`${verb} deployment ${ctx.out.paint('bold', d.fullName)} (${deployment.id})${what}`);
    }
  }
  if (options.json) return ctx.out.json({ dryRun: false, deployments: results });
  const pools = [...new Set(plan.deployments.map((d) => d.input.workPoolName))];
  ctx.out.line();
  ctx.out.line('Next:');
  for (const pool of pools) ctx.out.line(`  drover worker start --pool ${pool}       # runs what is due`);
  ctx.out.line(`  drover deployment run ${plan.deployments[0]?.fullName} --watch`);
}

export function registerDeploy(program: Command, ctx: Context): void {
  examples(
    program
      .command('deploy')
      .description('Create or update deployments from drover.yaml, or from an entrypoint given here; flags win over drover.yaml')
      .argument('[entrypoint]', 'path/to/file.ts:exportName of a flow (default: the deployments of drover.yaml)', entrypointArg)
      .option('-n, --name <name>', 'with drover.yaml: the deployment to deploy (name or flow/name); with an entrypoint: its name (default: the flow name)')
      .option('--all', 'deploy every deployment in drover.yaml')
      .option('-p, --pool <pool>', 'the work pool', schemaFlag('--pool', WorkPoolName))
      .option('-q, --queue <queue>', "the pool's queue (default: its default queue; created when missing)", schemaFlag('--queue', WorkQueueName))
      .addOption(new Option('--cron <expression>', 'replace the schedules with this cron schedule').conflicts(['interval', 'rrule']))
      .addOption(new Option('--interval <seconds>', 'replace the schedules with one every N seconds (or 10m, 1h)').argParser(intervalFlag).conflicts(['rrule']))
      .option('--anchor-date <iso>', 'with --interval: the date-time the intervals count from')
      .option('--rrule <rule>', 'replace the schedules with this RFC 5545 rule')
      .option('--timezone <tz>', 'IANA timezone of the schedule (default UTC)')
      .option('--param <key=value>', 'a default parameter, repeatable; JSON values (3, true, "[1,2]") are parsed', keyValueFlag('--param'))
      .option('--params <json>', 'default parameters as a JSON object (--param entries win)', jsonObjectFlag('--params'))
      .option('-t, --tag <tag>', 'a tag, repeatable; replaces the tags of drover.yaml', schemaListFlag('--tag', Tag))
      .option('--version <version>', 'a version label for the deployment', schemaFlag('--version', z.string().min(1).max(200)))
      .option('-d, --description <text>', 'the deployment description', schemaFlag('--description', z.string().max(10_000)))
      .option('--job-variable <key=value>', 'a job variable for the pool template, repeatable (env, image, ...)', keyValueFlag('--job-variable'))
      .option('--dry-run', 'print what would be created or changed, with next run times, and change nothing')
      .option('--json', 'print the result (or the plan) as JSON')
      .addHelpText(
        'after',
        `
Entrypoints given here are relative to this folder; those in drover.yaml to its folder. A schedule
flag replaces every schedule of the deployment; --param merges over the file's parameters.`,
      )
      .action((entrypoint: string | undefined, options: DeployOptions) => {
        if (options.name !== undefined && !options.name.includes('/') && entrypoint !== undefined) schemaFlag('--name', DeploymentName)(options.name);
        return deploy(ctx, entrypoint, options);
      }),
    'drover deploy --all',
    'drover deploy --name nightly --dry-run',
    'drover deploy flows/etl.ts:etl --name nightly --pool local --cron "0 2 * * *" --timezone Europe/London --param date=today',
  );
}
