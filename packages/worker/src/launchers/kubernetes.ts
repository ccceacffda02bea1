import { DroverError } from '@drover/schemas';
import { CONTAINER_ENGINE_COMMAND, configuredCommand, type Job, type JobExit, type JobSpec, jobEnv, jobLabels, type Launcher, runCommand } from './launcher.js';

const PREFIX = 'kubernetes:';

type Manifest = {
  metadata?: { generateName?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Record<string, unknown>[] } } };
};

/** Labels must be at most 63 characters of [A-Za-z0-9_.-]. */
const labelValue = (value: string) => value.replaceAll(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

/**
 * The exact `batch/v1` Job manifest for a job: the pool's rendered `jobManifest`, with the
 * engine's environment as container env, the command as args, and Drover's labels.
 */
export function jobManifest(spec: JobSpec): Manifest & Record<string, unknown> {
  const manifest = structuredClone(spec.configuration.jobManifest ?? {}) as Manifest & Record<string, unknown>;
  const namespace = typeof spec.configuration.namespace === 'string' ? spec.configuration.namespace : 'default';
  const labels = Object.fromEntries(Object.entries(jobLabels(spec)).map(([k, v]) => [k, labelValue(v)]));
  const generateName = `${labelValue(String(spec.configuration.name ?? spec.run.name)).toLowerCase()}-`;
  manifest.metadata = { ...manifest.metadata, generateName, namespace, labels: { ...manifest.metadata?.labels, ...labels } };
  manifest.spec ??= {};
  const template = manifest.spec.template ?? {};
  manifest.spec.template = { ...template, metadata: { ...template.metadata, labels: { ...template.metadata?.labels, ...labels } } };
  const containers = template.spec?.containers ?? [];
  if (containers.length === 0) throw new DroverError('JOB_VARIABLES_INVALID', 'The job manifest has no container to run the flow in', {});
  const env = Object.entries(jobEnv(spec)).map(([name, value]) => ({ name, value }));
  const [first, ...others] = containers;
  manifest.spec.template.spec = { ...template.spec, containers: [{ ...first, env, args: configuredCommand(spec.configuration) ?? CONTAINER_ENGINE_COMMAND }, ...others] };
  return manifest;
}

function splitId(infrastructureId: string): { namespace: string; job: string } {
  const [namespace = 'default', job = ''] = infrastructureId.slice(PREFIX.length).split('/');
  return { namespace, job };
}

async function deleteJob(infrastructureId: string, graceMs: number): Promise<void> {
  const { namespace, job } = splitId(infrastructureId);
  await runCommand('kubectl', ['delete', 'job', job, '--namespace', namespace, `--grace-period=${Math.ceil(graceMs / 1000)}`, '--wait=false']);
}

/**
 * Runs each job as a Kubernetes Job through `kubectl` (using the worker's kubeconfig): creates it
 * from the rendered manifest, then watches it until it succeeds or fails. The engine in the pod
 * sends its logs to the API itself.
 */
export class KubernetesLauncher implements Launcher {
  constructor(private readonly pollMs = 2000) {}

  async launch(spec: JobSpec): Promise<Job> {
    const manifest = jobManifest(spec);
    const created = await runCommand('kubectl', ['create', '--filename', '-', '--output', 'name'], JSON.stringify(manifest));
    if (created.code !== 0) {
      const reason = created.code === 'ENOENT' ? 'the kubectl command is not installed' : created.stderr.trim().split('\n')[0];
      throw new DroverError('INFRASTRUCTURE_ERROR', `Cannot create the Kubernetes job: ${reason}; check the worker's kubeconfig and cluster`, {});
    }
    const job = created.stdout.trim().replace(/^job(\.batch)?\//, '');
    const namespace = manifest.metadata?.namespace ?? 'default';
    const infrastructureId = `${PREFIX}${namespace}/${job}`;
    const exited = this.#watch(namespace, job, spec);
    return { infrastructureId, exited, stop: (graceMs) => deleteJob(infrastructureId, graceMs) };
  }

  /**
   * Polls the job's status until it has succeeded or failed (or was deleted). A pod that has not
   * left Pending within `podWatchTimeoutSeconds` would hold the worker's slot forever: its job is
   * deleted and the run ends as a failed start.
   */
  async #watch(namespace: string, job: string, spec: JobSpec): Promise<JobExit> {
    const timeoutSeconds = typeof spec.configuration.podWatchTimeoutSeconds === 'number' ? spec.configuration.podWatchTimeoutSeconds : 60;
    const startBy = performance.now() + timeoutSeconds * 1000;
    let phase = '';
    for (;;) {
      const status = await runCommand('kubectl', ['get', 'job', job, '--namespace', namespace, '--output', 'jsonpath={.status.succeeded} {.status.failed}']);
      if (status.code !== 0) {
        spec.onOutput('stderr', `Kubernetes job ${namespace}/${job} is gone: ${status.stderr.trim()}`);
        return { code: 1, signal: null };
      }
      const [succeeded, failed] = status.stdout.trim().split(' ');
      if (Number(succeeded) > 0) return { code: 0, signal: null };
      if (Number(failed) > 0) return { code: 1, signal: null };
      const pod = await runCommand('kubectl', ['get', 'pods', '--namespace', namespace, '--selector', `job-name=${job}`, '--output', 'jsonpath={.items[0].status.phase}']);
      if (pod.code === 0 && pod.stdout.trim() !== phase) {
        phase = pod.stdout.trim();
        if (phase) spec.onOutput('stdout', `Pod phase: ${phase}`);
      }
      if ((phase === '' || phase === 'Pending') && performance.now() > startBy) {
        spec.onOutput('stderr', `The pod of Kubernetes job ${namespace}/${job} did not start within ${timeoutSeconds} s (phase: ${phase || 'none yet'}); deleting the job`);
        await deleteJob(`${PREFIX}${namespace}/${job}`, 0);
        return { code: 1, signal: null };
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }

  async stopById(infrastructureId: string, graceMs: number): Promise<boolean> {
    if (!infrastructureId.startsWith(PREFIX)) return false;
    await deleteJob(infrastructureId, graceMs);
    return true;
  }
}
