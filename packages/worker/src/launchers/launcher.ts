import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { droverErrorOf, type FlowRun } from '@drover/schemas';

/** What a launcher needs to start one run's job. */
export interface JobSpec {
  readonly run: FlowRun;
  /** The pool's job configuration, rendered for this run. */
  readonly configuration: Record<string, unknown>;
  /** Environment the engine needs (API URL, run id), added over the configuration's `env`. */
  readonly droverEnv: Record<string, string>;
  /**
   * Environment the engine needs that is secret (API key, claim token): added over `droverEnv`,
   * and never put on a command line or in clear in a manifest (`ps` and the cluster show both).
   */
  readonly secretEnv: Record<string, string>;
  /** The deployment's entrypoint (`path/to/file.ts:flow`), for a launcher that prepares for it (a TypeScript one gets engines with tsx loaded). */
  readonly entrypoint?: string;
  /** Each line the job prints. */
  readonly onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface JobExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** What a launcher may prepare for before a run of it comes. */
export type PreparedJob = Pick<JobSpec, 'configuration' | 'droverEnv' | 'secretEnv' | 'entrypoint'>;

/** A started job. */
export interface Job {
  /** Where the job lives (`process:host:pid:startTime:bootId`, `docker:name`, `kubernetes:ns/name`), stored on the run. */
  readonly infrastructureId: string;
  readonly exited: Promise<JobExit>;
  /** Asks the job to stop (SIGTERM or the platform's equivalent), forcing it after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/**
 * What `stopById` did. `stopped`: the id named a job of the run, now asked to stop. `absent`: it
 * names no job of the run (gone, or something else the worker must not touch), and nothing was
 * signalled; `reason` says which. `skipped`: not this launcher's to judge (another platform or
 * host), or the platform did not answer; `reason` says why when there is one worth telling.
 */
export type StopOutcome =
  | { readonly outcome: 'stopped' }
  | { readonly outcome: 'absent'; readonly reason: string }
  | { readonly outcome: 'skipped'; readonly reason?: string };

/** Starts jobs on one kind of infrastructure, and stops jobs it (or another worker) started. */
export interface Launcher {
  launch(spec: JobSpec): Promise<Job>;
  /**
   * Stops the job of run `flowRunId` known only by its infrastructure id (after a worker
   * restart). The id is data anyone could have written: the launcher first proves it names a
   * job this run launched (a process's start time and environment, a container's or Job's
   * `drover.io/flow-run-id` label) and otherwise touches nothing.
   */
  stopById(infrastructureId: string, flowRunId: string, graceMs: number): Promise<StopOutcome>;
  /**
   * Gets ready for jobs of these configurations, most likely first, before their runs come (the
   * process launcher starts warm engines of their shapes).
   */
  prepare?(specs: readonly PreparedJob[]): void;
  /** Ends what the launcher keeps besides jobs (warm engines), when the worker stops. */
  close?(): Promise<void>;
}

/** How messages name the run a job is for: `run brave-otter of etl/nightly`. */
export function describeRun(run: FlowRun): string {
  return `run ${run.name} of ${run.flowName}${run.deploymentName ? `/${run.deploymentName}` : ''}`;
}

/**
 * A job variable's value as a command line will carry it. A value starting with `-` would be
 * read as an option (`--privileged` as an image gives the container the host), so it is refused.
 */
export function commandLineValue(spec: JobSpec, field: string, value: string, what: string): string {
  if (value.startsWith('-')) {
    throw droverErrorOf(
      'JOB_VARIABLES_INVALID',
      `Invalid job variable "${field}" for ${describeRun(spec.run)}: "${value}" starts with "-", which the command line would read as an option, not as ${what}; set "${field}" to a value that does not start with "-"`,
      { field, value, flowRunId: spec.run.id },
    );
  }
  return value;
}

/** The job's environment (secrets aside): the configuration's `env` (null values dropped) under Drover's own. */
export function jobEnv(spec: JobSpec): Record<string, string> {
  const configured = (spec.configuration.env ?? {}) as Record<string, string | null>;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(configured)) if (value !== null && value !== undefined) env[key] = String(value);
  return { ...env, ...spec.droverEnv };
}

/** The label that proves which run a container or Kubernetes Job was launched for. */
export const RUN_ID_LABEL = 'drover.io/flow-run-id';

/**
 * The job's labels: the configuration's, under Drover's. Drover's win: a worker stops only what
 * carries the run's id label, so a job variable must not be able to claim another run's.
 */
export function jobLabels(spec: JobSpec): Record<string, string> {
  return {
    ...((spec.configuration.labels ?? {}) as Record<string, string>),
    [RUN_ID_LABEL]: spec.run.id,
    'drover.io/flow-run-name': spec.run.name,
    'drover.io/flow-name': spec.run.flowName,
    ...(spec.run.deploymentName ? { 'drover.io/deployment-name': spec.run.deploymentName } : {}),
  };
}

/**
 * What a container (docker or Kubernetes) runs when the configuration gives no `command`: the
 * SDK's engine by its path under `node_modules`, relative to the image's working directory, with
 * the image's `node`. Not `npx drover-engine`: an image needs neither npm nor a registry to start
 * a run (a base made without a registry has only `node` and `/bin/sh`). Images that `deploy()`
 * builds have the project, node_modules included, in their WORKDIR; a Dockerfile of your own needs
 * the same, or a `command` job variable that starts the engine.
 */
export const CONTAINER_ENGINE_COMMAND: readonly string[] = ['node', 'node_modules/@drover/client/dist/engineMain.js'];

/** The configured command as argv (through the shell, as it is written), or undefined for the default. */
export function configuredCommand(configuration: Record<string, unknown>): string[] | undefined {
  const command = configuration.command;
  return typeof command === 'string' && command.trim() !== '' ? ['/bin/sh', '-c', command] : undefined;
}

/** Calls `onOutput` for each line the job writes (readline joins lines split across chunks, and gives the last one without its newline). */
export function forwardLines(child: ChildProcess, onOutput: JobSpec['onOutput']): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const input = child[stream];
    if (input) createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => onOutput(stream, line));
  }
}

/** Runs a CLI to completion; resolves with its exit code and output (never rejects). */
export function runCommand(command: string, args: readonly string[], input?: string): Promise<{ code: number | 'ENOENT'; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code === 'ENOENT' ? 'ENOENT' : 1, stdout, stderr: stderr || error.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (input !== undefined) {
      child.stdin?.on('error', () => {}); // a program that exits without reading its input is reported by its exit code
      child.stdin?.end(input);
    }
  });
}
