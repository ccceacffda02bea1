import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import {
  type ConcurrencyOptions,
  type DeploymentCreate,
  DeploymentImage,
  type DeploymentImageInput,
  type DeploymentScheduleCreate,
  DroverError,
  defaultBaseJobTemplate,
  describeIssues,
  droverErrorOf,
  type PullStep,
  RunError,
  type ScheduleInput,
  toIssues,
  type WorkPool,
} from '@drover/schemas';
import type { DroverClient } from './api.js';
import { getClient } from './api.js';
import { type AnyFlow, isFlow } from './flow.js';
import { exportNameAt, importModule, loadFlow, parseEntrypoint } from './loadFlow.js';
import type { ServeOptions } from './runner.js';
import { serve } from './runner.js';

/** A schedule as given to `deploy()`: a schedule (`{ cron }`, `{ interval }`, `{ rrule }`) with optional options. */
export type ScheduleSpec = ScheduleInput & Partial<Omit<DeploymentScheduleCreate, 'schedule'>>;

export interface DeploymentOptions {
  /** The deployment's name; the flow's name when absent. */
  readonly name?: string;
  readonly schedule?: ScheduleSpec;
  readonly schedules?: readonly ScheduleSpec[];
  readonly parameters?: Record<string, unknown>;
  readonly tags?: readonly string[];
  readonly description?: string;
  readonly version?: string;
  readonly workPoolName?: string;
  readonly workQueueName?: string;
  readonly jobVariables?: Record<string, unknown>;
  /** Check run parameters against the flow's schema on the server (default true). */
  readonly enforceParameterSchema?: boolean;
  readonly concurrencyLimit?: number;
  readonly concurrencyOptions?: ConcurrencyOptions;
  readonly paused?: boolean;
  /** How its runs are named (a template, see `flow()`'s `flowRunName`); the flow's when absent. */
  readonly flowRunName?: string;
  /** `path/to/file.ts:exportName` relative to the project root; computed from the flow when absent. */
  readonly entrypoint?: string;
  /**
   * What a worker's job does before loading the entrypoint. Default: `set_working_directory` to
   * the project root, so a process worker on this machine runs the code from where it was
   * deployed (as Prefect and `drover deploy` do); none when `deploy()` is given an image.
   */
  readonly pullSteps?: readonly PullStep[];
}

const SCHEDULE_OPTION_KEYS = ['active', 'slug', 'parameters', 'maxScheduledRuns', 'catchup', 'maxLateSeconds'] as const;

/** Splits a schedule spec into the schedule and its options. */
export function toScheduleCreate(spec: ScheduleSpec): DeploymentScheduleCreate {
  const schedule: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    if ((SCHEDULE_OPTION_KEYS as readonly string[]).includes(key)) options[key] = value;
    else schedule[key] = value;
  }
  return { schedule: schedule as ScheduleInput, ...options };
}

/** The folder a project's entrypoints are relative to: the nearest with drover.yaml, else package.json. */
export function findProjectRoot(from: string): string {
  for (const marker of ['drover.yaml', 'package.json']) {
    for (let dir = resolve(from); ; dir = dirname(dir)) {
      if (existsSync(join(dir, marker))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return resolve(from);
}

/** The project root of the file that defined the flow, or of the current folder. */
function projectRootOf(flow: AnyFlow): string {
  return findProjectRoot(flow.definedIn ? dirname(flow.definedIn) : process.cwd());
}

/**
 * `file:export` for a flow. Its export name is read from the source at the `flow()` call (see
 * `exportNameAt`), which works while the defining file is still evaluating: the file that defines
 * a flow and deploys it at its top level. When the call stack gave the file but no position in it
 * (tsx runs a `.ts` file of a CommonJS package as compiled code), the file is imported and
 * searched instead: CommonJS has no top-level await, so such a file has finished evaluating.
 */
async function entrypointOf(flow: AnyFlow): Promise<string> {
  const file = flow.definedIn;
  if (!file) {
    throw new RunError('FLOW_LOAD_ERROR', `Cannot tell which file defines flow "${flow.name}": pass entrypoint: "path/to/file.ts:exportName"`, {});
  }
  const exportName = flow.definedAt
    ? exportNameAt(file, flow.definedAt)
    : Object.entries(await importModule(file)).find(([, value]) => isFlow(value) && value.name === flow.name)?.[0];
  if (!exportName) {
    const where = flow.definedAt ? `${file}:${flow.definedAt.line}` : file;
    throw new RunError(
      'FLOW_LOAD_ERROR',
      `Flow "${flow.name}" is defined at ${where} but not exported from there: export it (\`export const name = flow(…)\` or \`export { name }\`) so workers can load it, or pass entrypoint: "path/to/file.ts:exportName"`,
      { file },
    );
  }
  return `${relative(projectRootOf(flow), file)}:${exportName}`;
}

/**
 * A deployment of a flow, built in code: `RunnerDeployment.fromFlow(flow, options)` then
 * `.deploy()` to a work pool or `.serve()` from this process.
 */
export class RunnerDeployment<F extends AnyFlow = AnyFlow> {
  readonly name: string;
  readonly flow: F;
  readonly options: DeploymentOptions;

  constructor(flow: F, options: DeploymentOptions = {}) {
    this.flow = flow;
    this.name = options.name ?? flow.name;
    this.options = options;
  }

  /** Keeps the flow's type, so `runDeployment(deployment, { parameters })` checks the parameters. */
  static fromFlow<F extends AnyFlow>(flow: F, options: DeploymentOptions = {}): RunnerDeployment<F> {
    return new RunnerDeployment(flow, options);
  }

  /**
   * A deployment of the flow that `entrypoint` (`path/to/file.ts:exportName`, relative to the
   * project root: the folder of the nearest package.json) exports, without importing it yourself:
   * it is loaded here to read its name and parameter schema.
   *
   * @example
   * const etl = await RunnerDeployment.fromEntrypoint('flows/etl.ts:etl', { workPoolName: 'local' });
   * await etl.deploy();
   */
  static async fromEntrypoint(entrypoint: string, options: DeploymentOptions = {}): Promise<RunnerDeployment> {
    const root = findProjectRoot(process.cwd());
    const { path, exportName } = parseEntrypoint(entrypoint);
    const flow = await loadFlow(entrypoint, root);
    return new RunnerDeployment(flow, { ...options, entrypoint: `${relative(root, resolve(root, path))}:${exportName}` });
  }

  /** `flow-name/deployment-name`. */
  get fullName(): string {
    return `${this.flow.name}/${this.name}`;
  }

  /** The API input that creates or updates this deployment. */
  async toCreate(overrides: Partial<DeploymentOptions> = {}): Promise<DeploymentCreate> {
    const o = { ...this.options, ...overrides };
    const schedules = [...(o.schedule ? [o.schedule] : []), ...(o.schedules ?? [])].map(toScheduleCreate);
    return {
      flowName: this.flow.name,
      name: this.name,
      entrypoint: o.entrypoint ?? (await entrypointOf(this.flow)),
      schedules,
      parameters: o.parameters ?? {},
      parameterSchema: this.flow.parameterSchema(),
      enforceParameterSchema: o.enforceParameterSchema ?? true,
      tags: [...(o.tags ?? [])],
      description: o.description ?? this.flow.options.description ?? null,
      version: o.version ?? this.flow.options.version ?? null,
      workPoolName: o.workPoolName ?? null,
      workQueueName: o.workQueueName ?? null,
      jobVariables: o.jobVariables ?? {},
      concurrencyLimit: o.concurrencyLimit ?? null,
      concurrencyOptions: o.concurrencyOptions,
      paused: o.paused ?? false,
      flowRunName: o.flowRunName ?? this.flow.options.flowRunName ?? null,
      pullSteps: [...(o.pullSteps ?? [{ set_working_directory: { directory: projectRootOf(this.flow) } }])],
    };
  }

  /** Creates or updates the deployment on the server; returns its id. */
  async deploy(options: { workPoolName?: string; image?: string | DeploymentImageInput; client?: DroverClient } = {}): Promise<string> {
    const [deployed] = await deploy(this, {
      workPoolName: options.workPoolName ?? this.options.workPoolName,
      image: options.image,
      build: false,
      push: false,
      printNextSteps: false,
      client: options.client,
    });
    return (deployed as DeployedDeployment).id;
  }

  /** Serves this deployment from this process (see `serve()`). */
  serve(options: ServeOptions = {}) {
    return serve(this, options);
  }
}

export interface DeployOptions extends Omit<DeploymentOptions, 'name'> {
  /** Deployment name for every flow given (each flow's own name when absent). */
  readonly name?: string;
  readonly workPoolName?: string;
  readonly image?: string | DeploymentImageInput;
  /** Build the image with `docker build` (default true when an image is given). */
  readonly build?: boolean;
  /** Push the image with `docker push` (default true when an image is given). */
  readonly push?: boolean;
  readonly printNextSteps?: boolean;
  readonly ignoreWarnings?: boolean;
  /** The client to deploy with; `getClient()` when absent. */
  readonly client?: DroverClient;
  /** Where messages go (default: stdout/stderr). */
  readonly print?: (line: string) => void;
  readonly warn?: (line: string) => void;
}

export interface DeployedDeployment extends RunnerDeployment {
  readonly id: string;
}

/** The image reference `name:tag`. */
export function imageRef(image: DeploymentImage): string {
  return image.tag ? `${image.name}:${image.tag}` : image.name;
}

/**
 * The Dockerfile `deploy()` writes when none is given. Its base is the build argument
 * `DROVER_BASE_IMAGE` (default `node:20-slim`), so a machine with no registry builds from a base
 * of its own: `image: { name, buildArgs: { DROVER_BASE_IMAGE: 'my-node:20' } }`. The base needs
 * `node` and `/bin/sh`, and `npm` only when the project has a package.json to install. A docker
 * pool's job runs `node node_modules/@drover/client/dist/engineMain.js` in the WORKDIR.
 */
const AUTO_DOCKERFILE = `ARG DROVER_BASE_IMAGE=node:20-slim
FROM \${DROVER_BASE_IMAGE}
WORKDIR /opt/drover/project
COPY . .
RUN if [ -f package-lock.json ]; then npm ci --omit=dev; elif [ -f package.json ]; then npm install --omit=dev; fi
`;

/** Runs docker with `args`; a missing client or engine is DOCKER_UNAVAILABLE with the way around it. */
export async function docker(args: readonly string[], cwd: string): Promise<void> {
  const output: string[] = [];
  const code = await new Promise<number | 'ENOENT'>((resolveCode) => {
    const child = spawn('docker', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => output.push(String(chunk)));
    child.stderr.on('data', (chunk) => output.push(String(chunk)));
    child.on('error', (error: NodeJS.ErrnoException) => resolveCode(error.code === 'ENOENT' ? 'ENOENT' : 1));
    child.on('close', (status) => resolveCode(status ?? 1));
  });
  if (code === 0) return;
  const text = output.join('').trim();
  const hint = 'deploy without building: pass build: false and push: false with an image that already exists, or use a process work pool';
  if (code === 'ENOENT')
    throw new DroverError('DOCKER_UNAVAILABLE', `\`docker ${args[0]}\` failed: the docker command is not installed here; ${hint}`, { args });
  if (/Cannot connect to the Docker daemon|docker daemon is not running|error during connect/i.test(text)) {
    throw new DroverError('DOCKER_UNAVAILABLE', `\`docker ${args[0]}\` failed: no Docker engine is running here (${text.split('\n')[0]}); ${hint}`, { args });
  }
  throw new DroverError('DOCKER_UNAVAILABLE', `\`docker ${args.join(' ')}\` exited with ${code}: ${text.split('\n').slice(-3).join(' ')}`, { args });
}

/** Builds (writing a Dockerfile when none is given) and pushes an image, as `deploy()` asks. */
export async function buildAndPushImage(image: DeploymentImage, options: { build: boolean; push: boolean; root: string }): Promise<void> {
  const ref = imageRef(image);
  if (options.build) {
    const generated = image.dockerfile === 'auto';
    const dockerfile = generated ? join(options.root, 'Dockerfile.drover') : resolve(options.root, image.dockerfile);
    if (generated) writeFileSync(dockerfile, AUTO_DOCKERFILE);
    try {
      const buildArgs = Object.entries(image.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
      await docker(['build', '--tag', ref, '--file', dockerfile, ...buildArgs, '.'], options.root);
    } finally {
      if (generated) rmSync(dockerfile, { force: true });
    }
  }
  if (options.push) await docker(['push', ref], options.root);
}

/**
 * Refuses, before anything is saved, deployments that no worker could ever run: one with no work
 * pool (only `serve()` runs those, in its own process), and one on a docker or kubernetes pool
 * with no image holding its code (from `deploy()`, its job variables, or a default image the
 * pool's operator put in its template).
 */
function refuseWhatWouldNeverRun(inputs: readonly DeploymentCreate[], pools: readonly WorkPool[]): void {
  for (const input of inputs) {
    const fullName = `${input.flowName}/${input.name}`;
    if (!input.workPoolName) {
      throw droverErrorOf(
        'VALIDATION_ERROR',
        `deploy() needs a work pool for ${fullName}: pass { workPoolName: 'local' } (create one with \`drover work-pool create local --type process\`), or run it in this process with serve(RunnerDeployment.fromFlow(flow))`,
        { deployment: fullName },
      );
    }
    const pool = pools.find((p) => p.name === input.workPoolName);
    if (!pool || pool.type === 'process' || input.jobVariables?.image !== undefined) continue;
    // Drover's own default (a bare Node image) holds no code; an operator's default image may.
    const imageOf = (template: { variables: { properties: unknown } }) =>
      (template.variables.properties as Record<string, { default?: unknown }>).image?.default;
    const templateImage = imageOf(pool.baseJobTemplate);
    if (!templateImage || templateImage === imageOf(defaultBaseJobTemplate(pool.type))) {
      throw droverErrorOf(
        'VALIDATION_ERROR',
        `Work pool "${pool.name}" is a ${pool.type} pool, whose jobs run an image, and ${fullName} has none: pass { image: 'registry/name:tag' } to deploy() (build: true builds it here), or set the image job variable`,
        { deployment: fullName, workPoolName: pool.name },
      );
    }
  }
}

/**
 * Deploys flows (or RunnerDeployments) to a work pool: optionally builds and pushes an image,
 * creates or updates each deployment, prints warnings (unless ignored) and the next steps.
 *
 * @example
 * await deploy(etl, report, { workPoolName: 'local', schedule: { cron: '0 2 * * *', timezone: 'Europe/London' } });
 */
export async function deploy(...args: [...(AnyFlow | RunnerDeployment)[], DeployOptions]): Promise<DeployedDeployment[]> {
  const options = args.at(-1) as DeployOptions;
  const items = args.slice(0, -1) as (AnyFlow | RunnerDeployment)[];
  if (items.length === 0) throw new DroverError('VALIDATION_ERROR', 'deploy() needs at least one flow or RunnerDeployment before its options', {});
  const client = options.client ?? getClient();
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const warn = options.ignoreWarnings ? () => {} : (options.warn ?? ((line: string) => process.stderr.write(`Warning: ${line}\n`)));
  const { name, image: imageOption, build, push, printNextSteps = true, ignoreWarnings: _i, client: _c, print: _p, warn: _w, ...shared } = options;
  const deployments = items.map((item) => (isFlow(item) ? new RunnerDeployment(item, { ...shared, name }) : item));
  const image = imageOption === undefined ? undefined : DeploymentImage.parse(typeof imageOption === 'string' ? splitImage(imageOption) : imageOption);

  // `workPoolName` given here is every deployment's; otherwise each keeps its own.
  const poolOf = (deployment: RunnerDeployment) => options.workPoolName ?? deployment.options.workPoolName;
  const poolNames = [...new Set(deployments.map(poolOf).filter((pool): pool is string => pool !== undefined))];
  const pools = await Promise.all(poolNames.map((pool) => client.workPools.read(pool)));
  if (image) {
    for (const pool of pools)
      if (pool.type === 'process') warn(`work pool "${pool.name}" is a process pool, which runs no images; the image ${imageRef(image)} is not used`);
  }
  if (image && (build ?? true)) {
    await buildAndPushImage(image, { build: build ?? true, push: push ?? true, root: findProjectRoot(process.cwd()) });
  } else if (image && (push ?? false)) {
    await buildAndPushImage(image, { build: false, push: true, root: findProjectRoot(process.cwd()) });
  }

  const inputs = await Promise.all(
    deployments.map(async (deployment) => {
      // An image carries the code: no local working directory to go to, unless pull steps say so.
      const pullSteps = shared.pullSteps ?? deployment.options.pullSteps ?? (image ? [] : undefined);
      const input = await deployment.toCreate({ ...shared, workPoolName: poolOf(deployment), pullSteps });
      // A process pool runs no image (the warning above says so), and has no image variable to set.
      const runsImages = pools.find((pool) => pool.name === input.workPoolName)?.type !== 'process';
      if (image && runsImages) input.jobVariables = { ...input.jobVariables, image: imageRef(image) };
      const checked = deployment.flow.options.parameters?.safeParse(input.parameters);
      if (checked?.error) {
        warn(
          `the default parameters of ${deployment.fullName} do not match the flow's schema (${describeIssues(toIssues(checked.error))}); runs must supply the rest`,
        );
      }
      return input;
    }),
  );
  refuseWhatWouldNeverRun(inputs, pools);
  // One transaction: a deployment the server refuses leaves none of the others half-deployed.
  const saved = await client.deployments.upsertMany(inputs);
  const deployed: DeployedDeployment[] = [];
  for (const [i, deployment] of deployments.entries()) {
    const { deployment: stored, created } = saved[i] as (typeof saved)[number];
    if (stored.schedules.length > 0) {
      const preview = await client.deployments.schedulePreview({ deployment: stored.id, count: 1 });
      preview.forEach((p, j) => {
        if (p.times.length === 0) warn(`schedule ${j} of ${deployment.fullName} never fires again`);
      });
    }
    print(`${created ? 'Created' : 'Updated'} deployment ${deployment.fullName} (${stored.id})`);
    deployed.push(Object.assign(deployment, { id: stored.id }));
  }
  if (printNextSteps) {
    for (const pool of poolNames) print(`\nTo start a worker for pool "${pool}":\n  drover worker start --pool ${pool}`);
    print(`\nTo run ${deployed.length > 1 ? 'them' : 'it'} now:\n${deployed.map((d) => `  drover deployment run '${d.fullName}'`).join('\n')}`);
  }
  return deployed;
}

function splitImage(ref: string): { name: string; tag?: string } {
  const match = /^(.*?)(?::([\w][\w.-]{0,127}))?$/.exec(ref);
  const [, imageName = ref, tag] = match ?? [];
  return tag && !imageName.endsWith('/') ? { name: imageName, tag } : { name: ref };
}
