import { z } from 'zod';
import { CatchupPolicy, type DeploymentScheduleCreate, MAX_SCHEDULED_RUNS, PullSteps } from './deployments.js';
import { DeploymentName, FlowName, JsonObject, ScheduleSlug, Tag, WorkPoolName, WorkQueueName } from './names.js';
import { RunNameTemplate } from './runNames.js';
import { byScheduleKind, CronSchedule, IntervalSchedule, RRuleSchedule } from './schedules.js';

/** The file name of a Drover project. */
export const PROJECT_FILE = 'drover.yaml';

const scheduleOptions = {
  active: z.boolean().optional(),
  slug: ScheduleSlug.optional(),
  parameters: JsonObject.optional(),
  maxScheduledRuns: z.number().int().min(1).max(MAX_SCHEDULED_RUNS).optional(),
  catchup: CatchupPolicy.optional(),
  maxLateSeconds: z.number().int().min(1).optional(),
};

/** A schedule in `drover.yaml`: the schedule's own keys and its options side by side, as in prefect.yaml. */
export const ProjectSchedule = byScheduleKind(
  CronSchedule.extend(scheduleOptions),
  IntervalSchedule.extend(scheduleOptions),
  RRuleSchedule.extend(scheduleOptions),
);
export type ProjectSchedule = z.infer<typeof ProjectSchedule>;

/** Turns a `drover.yaml` schedule into the API's schedule input. */
export function toScheduleCreate(entry: ProjectSchedule): DeploymentScheduleCreate {
  const { active, slug, parameters, maxScheduledRuns, catchup, maxLateSeconds, ...schedule } = entry;
  return { schedule, active, slug, parameters, maxScheduledRuns, catchup, maxLateSeconds };
}

/** A step of `build` or `push`: build or push the image, or run a script. */
export const BuildStep = z.union([
  z.strictObject({
    docker_build: z.strictObject({
      image: z.string().min(1),
      tag: z.string().min(1).optional(),
      dockerfile: z.string().min(1).default('auto'),
      buildArgs: z.record(z.string(), z.string()).default({}),
    }),
  }),
  z.strictObject({ docker_push: z.strictObject({ image: z.string().min(1), tag: z.string().min(1).optional() }) }),
  z.strictObject({ run_shell_script: z.strictObject({ script: z.string().min(1), directory: z.string().min(1).optional() }) }),
]);
export type BuildStep = z.infer<typeof BuildStep>;

/** One deployment in `drover.yaml`. */
export const ProjectDeployment = z.strictObject({
  name: DeploymentName,
  entrypoint: z.string().regex(/^[^:]+:[A-Za-z_$][\w$]*$/, 'expected path/to/file.ts:exportName'),
  /** The flow's own name when absent (read from the entrypoint). */
  flowName: FlowName.optional(),
  description: z.string().max(10_000).optional(),
  version: z.string().max(200).optional(),
  tags: z.array(Tag).max(50).default([]),
  parameters: JsonObject.default({}),
  enforceParameterSchema: z.boolean().default(true),
  concurrencyLimit: z.number().int().min(1).optional(),
  /** How its runs are named: `"etl-{date}"`, `"{flow_name}-{scheduled_time:%Y%m%d}"`; the flow's `flowRunName` when absent. */
  flowRunName: RunNameTemplate.optional(),
  paused: z.boolean().optional(),
  schedules: z.array(ProjectSchedule).max(100).default([]),
  workPool: z
    .strictObject({
      name: WorkPoolName,
      workQueueName: WorkQueueName.optional(),
      jobVariables: JsonObject.default({}),
    })
    .optional(),
  /** Replaces the project's `pull` steps for this deployment. */
  pull: PullSteps.optional(),
});
export type ProjectDeployment = z.infer<typeof ProjectDeployment>;

/** `drover.yaml`: the project's build, push and pull steps and its deployments. */
export const Project = z.strictObject({
  name: z.string().min(1).max(200),
  droverVersion: z.string().optional(),
  build: z.array(BuildStep).max(50).default([]),
  push: z.array(BuildStep).max(50).default([]),
  pull: PullSteps.default([]),
  deployments: z.array(ProjectDeployment).max(1000).default([]),
});
export type Project = z.infer<typeof Project>;
