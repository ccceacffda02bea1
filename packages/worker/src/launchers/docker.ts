import { spawn } from 'node:child_process';
import { DroverError } from '@drover/schemas';
import {
  CONTAINER_ENGINE_COMMAND,
  configuredCommand,
  forwardLines,
  type Job,
  type JobExit,
  type JobSpec,
  jobEnv,
  jobLabels,
  type Launcher,
  runCommand,
} from './launcher.js';

const PREFIX = 'docker:';
const PULL_POLICY: Record<string, string> = { IfNotPresent: 'missing', Always: 'always', Never: 'never' };

/** A container name Docker accepts, unique per run. */
export function containerName(spec: JobSpec): string {
  const base = typeof spec.configuration.name === 'string' && spec.configuration.name ? spec.configuration.name : spec.run.name;
  return `drover-${base}-${spec.run.id.slice(-8)}`.replaceAll(/[^a-zA-Z0-9_.-]/g, '-');
}

/** The exact `docker run` arguments for a job: attached, so the worker streams its output and sees its exit. */
export function dockerRunArgs(spec: JobSpec): string[] {
  const c = spec.configuration;
  const image = c.image;
  if (typeof image !== 'string' || image === '') {
    throw new DroverError('JOB_VARIABLES_INVALID', `A docker job needs an image: set the "image" job variable on the deployment or the pool`, {});
  }
  return [
    'run',
    '--name',
    containerName(spec),
    ...(c.autoRemove === false ? [] : ['--rm']),
    '--pull',
    PULL_POLICY[String(c.imagePullPolicy)] ?? 'missing',
    ...Object.entries(jobEnv(spec)).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    ...Object.entries(jobLabels(spec)).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...((c.networks ?? []) as string[]).flatMap((n) => ['--network', n]),
    ...((c.volumes ?? []) as string[]).flatMap((v) => ['--volume', v]),
    ...(typeof c.memLimit === 'string' && c.memLimit ? ['--memory', c.memLimit] : []),
    image,
    ...(configuredCommand(c) ?? CONTAINER_ENGINE_COMMAND),
  ];
}

async function stopContainer(name: string, graceMs: number): Promise<void> {
  await runCommand('docker', ['stop', '--time', String(Math.ceil(graceMs / 1000)), name]);
}

/** Runs each job as a Docker container through the `docker` CLI. Needs a Docker engine. */
export class DockerLauncher implements Launcher {
  async launch(spec: JobSpec): Promise<Job> {
    const args = dockerRunArgs(spec);
    const name = containerName(spec);
    const check = await runCommand('docker', ['version', '--format', '{{.Server.Version}}']);
    if (check.code !== 0) {
      const reason = check.code === 'ENOENT' ? 'the docker command is not installed' : `no Docker engine answers (${check.stderr.trim().split('\n')[0]})`;
      throw new DroverError('INFRASTRUCTURE_ERROR', `Cannot start a docker job: ${reason}; start Docker on the worker's machine or use a process pool`, {});
    }
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    forwardLines(child, spec.onOutput);
    const exited = new Promise<JobExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    return { infrastructureId: `${PREFIX}${name}`, exited, stop: (graceMs) => stopContainer(name, graceMs) };
  }

  async stopById(infrastructureId: string, graceMs: number): Promise<boolean> {
    if (!infrastructureId.startsWith(PREFIX)) return false;
    await stopContainer(infrastructureId.slice(PREFIX.length), graceMs);
    return true;
  }
}
