/**
 * What `drover deploy` will do, worked out before anything is changed: which deployments (from
 * drover.yaml or an entrypoint on the command line), merged with the flags, their flows loaded,
 * their pools checked, each compared with the deployment on the server. A plan that builds
 * without an error is complete; only then does `deploy` run build steps and upsert, so a bad
 * deployment never leaves the others half-written.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { type AnyFlow, type DroverClient, findProjectRoot, loadFlow, parseEntrypoint } from '@drover/client';
import {
  type BuildStep,
  type Deployment,
  DeploymentCreate,
  DeploymentScheduleCreate,
  describeIssues,
  droverErrorOf,
  isDroverError,
  type ProjectDeployment,
  type PullStep,
  type Schedule,
  toIssues,
  toScheduleCreate,
  type WorkPool,
  type WorkQueue,
} from '@drover/schemas';
import type { z } from 'zod';
import { UsageError } from './errors.js';
import { type ProjectFile, readProjectFile } from './projectFile.js';

/** The flags of `drover deploy`, parsed. */
export interface DeployFlags {
  readonly name?: string;
  readonly all?: boolean;
  readonly pool?: string;
  readonly queue?: string;
  readonly schedule?: Schedule;
  readonly param?: Record<string, unknown>;
  readonly params?: Record<string, unknown>;
  readonly tag?: string[];
  readonly version?: string;
  readonly description?: string;
  readonly jobVariable?: Record<string, unknown>;
}

/** A field of a deployment that a deploy would change, with its old and new values. */
interface FieldChange {
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface PlannedDeployment {
  /** `flow-name/deployment-name`. */
  readonly fullName: string;
  /** Where it was defined: `drover.yaml deployments.0` or `the command line`. */
  readonly source: string;
  /** The API input, defaults filled in. */
  readonly input: z.output<typeof DeploymentCreate>;
  /** The deployment as it is on the server, when it exists. */
  readonly existing: Deployment | undefined;
  /** For an existing deployment: what changes (empty: nothing). */
  readonly changes: readonly FieldChange[];
  /** The pool's queue named by the deployment does not exist yet; the server creates it. */
  readonly createsQueue: boolean;
  /** Problems that do not stop the deploy (default parameters that the flow would reject). */
  readonly warnings: readonly string[];
}

export interface DeployPlan {
  readonly root: string;
  readonly projectFile: ProjectFile | undefined;
  readonly build: readonly BuildStep[];
  readonly push: readonly BuildStep[];
  readonly deployments: readonly PlannedDeployment[];
}

interface Selected {
  readonly base: ProjectDeployment;
  readonly source: string;
  /** Prefix for messages about this deployment's keys: `drover.yaml: deployments.0.` or nothing. */
  readonly keyPrefix: string;
  readonly pull: PullStep[];
}

/** Keys stable under JSON round trips, for comparing configuration. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

function fromCommandLine(entrypointArg: string, flags: DeployFlags, cwd: string, root: string, projectFile: ProjectFile | undefined): Selected {
  const { path, exportName } = parseEntrypoint(entrypointArg);
  // The path is typed relative to where the user is; it is stored relative to the project root.
  const absolute = isAbsolute(path) ? path : resolve(cwd, path);
  const entrypoint = `${relative(root, absolute)}:${exportName}`;
  const pull = projectFile?.pullGiven.project ? projectFile.project.pull : defaultPull(root);
  // A drover.yaml entry for the same entrypoint (and name, when given) is the starting point, as in Prefect.
  const matches = (projectFile?.project.deployments ?? [])
    .map((d, i) => ({ d, i }))
    .filter(({ d }) => d.entrypoint === entrypoint && (flags.name === undefined || d.name === flags.name));
  if (projectFile && matches.length === 1) {
    const { d, i } = matches[0] as { d: ProjectDeployment; i: number };
    return fromProject(projectFile, d, i, root);
  }
  const base: ProjectDeployment = {
    name: flags.name ?? '',
    entrypoint,
    tags: [],
    parameters: {},
    enforceParameterSchema: true,
    schedules: [],
  };
  return { base, source: 'the command line', keyPrefix: '', pull };
}

function defaultPull(root: string): PullStep[] {
  // Prefect's default pull step: workers run the code where it was deployed from.
  return [{ set_working_directory: { directory: root } }];
}

function fromProject(file: ProjectFile, base: ProjectDeployment, index: number, root: string): Selected {
  const given = file.pullGiven.deployments[index] ?? false;
  const pull = given ? (base.pull ?? []) : file.pullGiven.project ? file.project.pull : defaultPull(root);
  return { base, source: `${file.shown} deployments.${index}`, keyPrefix: `${file.shown}: deployments.${index}.`, pull };
}

/** The deployments of drover.yaml that `--all` / `--name` / neither pick. */
function selectFromProject(file: ProjectFile, flags: DeployFlags): Selected[] {
  const all = file.project.deployments.map((d, i) => fromProject(file, d, i, file.root));
  const names = file.project.deployments.map((d) => d.name);
  if (all.length === 0) {
    throw droverErrorOf(
      'VALIDATION_ERROR',
      `${file.shown} has no deployments: add one under \`deployments:\`, or pass an entrypoint (drover deploy path/to/file.ts:flowName)`,
      {},
    );
  }
  if (flags.all) return all;
  if (flags.name !== undefined) {
    const wanted = flags.name;
    const slash = wanted.indexOf('/');
    const picked = all.filter(({ base }) =>
      slash < 0 ? base.name === wanted : base.name === wanted.slice(slash + 1) && (base.flowName === undefined || base.flowName === wanted.slice(0, slash)),
    );
    if (picked.length === 0) {
      throw droverErrorOf('DEPLOYMENT_NOT_FOUND', `${file.shown} has no deployment named "${wanted}" (its deployments: ${names.join(', ')})`, {
        name: wanted,
      });
    }
    return picked;
  }
  if (all.length === 1) return all;
  throw new UsageError(`${file.shown} has ${all.length} deployments (${names.join(', ')}): pick one with --name NAME, or deploy them all with --all`);
}

/** The deployment with the flags applied over its drover.yaml values. */
function applyFlags(base: ProjectDeployment, flags: DeployFlags): ProjectDeployment {
  const workPool =
    flags.pool !== undefined || flags.queue !== undefined || flags.jobVariable !== undefined
      ? {
          name: flags.pool ?? base.workPool?.name ?? '',
          workQueueName: flags.queue ?? (flags.pool !== undefined && flags.pool !== base.workPool?.name ? undefined : base.workPool?.workQueueName),
          jobVariables: { ...base.workPool?.jobVariables, ...flags.jobVariable },
        }
      : base.workPool;
  return {
    ...base,
    workPool,
    schedules: flags.schedule ? [flags.schedule] : base.schedules,
    parameters: { ...base.parameters, ...flags.params, ...flags.param },
    tags: flags.tag ?? base.tags,
    version: flags.version ?? base.version,
    description: flags.description ?? base.description,
  };
}

/** A schedule's options for a redeploy: one the user left `active` unset on keeps its state on the server. */
function keepScheduleState(entry: ProjectDeployment['schedules'][number], existing: Deployment | undefined): DeploymentScheduleCreate {
  const create = toScheduleCreate(entry);
  if (entry.active !== undefined || !existing) return create;
  const parsed = DeploymentScheduleCreate.parse(create);
  const match =
    existing.schedules.find((s) => parsed.slug !== null && s.slug === parsed.slug) ??
    existing.schedules.find((s) => s.slug === null && parsed.slug === null && canonical(s.schedule) === canonical(parsed.schedule));
  return match ? { ...create, active: match.active } : create;
}

function scheduleView(s: {
  schedule: unknown;
  active: boolean;
  slug: string | null;
  parameters: unknown;
  maxScheduledRuns: number | null;
  catchup: string;
  maxLateSeconds: number | null;
}) {
  return {
    schedule: s.schedule,
    active: s.active,
    slug: s.slug,
    parameters: s.parameters,
    maxScheduledRuns: s.maxScheduledRuns,
    catchup: s.catchup,
    maxLateSeconds: s.maxLateSeconds,
  };
}

const COMPARED = [
  'entrypoint',
  'parameters',
  'parameterSchema',
  'enforceParameterSchema',
  'tags',
  'description',
  'version',
  'workPoolName',
  'workQueueName',
  'jobVariables',
  'concurrencyLimit',
  'concurrencyOptions',
  'pullSteps',
  'flowRunName',
  'paused',
] as const;

/** What upserting `input` would change on `existing`. */
function diffDeployment(existing: Deployment, input: z.output<typeof DeploymentCreate>, defaultQueue: string | undefined): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of COMPARED) {
    let to: unknown = input[field];
    // No queue named means the pool's default queue, which the server reports by name.
    if (field === 'workQueueName' && to === null) to = defaultQueue ?? existing.workQueueName;
    if (canonical(existing[field]) !== canonical(to)) changes.push({ field, from: existing[field], to });
  }
  const before = existing.schedules.map(scheduleView);
  const after = input.schedules.map(scheduleView);
  if (canonical(before) !== canonical(after)) changes.push({ field: 'schedules', from: before, to: after });
  return changes;
}

async function readExisting(client: DroverClient, fullName: string): Promise<Deployment | undefined> {
  try {
    return await client.deployments.read(fullName);
  } catch (error) {
    if (isDroverError(error, 'DEPLOYMENT_NOT_FOUND')) return undefined;
    throw error;
  }
}

/**
 * Works out the whole deploy, or throws the first problem found (naming the file, key and fix).
 * Reads from the server (pools, existing deployments) but changes nothing.
 */
export async function planDeploy(options: {
  entrypoint?: string;
  flags: DeployFlags;
  cwd: string;
  /** What `{{ $NAME }}` in drover.yaml reads. */
  env: Readonly<Record<string, string | undefined>>;
  client: DroverClient;
}): Promise<DeployPlan> {
  const { entrypoint, flags, cwd, env, client } = options;
  if (flags.all && flags.name !== undefined) throw new UsageError('--all and --name cannot be used together: --all deploys every deployment in drover.yaml');
  if (flags.all && entrypoint !== undefined) throw new UsageError('--all deploys the deployments of drover.yaml; leave out the entrypoint, or leave out --all');
  const root = findProjectRoot(cwd);
  const projectFile = await readProjectFile(root, cwd, env);
  let selected: Selected[];
  if (entrypoint !== undefined) {
    selected = [fromCommandLine(entrypoint, flags, cwd, root, projectFile)];
  } else if (projectFile) {
    selected = selectFromProject(projectFile, flags);
  } else {
    throw new UsageError(
      `Nothing to deploy: no drover.yaml in ${root} and no entrypoint given. Pass one (drover deploy path/to/file.ts:flowName --pool NAME), or create a project with \`drover init\``,
    );
  }

  // Load every flow first (each file once): a flow that does not load stops the whole deploy.
  const flows = new Map<string, Promise<AnyFlow>>();
  const load = (s: Selected): Promise<AnyFlow> => {
    let flow = flows.get(s.base.entrypoint);
    if (!flow) {
      flow = loadFlow(s.base.entrypoint, root);
      flows.set(s.base.entrypoint, flow);
    }
    return flow.catch((error: unknown) => {
      throw isDroverError(error) && s.keyPrefix
        ? droverErrorOf(error.code, `${s.keyPrefix}entrypoint: ${error.message}`, error.details, { cause: error })
        : error;
    });
  };
  const loaded: { s: Selected; flow: AnyFlow; merged: ProjectDeployment }[] = [];
  for (const s of selected) {
    const flow = await load(s);
    const merged = applyFlags({ ...s.base, name: s.base.name || flow.name }, flags);
    loaded.push({ s, flow, merged });
  }

  const fullNames = new Map<string, string>();
  const pools = new Map<string, Promise<WorkPool>>();
  const drafts = loaded.map(({ s, flow, merged }) => {
    const fullName = `${merged.flowName ?? flow.name}/${merged.name}`;
    const seen = fullNames.get(fullName);
    if (seen)
      throw droverErrorOf('NAME_CONFLICT', `Deployment "${fullName}" is defined twice (${seen} and ${s.source}): give one of them another name`, {
        fullName,
      });
    fullNames.set(fullName, s.source);
    const poolName = merged.workPool?.name;
    if (!poolName) {
      const message = `Deployment "${fullName}" (${s.source}) has no work pool: pass --pool NAME, or set workPool.name in drover.yaml`;
      throw s.keyPrefix ? droverErrorOf('VALIDATION_ERROR', message, {}) : new UsageError(message);
    }
    if (!pools.has(poolName)) pools.set(poolName, client.workPools.read(poolName));
    return { s, flow, merged, fullName, poolName };
  });

  // Pools and existing deployments, read together.
  const [poolResults, existingList] = await Promise.all([
    Promise.allSettled([...pools.entries()].map(async ([name, pool]) => ({ name, pool: await pool }))),
    Promise.all(drafts.map((d) => readExisting(client, d.fullName))),
  ]);
  const poolByName = new Map<string, WorkPool>();
  for (const [i, result] of poolResults.entries()) {
    const name = [...pools.keys()][i] as string;
    if (result.status === 'fulfilled') {
      poolByName.set(name, result.value.pool);
      continue;
    }
    const error = result.reason;
    if (!isDroverError(error, 'WORK_POOL_NOT_FOUND')) throw error;
    const users = drafts.filter((d) => d.poolName === name).map((d) => `"${d.fullName}" (${d.s.source})`);
    const existing = (error.details.existing as string[] | undefined) ?? [];
    throw droverErrorOf(
      'WORK_POOL_NOT_FOUND',
      `Work pool "${name}" does not exist, and deployment ${users.join(', ')} uses it: create it with \`drover work-pool create ${name} --type process\`${existing.length > 0 ? `, or use one of the existing pools (${existing.join(', ')})` : ''}`,
      { workPoolName: name, existing },
    );
  }
  const queueLists = new Map<string, Promise<WorkQueue[]>>();
  const queuesOf = (pool: string) => {
    let queues = queueLists.get(pool);
    if (!queues) {
      queues = client.workQueues.list(pool);
      queueLists.set(pool, queues);
    }
    return queues;
  };

  const deployments: PlannedDeployment[] = [];
  for (const [i, d] of drafts.entries()) {
    const existing = existingList[i];
    const { merged, flow, s } = d;
    const candidate = {
      flowName: merged.flowName ?? flow.name,
      name: merged.name,
      entrypoint: merged.entrypoint,
      schedules: merged.schedules.map((entry) => keepScheduleState(entry, existing)),
      parameters: merged.parameters,
      parameterSchema: flow.parameterSchema(),
      enforceParameterSchema: merged.enforceParameterSchema,
      tags: merged.tags,
      description: merged.description ?? flow.options.description ?? null,
      version: merged.version ?? flow.options.version ?? null,
      workPoolName: d.poolName,
      workQueueName: merged.workPool?.workQueueName ?? null,
      jobVariables: merged.workPool?.jobVariables ?? {},
      concurrencyLimit: merged.concurrencyLimit ?? null,
      pullSteps: s.pull,
      flowRunName: merged.flowRunName ?? flow.options.flowRunName ?? null,
      // Left out in drover.yaml, a redeploy keeps the pause set on the server (`drover deployment pause`).
      paused: merged.paused ?? existing?.paused ?? false,
    };
    const parsed = DeploymentCreate.safeParse(candidate);
    if (!parsed.success) {
      throw droverErrorOf('VALIDATION_ERROR', `Deployment "${d.fullName}" (${s.source}) is invalid: ${describeIssues(toIssues(parsed.error))}`, {});
    }
    const input = parsed.data;
    const slugs = input.schedules.flatMap((sc) => (sc.slug === null ? [] : [sc.slug]));
    const twice = slugs.find((slug, j) => slugs.indexOf(slug) !== j);
    if (twice)
      throw droverErrorOf(
        'NAME_CONFLICT',
        `Deployment "${d.fullName}" (${s.source}) has two schedules with slug "${twice}": slugs are unique within a deployment`,
        {},
      );

    const warnings: string[] = [];
    try {
      flow.parseParameters(input.parameters);
    } catch (error) {
      const detail = error && typeof error === 'object' && 'issues' in error ? describeIssues(toIssues(error as z.ZodError)) : (error as Error).message;
      warnings.push(`the default parameters of ${d.fullName} do not satisfy flow "${flow.name}" (${detail}); every run must supply the rest`);
    }
    const pool = poolByName.get(d.poolName) as WorkPool;
    const queues = await queuesOf(d.poolName);
    const createsQueue = input.workQueueName !== null && !queues.some((q) => q.name === input.workQueueName);
    const defaultQueue = queues.find((q) => q.id === pool.defaultQueueId)?.name;
    deployments.push({
      fullName: d.fullName,
      source: s.source,
      input,
      existing,
      changes: existing ? diffDeployment(existing, input, defaultQueue) : [],
      createsQueue,
      warnings,
    });
  }
  return {
    root,
    projectFile,
    build: projectFile?.project.build ?? [],
    push: projectFile?.project.push ?? [],
    deployments,
  };
}
