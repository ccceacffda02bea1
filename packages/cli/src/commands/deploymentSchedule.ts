/**
 * `drover deployment schedule ls|add|pause|resume|delete|preview`: a deployment's schedules. A
 * schedule is named by its id or its slug.
 */
import { type Deployment, type DeploymentSchedule, droverErrorOf, ScheduleSlug } from '@drover/schemas';
import { type Command, Option } from 'commander';
import { type Context, examples } from '../cliContext.js';
import { UsageError } from '../errors.js';
import { deploymentArg, intervalFlag, intFlag, keyValueFlag, type ScheduleFlags, scheduleFromFlags, schemaFlag } from '../flags.js';
import { describeSchedule, formatTime } from '../format.js';

const fullName = (d: Deployment) => `${d.flowName}/${d.name}`;

/** The schedule of `deployment` with this id or slug. */
function findSchedule(deployment: Deployment, ref: string): DeploymentSchedule {
  const found = deployment.schedules.find((s) => s.id === ref) ?? deployment.schedules.find((s) => s.slug === ref);
  if (found) return found;
  const known = deployment.schedules.map((s) => (s.slug ? `${s.id} (${s.slug})` : s.id));
  throw droverErrorOf(
    'SCHEDULE_NOT_FOUND',
    `Deployment "${fullName(deployment)}" has no schedule "${ref}" (its schedules: ${known.join(', ') || 'none'}; see \`drover deployment schedule ls ${fullName(deployment)}\`)`,
    { schedule: ref },
  );
}

interface AddOptions extends ScheduleFlags {
  slug?: string;
  inactive?: boolean;
  param?: Record<string, unknown>;
  json?: boolean;
}

export function registerDeploymentSchedule(deployment: Command, ctx: Context): void {
  const schedule = deployment.command('schedule').alias('schedules').description("A deployment's schedules: list, add, pause, resume, delete, preview");
  examples(schedule, 'drover deployment schedule ls etl/nightly', 'drover deployment schedule add etl/nightly --cron "0 6 * * 1-5" --timezone Europe/London');

  examples(
    schedule
      .command('ls')
      .description("List a deployment's schedules with each one's next run")
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .option('--json', 'print the schedules as JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const client = ctx.client();
        const [d, preview] = await Promise.all([client.deployments.read(name), client.deployments.schedulePreview({ deployment: name, count: 1 })]);
        if (options.json) return ctx.out.json(d.schedules);
        const next = new Map(preview.map((p) => [p.scheduleId, p.times[0]]));
        ctx.out.table(
          ['ID', 'SCHEDULE', 'SLUG', 'ACTIVE', 'NEXT RUN'],
          d.schedules.map((s) => [
            s.id,
            describeSchedule(s.schedule),
            s.slug ?? '-',
            s.active ? 'yes' : ctx.out.paint('yellow', 'no'),
            d.paused || !s.active ? '-' : formatTime(next.get(s.id)),
          ]),
          `Deployment ${fullName(d)} has no schedules. Add one with \`drover deployment schedule add ${fullName(d)} --cron "0 9 * * *"\`.`,
        );
      }),
    'drover deployment schedule ls hello/example',
  );

  examples(
    schedule
      .command('add')
      .description('Add a schedule to a deployment (one of --cron, --interval, --rrule)')
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .addOption(new Option('--cron <expression>', 'a cron expression, e.g. "0 9 * * 1-5"').conflicts(['interval', 'rrule']))
      .addOption(new Option('--interval <seconds>', 'every N seconds (or 10m, 1h)').argParser(intervalFlag).conflicts(['rrule']))
      .option('--rrule <rule>', 'an RFC 5545 rule, e.g. "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9"')
      .option('--timezone <tz>', 'IANA timezone, e.g. Europe/London (default UTC)')
      .option('--anchor-date <iso>', 'with --interval: the date-time the intervals count from')
      .option('--slug <slug>', 'a stable name for the schedule, unique in the deployment', schemaFlag('--slug', ScheduleSlug))
      .option('--inactive', 'add it paused')
      .option('--param <key=value>', "a parameter for this schedule's runs, repeatable", keyValueFlag('--param'))
      .option('--json', 'print the new schedule as JSON')
      .action(async (name: string, options: AddOptions) => {
        const parsed = scheduleFromFlags(options);
        if (!parsed) throw new UsageError('Give a schedule: --cron, --interval or --rrule');
        const client = ctx.client();
        const before = await client.deployments.read(name);
        const after = await client.deployments.addSchedule(before.id, {
          schedule: parsed,
          slug: options.slug ?? null,
          active: !options.inactive,
          parameters: options.param ?? {},
        });
        const known = new Set(before.schedules.map((s) => s.id));
        const added = after.schedules.find((s) => !known.has(s.id)) as DeploymentSchedule;
        if (options.json) return ctx.out.json(added);
        ctx.out.line(`Added schedule ${added.id} to ${fullName(after)}: ${describeSchedule(added.schedule)}${added.active ? '' : ' (inactive)'}`);
      }),
    'drover deployment schedule add hello/example --cron "0 9 * * 1-5" --timezone Europe/London --slug weekdays',
    'drover deployment schedule add hello/example --interval 10m',
  );

  for (const [verb, active] of [
    ['pause', false],
    ['resume', true],
  ] as const) {
    examples(
      schedule
        .command(verb)
        .description(active ? 'Resume a paused schedule' : 'Pause one schedule (its runs not yet started are removed)')
        .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
        .argument('<schedule>', 'the schedule id or slug')
        .option('--json', 'print the schedule as JSON')
        .action(async (name: string, ref: string, options: { json?: boolean }) => {
          const client = ctx.client();
          const target = findSchedule(await client.deployments.read(name), ref);
          const after = await client.deployments.updateSchedule(name, target.id, { active });
          const updated = after.schedules.find((s) => s.id === target.id) as DeploymentSchedule;
          if (options.json) return ctx.out.json(updated);
          ctx.out.line(`${active ? 'Resumed' : 'Paused'} schedule ${updated.id} of ${fullName(after)}: ${describeSchedule(updated.schedule)}`);
        }),
      `drover deployment schedule ${verb} hello/example weekdays`,
    );
  }

  examples(
    schedule
      .command('delete')
      .description('Delete one schedule (its runs not yet started are removed)')
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .argument('<schedule>', 'the schedule id or slug')
      .option('--json', 'print the deployment as JSON')
      .action(async (name: string, ref: string, options: { json?: boolean }) => {
        const client = ctx.client();
        const target = findSchedule(await client.deployments.read(name), ref);
        const after = await client.deployments.removeSchedule(name, target.id);
        if (options.json) return ctx.out.json(after);
        ctx.out.line(`Deleted schedule ${target.id} of ${fullName(after)}: ${describeSchedule(target.schedule)}`);
      }),
    'drover deployment schedule delete hello/example weekdays',
  );

  examples(
    schedule
      .command('preview')
      .description("The next run times of a deployment's schedules")
      .argument('<name>', 'flow-name/deployment-name, or the id', deploymentArg)
      .option('--count <n>', 'how many times per schedule (1-1000)', intFlag('--count', 1, 1000), 5)
      .option('--json', 'print the times as JSON')
      .action(async (name: string, options: { count: number; json?: boolean }) => {
        const client = ctx.client();
        const [d, preview] = await Promise.all([client.deployments.read(name), client.deployments.schedulePreview({ deployment: name, count: options.count })]);
        if (options.json) return ctx.out.json(preview);
        const byId = new Map(d.schedules.map((s) => [s.id, s]));
        const rows = preview
          .flatMap((p) => p.times.map((time) => ({ time, p })))
          .sort((a, b) => a.time.localeCompare(b.time))
          .map(({ time, p }) => {
            const s = byId.get(p.scheduleId);
            return [formatTime(time), s ? describeSchedule(s.schedule) : p.scheduleId, p.slug ?? '-', p.active ? 'yes' : 'no'];
          });
        ctx.out.table(['TIME', 'SCHEDULE', 'SLUG', 'ACTIVE'], rows, `Deployment ${fullName(d)} has no upcoming runs from its schedules.`);
        if (d.paused) ctx.err.line(`Note: ${fullName(d)} is paused; these runs are created only once it is resumed.`);
      }),
    'drover deployment schedule preview hello/example --count 10',
  );
}
