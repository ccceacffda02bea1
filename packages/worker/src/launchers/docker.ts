import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '@drover/schemas';
import {
  CONTAINER_ENGINE_COMMAND,
  commandLineValue,
  configuredCommand,
  describeRun,
  forwardLines,
  type Job,
  type JobExit,
  type JobSpec,
  jobEnv,
  jobLabels,
  type Launcher,
  RUN_ID_LABEL,
  runCommand,
  type StopOutcome,
} from './launcher.js';

const PREFIX = 'docker:';
const PULL_POLICY: Record<string, string> = { IfNotPresent: 'missing', Always: 'always', Never: 'never' };

/** A container name Docker accepts, unique per run. */
export function containerName(spec: JobSpec): string {
  const base = typeof spec.configuration.name === 'string' && spec.configuration.name ? spec.configuration.name : spec.run.name;
  return `drover-${base}-${spec.run.id.slice(-8)}`.replaceAll(/[^a-zA-Z0-9_.-]/g, '-');
}

/** Docker's own rule for container names. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The exact `docker run` arguments for a job: attached, so the worker streams its output and sees
 * its exit. Every option value is written `--option=value` and the image follows `--`, so no job
 * variable is read as an option; the environment comes from `envFile`, never from the command
 * line, which `ps` shows to every user of the machine.
 */
export function dockerRunArgs(spec: JobSpec, envFile: string): string[] {
  const c = spec.configuration;
  const image = c.image;
  if (typeof image !== 'string' || image === '') {
    throw new DroverError('JOB_VARIABLES_INVALID', `A docker job needs an image: set the "image" job variable on the deployment or the pool`, {});
  }
  return [
    'run',
    `--name=${containerName(spec)}`,
    ...(c.autoRemove === false ? [] : ['--rm']),
    `--pull=${PULL_POLICY[String(c.imagePullPolicy)] ?? 'missing'}`,
    `--env-file=${envFile}`,
    ...Object.entries(jobLabels(spec)).map(([k, v]) => `--label=${k}=${v}`),
    ...((c.networks ?? []) as string[]).map((n, i) => `--network=${commandLineValue(spec, `networks[${i}]`, n, 'a network name')}`),
    ...((c.volumes ?? []) as string[]).map((v, i) => `--volume=${commandLineValue(spec, `volumes[${i}]`, v, 'a volume')}`),
    ...(typeof c.memLimit === 'string' && c.memLimit ? [`--memory=${commandLineValue(spec, 'memLimit', c.memLimit, 'a memory limit')}`] : []),
    '--',
    commandLineValue(spec, 'image', image, 'an image reference'),
    ...(configuredCommand(c) ?? CONTAINER_ENGINE_COMMAND),
  ];
}

/**
 * The job's environment, secrets included, as `docker run --env-file` reads it: one `NAME=value`
 * a line, taken as written (no quotes, no escapes), so a name with `=` or a blank, or a value
 * with a line break, cannot be carried and is refused rather than cut.
 */
export function envFileContent(spec: JobSpec): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries({ ...jobEnv(spec), ...spec.secretEnv })) {
    const bad = !/^[^=\s]+$/.test(name) ? `the name "${name}" is empty or has "=" or a blank` : /[\r\n]/.test(value) ? 'its value has a line break' : null;
    if (bad) {
      throw new DroverError(
        'JOB_VARIABLES_INVALID',
        `Invalid job variable "env.${name}" for ${describeRun(spec.run)}: ${bad}, which a docker environment file cannot carry; rename it or put the value on one line`,
        { field: `env.${name}`, flowRunId: spec.run.id },
      );
    }
    lines.push(`${name}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Stops container `name` only if its `drover.io/flow-run-id` label is `flowRunId`: the name comes
 * from the run's infrastructure id, and no one else's container is the worker's to stop. It is
 * stopped by the id the check saw, so a container created under that name meanwhile is not.
 */
async function stopContainer(name: string, flowRunId: string, graceMs: number): Promise<StopOutcome> {
  if (!CONTAINER_NAME.test(name)) return { outcome: 'absent', reason: `"${name}" is not a container name` };
  const found = await runCommand('docker', ['inspect', '--type=container', `--format={{.Id}} {{index .Config.Labels "${RUN_ID_LABEL}"}}`, '--', name]);
  if (found.code !== 0) {
    if (/no such (container|object)/i.test(found.stderr)) return { outcome: 'absent', reason: `no container ${name} exists` };
    const reason = found.code === 'ENOENT' ? 'the docker command is not installed' : found.stderr.trim().split('\n')[0];
    return { outcome: 'skipped', reason: `cannot inspect container ${name}: ${reason}` };
  }
  const answer = found.stdout.trim();
  const space = answer.indexOf(' ');
  const [id, given] = space < 0 ? [answer, ''] : [answer.slice(0, space), answer.slice(space + 1)];
  // A container without the label: Docker's template prints `<no value>` for a missing key.
  const label = given === '<no value>' ? '' : given;
  if (label !== flowRunId) return { outcome: 'absent', reason: `container ${name} is not a job of this run (its ${RUN_ID_LABEL} label is "${label}")` };
  await runCommand('docker', ['stop', `--time=${Math.ceil(graceMs / 1000)}`, '--', id]);
  return { outcome: 'stopped' };
}

/** Runs each job as a Docker container through the `docker` CLI. Needs a Docker engine. */
export class DockerLauncher implements Launcher {
  async launch(spec: JobSpec): Promise<Job> {
    const content = envFileContent(spec);
    const name = containerName(spec);
    const check = await runCommand('docker', ['version', '--format', '{{.Server.Version}}']);
    if (check.code !== 0) {
      const reason = check.code === 'ENOENT' ? 'the docker command is not installed' : `no Docker engine answers (${check.stderr.trim().split('\n')[0]})`;
      throw new DroverError('INFRASTRUCTURE_ERROR', `Cannot start a docker job: ${reason}; start Docker on the worker's machine or use a process pool`, {});
    }
    // The environment file lives until `docker run` exits, not just until the container starts:
    // the CLI reads it before it creates the container, but nothing tells the worker when, and a
    // file removed too early starts the engine without its API key. It is the worker user's alone
    // (a 0700 folder, a 0600 file) and holds nothing that user cannot read already.
    const folder = mkdtempSync(join(tmpdir(), 'drover-env-'));
    const envFile = join(folder, 'env');
    try {
      writeFileSync(envFile, content, { mode: 0o600 });
      const child = spawn('docker', dockerRunArgs(spec, envFile), { stdio: ['ignore', 'pipe', 'pipe'] });
      forwardLines(child, spec.onOutput);
      const exited = new Promise<JobExit>((resolve) =>
        child.once('close', (code, signal) => {
          rmSync(folder, { recursive: true, force: true });
          resolve({ code, signal });
        }),
      );
      return { infrastructureId: `${PREFIX}${name}`, exited, stop: (graceMs) => stopContainer(name, spec.run.id, graceMs).then(() => {}) };
    } catch (error) {
      rmSync(folder, { recursive: true, force: true });
      throw error;
    }
  }

  async stopById(infrastructureId: string, flowRunId: string, graceMs: number): Promise<StopOutcome> {
    if (!infrastructureId.startsWith(PREFIX)) return { outcome: 'skipped' };
    return stopContainer(infrastructureId.slice(PREFIX.length), flowRunId, graceMs);
  }
}
