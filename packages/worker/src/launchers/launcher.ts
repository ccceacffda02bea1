import { type ChildProcess, spawn } from 'node:child_process';
import type { FlowRun } from '@drover/schemas';

/** What a launcher needs to start one run's job. */
export interface JobSpec {
  readonly run: FlowRun;
  /** The pool's job configuration, rendered for this run. */
  readonly configuration: Record<string, unknown>;
  /** Environment the engine needs (API URL, key, run id), added over the configuration's `env`. */
  readonly droverEnv: Record<string, string>;
  /** Each line the job prints. */
  readonly onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface JobExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A started job. */
export interface Job {
  /** Where the job lives (`process:host:pid`, `docker:name`, `kubernetes:ns/name`), stored on the run. */
  readonly infrastructureId: string;
  readonly exited: Promise<JobExit>;
  /** Asks the job to stop (SIGTERM or the platform's equivalent), forcing it after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** Starts jobs on one kind of infrastructure, and stops jobs it (or another worker) started. */
export interface Launcher {
  launch(spec: JobSpec): Promise<Job>;
  /** Stops a job known only by its infrastructure id (after a worker restart); false when it is not this launcher's to stop. */
  stopById(infrastructureId: string, graceMs: number): Promise<boolean>;
}

/** The job's environment: the configuration's `env` (null values dropped) under Drover's own. */
export function jobEnv(spec: JobSpec): Record<string, string> {
  const configured = (spec.configuration.env ?? {}) as Record<string, string | null>;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(configured)) if (value !== null && value !== undefined) env[key] = String(value);
  return { ...env, ...spec.droverEnv };
}

/** The job's labels: Drover's, under the configuration's (a user's label wins). */
export function jobLabels(spec: JobSpec): Record<string, string> {
  return {
    'drover.io/flow-run-id': spec.run.id,
    'drover.io/flow-run-name': spec.run.name,
    'drover.io/flow-name': spec.run.flowName,
    ...(spec.run.deploymentName ? { 'drover.io/deployment-name': spec.run.deploymentName } : {}),
    ...((spec.configuration.labels ?? {}) as Record<string, string>),
  };
}

/** The command a container runs when the configuration gives none: the engine installed with the project. */
export const CONTAINER_ENGINE_COMMAND = ['npx', '--no-install', 'drover-engine'];

/** The configured command as argv (through the shell, as it is written), or undefined for the default. */
export function configuredCommand(configuration: Record<string, unknown>): string[] | undefined {
  const command = configuration.command;
  return typeof command === 'string' && command.trim() !== '' ? ['/bin/sh', '-c', command] : undefined;
}

/** Calls `onLine` for each complete line a stream writes. */
export function forwardLines(child: ChildProcess, onOutput: JobSpec['onOutput']): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    let rest = '';
    child[stream]?.setEncoding('utf8');
    child[stream]?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) onOutput(stream, line);
    });
    child[stream]?.on('end', () => {
      if (rest) onOutput(stream, rest);
    });
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
