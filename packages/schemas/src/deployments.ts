import { z } from 'zod';
import { droverErrorOf } from './errors.js';
import {
  DeploymentFullName,
  DeploymentName,
  FlowName,
  Id,
  JsonObject,
  jsonObjectAtMost,
  Page,
  ScheduleSlug,
  Tag,
  Timestamp,
  WorkPoolName,
  WorkQueueName,
} from './names.js';
import { RunNameTemplate } from './runNames.js';
import { Schedule } from './schedules.js';

/**
 * What to do with runs missed while the server or every worker was down: `all` runs every one
 * (Prefect's behaviour), `latest` only the newest per schedule, `none` none. `maxLateSeconds`
 * cancels any run later than that, whatever the policy.
 */
export const CatchupPolicy = z.enum(['all', 'latest', 'none']);
export type CatchupPolicy = z.infer<typeof CatchupPolicy>;

/** Most scheduled runs the scheduler keeps ahead for one schedule. */
export const MAX_SCHEDULED_RUNS = 1000;

/** One of a deployment's schedules. */
export const DeploymentSchedule = z.strictObject({
  id: Id,
  schedule: Schedule,
  active: z.boolean(),
  slug: z.string().nullable(),
  /** Merged over the deployment's parameters for this schedule's runs. */
  parameters: JsonObject,
  maxScheduledRuns: z.number().int().nullable(),
  catchup: CatchupPolicy,
  maxLateSeconds: z.number().int().nullable(),
});
export type DeploymentSchedule = z.infer<typeof DeploymentSchedule>;

const scheduleFields = {
  active: z.boolean().default(true),
  slug: ScheduleSlug.nullable().default(null),
  parameters: jsonObjectAtMost('parameters').default({}),
  maxScheduledRuns: z.number().int().min(1).max(MAX_SCHEDULED_RUNS).nullable().default(null),
  catchup: CatchupPolicy.default('all'),
  maxLateSeconds: z.number().int().min(1).nullable().default(null),
};

/** A schedule to add to a deployment. */
export const DeploymentScheduleCreate = z.strictObject({ schedule: Schedule, ...scheduleFields });
export type DeploymentScheduleCreate = z.input<typeof DeploymentScheduleCreate>;

/** Changes to one schedule; absent fields stay as they are. */
export const DeploymentScheduleUpdate = z.strictObject({
  schedule: Schedule.optional(),
  active: z.boolean().optional(),
  slug: ScheduleSlug.nullable().optional(),
  parameters: jsonObjectAtMost('parameters').optional(),
  maxScheduledRuns: scheduleFields.maxScheduledRuns.removeDefault().optional(),
  catchup: CatchupPolicy.optional(),
  maxLateSeconds: scheduleFields.maxLateSeconds.removeDefault().optional(),
});
export type DeploymentScheduleUpdate = z.input<typeof DeploymentScheduleUpdate>;

/**
 * At the deployment's concurrency limit, a new run either waits for a slot (`ENQUEUE`, as in
 * Prefect) or is cancelled (`CANCEL_NEW`).
 */
export const ConcurrencyOptions = z.strictObject({
  collisionStrategy: z.enum(['ENQUEUE', 'CANCEL_NEW']).default('ENQUEUE'),
});
export type ConcurrencyOptions = z.infer<typeof ConcurrencyOptions>;

/** A container image for a deployment: built from `dockerfile` (written by Drover when absent). */
export const DeploymentImage = z.strictObject({
  name: z.string().min(1).max(300),
  tag: z.string().min(1).max(128).optional(),
  dockerfile: z.string().min(1).default('auto'),
  buildArgs: z.record(z.string(), z.string()).default({}),
});
export type DeploymentImage = z.infer<typeof DeploymentImage>;
export type DeploymentImageInput = z.input<typeof DeploymentImage>;

/**
 * A pull step's id, by which later steps use its outputs: `{{ clone.directory }}`, as
 * prefect.yaml's `id:`. `env` is taken: `{{ env.NAME }}` reads the job's environment.
 */
const StepId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,62}$/, 'a step id: a letter, then letters, digits, "-" or "_", at most 63 in all')
  .refine((id) => id !== 'env', { message: '"env" is not a step id: {{ env.NAME }} reads the job\'s environment' });

/** A `git_clone` pull step's fields: where the code is, and how to reach it. */
export const GitCloneStep = z.strictObject({
  id: StepId.optional(),
  // Neither may start with "-": git would read it as an option (`--upload-pack=…` runs a command).
  repository: z.string().min(1).regex(/^[^-]/, 'a repository URL or path, not starting with "-"'),
  /** A branch or a tag. */
  branch: z.string().min(1).regex(/^[^-]/, 'a branch or tag name, not starting with "-"').optional(),
  commit: z
    .string()
    .regex(/^[0-9a-f]{7,40}$/, 'a commit is 7-40 hex characters')
    .optional(),
  directory: z.string().min(1).optional(),
  /**
   * A token for an HTTPS repository, given only as a reference to an environment variable of
   * the job (`{{ env.GITHUB_TOKEN }}`): resolved where the job runs, never stored on the
   * server, sent to git in its environment (not its arguments) and redacted from logs.
   */
  accessToken: z
    .string()
    .regex(/^\{\{\s*env\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}$/, 'a reference to an environment variable of the job, {{ env.NAME }}, never the token itself')
    .optional(),
  /** Also check out the repository's submodules (recursively). */
  submodules: z.boolean().optional(),
});

/** A step a worker runs before the flow: fetch or locate the flow's code. */
export const PullStep = z.union([
  z.strictObject({ set_working_directory: z.strictObject({ id: StepId.optional(), directory: z.string().min(1) }) }),
  z.strictObject({ git_clone: GitCloneStep }),
  z.strictObject({
    run_shell_script: z.strictObject({
      id: StepId.optional(),
      script: z.string().min(1),
      directory: z.string().min(1).optional(),
      env: z.record(z.string(), z.string()).default({}),
    }),
  }),
]);
export type PullStep = z.infer<typeof PullStep>;

/** What each kind of pull step gives the steps after it, by name (`{{ <id>.<output> }}`). */
export const PULL_STEP_OUTPUTS = {
  set_working_directory: ['directory'],
  git_clone: ['directory'],
  run_shell_script: ['stdout', 'stderr'],
} as const satisfies Record<string, readonly string[]>;

/** `{{ id.output }}` in a pull step's text: an earlier step's output, filled in where the job runs. */
const STEP_OUTPUT_REFERENCE = /\{\{\s*([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The kind of a pull step (its one key) and its fields. */
function pullStepParts(step: PullStep): [keyof typeof PULL_STEP_OUTPUTS, Record<string, unknown>] {
  const [kind, fields] = Object.entries(step)[0] as [keyof typeof PULL_STEP_OUTPUTS, Record<string, unknown>];
  return [kind, fields];
}

/** Every text of a step's fields that may hold references (not its id, not git's accessToken), with its key path. */
function referenceTexts(fields: Record<string, unknown>): [string[], string][] {
  return Object.entries(fields).flatMap(([key, value]): [string[], string][] => {
    if (key === 'id' || key === 'accessToken') return [];
    if (typeof value === 'string') return [[[key], value]];
    if (value !== null && typeof value === 'object')
      return Object.entries(value).flatMap(([name, text]): [string[], string][] => (typeof text === 'string' ? [[[key, name], text]] : []));
    return [];
  });
}

/**
 * The step with every `{{ id.output }}` replaced by that earlier step's output, from `outputs`
 * (by step id). A reference to an output not there throws, naming the field (`PullSteps` refuses
 * such steps when they are saved; this guards steps saved by an older server).
 */
export function fillStepOutputs(step: PullStep, outputs: ReadonlyMap<string, Readonly<Record<string, string>>>): PullStep {
  const [kind, fields] = pullStepParts(step);
  const filled: Record<string, unknown> = structuredClone(fields);
  for (const [path, text] of referenceTexts(fields)) {
    const value = text.replace(STEP_OUTPUT_REFERENCE, (whole, id: string, output: string) => {
      // Not a step: left as written, as steps saved before ids existed had it.
      if (id === 'env') return whole;
      const found = outputs.get(id)?.[output];
      if (found === undefined) {
        throw droverErrorOf('FLOW_LOAD_ERROR', `Pull step ${kind}.${path.join('.')}: ${whole} names no output of an earlier step`, {
          step: kind,
          field: path.join('.'),
        });
      }
      return found;
    });
    const [key, name] = path as [string, string | undefined];
    if (name === undefined) filled[key] = value;
    else (filled[key] as Record<string, unknown>)[name] = value;
  }
  return { [kind]: filled } as PullStep;
}

/**
 * Pull steps, in order: ids are unique, and every `{{ id.output }}` names an earlier step and an
 * output that kind of step has, so a deployment whose steps can only fail is refused when saved.
 */
export const PullSteps = z
  .array(PullStep)
  .max(50)
  .superRefine((steps, ctx) => {
    const earlier = new Map<string, keyof typeof PULL_STEP_OUTPUTS>();
    steps.forEach((step, index) => {
      const [kind, fields] = pullStepParts(step);
      for (const [path, text] of referenceTexts(fields)) {
        for (const [whole, id, output] of text.matchAll(STEP_OUTPUT_REFERENCE)) {
          const known = earlier.get(id as string);
          const problem =
            id === 'env'
              ? `${whole}: only a git_clone's accessToken reads the job's environment`
              : known === undefined
                ? `${whole} names step "${id}", which no earlier step is (${earlier.size ? `ids so far: ${[...earlier.keys()].join(', ')}` : 'no earlier step has an id'})`
                : !(PULL_STEP_OUTPUTS[known] as readonly string[]).includes(output as string)
                  ? `${whole}: step "${id}" (${known}) has no output "${output}"; it has ${PULL_STEP_OUTPUTS[known].join(', ')}`
                  : undefined;
          if (problem) ctx.addIssue({ code: 'custom', path: [index, kind, ...path], message: problem });
        }
      }
      const id = fields.id as string | undefined;
      if (id === undefined) return;
      if (earlier.has(id)) ctx.addIssue({ code: 'custom', path: [index, kind, 'id'], message: `step id "${id}" is already used by an earlier step` });
      earlier.set(id, kind);
    });
  });

/** A deployment: which flow to run, with what defaults, when, and where. */
export const Deployment = z.strictObject({
  id: Id,
  name: z.string(),
  flowId: Id,
  flowName: z.string(),
  entrypoint: z.string().nullable(),
  schedules: z.array(DeploymentSchedule),
  parameters: JsonObject,
  parameterSchema: JsonObject.nullable(),
  enforceParameterSchema: z.boolean(),
  tags: z.array(z.string()),
  description: z.string().nullable(),
  version: z.string().nullable(),
  workPoolName: z.string().nullable(),
  workQueueName: z.string().nullable(),
  jobVariables: JsonObject,
  concurrencyLimit: z.number().int().nullable(),
  concurrencyOptions: ConcurrencyOptions,
  pullSteps: z.array(PullStep),
  /** How its runs are named (`"etl-{date}"`); null for Drover's generated names. */
  flowRunName: z.string().nullable(),
  paused: z.boolean(),
  /** READY when something is there to run its runs now: an online worker polling its queue, or a runner serving it. */
  status: z.enum(['READY', 'NOT_READY']),
  /** Why it is NOT_READY, in words ("no online worker in pool local"); null when READY. */
  statusReason: z.string().nullable(),
  /** When a worker last polled its queue, or a runner last polled for it. */
  lastPolled: Timestamp.nullable(),
  created: Timestamp,
  updated: Timestamp,
});
export type Deployment = z.infer<typeof Deployment>;

const deploymentFields = {
  entrypoint: z
    .string()
    .min(1)
    .max(1000)
    .regex(/^[^:]+:[A-Za-z_$][\w$]*$/, 'expected path/to/file.ts:exportName')
    .nullable(),
  schedules: z.array(DeploymentScheduleCreate).max(100),
  /** Each of these JSON objects is at most MAX_JSON_OBJECT_BYTES (512 KiB) of JSON. */
  parameters: jsonObjectAtMost('parameters'),
  parameterSchema: jsonObjectAtMost('parameterSchema').nullable(),
  enforceParameterSchema: z.boolean(),
  tags: z.array(Tag).max(50),
  description: z.string().max(10_000).nullable(),
  version: z.string().max(200).nullable(),
  workPoolName: WorkPoolName.nullable(),
  workQueueName: WorkQueueName.nullable(),
  jobVariables: jsonObjectAtMost('jobVariables'),
  concurrencyLimit: z.number().int().min(1).nullable(),
  concurrencyOptions: ConcurrencyOptions,
  pullSteps: PullSteps,
  /** A template over the parameters and the scheduled time (see RunNameTemplate); its keys are checked at deploy time. */
  flowRunName: RunNameTemplate.nullable(),
  paused: z.boolean(),
};

/** Create a deployment, or update the one with the same `flowName/name` (the flow is created if new). */
export const DeploymentCreate = z.strictObject({
  flowName: FlowName,
  name: DeploymentName,
  entrypoint: deploymentFields.entrypoint.default(null),
  schedules: deploymentFields.schedules.default([]),
  parameters: deploymentFields.parameters.default({}),
  parameterSchema: deploymentFields.parameterSchema.default(null),
  enforceParameterSchema: deploymentFields.enforceParameterSchema.default(true),
  tags: deploymentFields.tags.default([]),
  description: deploymentFields.description.default(null),
  version: deploymentFields.version.default(null),
  workPoolName: deploymentFields.workPoolName.default(null),
  workQueueName: deploymentFields.workQueueName.default(null),
  jobVariables: deploymentFields.jobVariables.default({}),
  concurrencyLimit: deploymentFields.concurrencyLimit.default(null),
  concurrencyOptions: deploymentFields.concurrencyOptions.default({ collisionStrategy: 'ENQUEUE' }),
  pullSteps: deploymentFields.pullSteps.default([]),
  flowRunName: deploymentFields.flowRunName.default(null),
  paused: deploymentFields.paused.default(false),
});
export type DeploymentCreate = z.input<typeof DeploymentCreate>;

/** Changes to a deployment; absent fields stay as they are. `schedules` replaces the whole set. */
export const DeploymentUpdate = z.strictObject({
  entrypoint: deploymentFields.entrypoint.optional(),
  schedules: deploymentFields.schedules.optional(),
  parameters: deploymentFields.parameters.optional(),
  parameterSchema: deploymentFields.parameterSchema.optional(),
  enforceParameterSchema: deploymentFields.enforceParameterSchema.optional(),
  tags: deploymentFields.tags.optional(),
  description: deploymentFields.description.optional(),
  version: deploymentFields.version.optional(),
  workPoolName: deploymentFields.workPoolName.optional(),
  workQueueName: deploymentFields.workQueueName.optional(),
  jobVariables: deploymentFields.jobVariables.optional(),
  concurrencyLimit: deploymentFields.concurrencyLimit.optional(),
  concurrencyOptions: deploymentFields.concurrencyOptions.optional(),
  pullSteps: deploymentFields.pullSteps.optional(),
  flowRunName: deploymentFields.flowRunName.optional(),
  paused: deploymentFields.paused.optional(),
});
export type DeploymentUpdate = z.input<typeof DeploymentUpdate>;

/** A deployment by id or by `flow-name/deployment-name`. */
export const DeploymentRef = z.string().superRefine((value, ctx) => {
  if (!Id.safeParse(value).success && !DeploymentFullName.safeParse(value).success) {
    ctx.addIssue({
      code: 'custom',
      message: `Invalid deployment "${value}": expected a deployment id or flow-name/deployment-name, each name 1-100 letters, digits, "-", "_" or ".", starting with a letter or digit`,
    });
  }
});
export type DeploymentRef = z.infer<typeof DeploymentRef>;

/** Filters for listing deployments; all given filters must match. */
export const DeploymentFilter = z.strictObject({
  flowName: FlowName.optional(),
  /** Deployments carrying every one of these tags. */
  tags: z.array(Tag).max(50).optional(),
  workPoolName: WorkPoolName.optional(),
  paused: z.boolean().optional(),
  page: Page.default({ limit: 100, offset: 0 }),
});
export type DeploymentFilter = z.input<typeof DeploymentFilter>;

/** What an upsert did: the deployment as saved, and whether it was new. */
export const DeploymentUpserted = z.strictObject({ deployment: Deployment, created: z.boolean() });
export type DeploymentUpserted = z.infer<typeof DeploymentUpserted>;

/** What deleting a deployment removed. */
export const DeploymentDeleted = z.strictObject({
  id: Id,
  name: z.string(),
  deletedScheduledRuns: z.number().int(),
});
export type DeploymentDeleted = z.infer<typeof DeploymentDeleted>;

/** Ask for the next `count` times of each of a deployment's schedules. */
export const SchedulePreviewInput = z.strictObject({
  deployment: DeploymentRef,
  count: z.number().int().min(1).max(1000).default(5),
  /** From this instant (inclusive); the server's now when absent. */
  start: Timestamp.optional(),
});
export type SchedulePreviewInput = z.input<typeof SchedulePreviewInput>;

/** The next times of each schedule, in the deployment's schedule order. */
export const SchedulePreview = z.array(z.strictObject({ scheduleId: Id, slug: z.string().nullable(), active: z.boolean(), times: z.array(Timestamp) }));
export type SchedulePreview = z.infer<typeof SchedulePreview>;
