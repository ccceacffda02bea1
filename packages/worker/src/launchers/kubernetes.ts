import { randomBytes } from 'node:crypto';
import { droverErrorOf } from '@drover/schemas';
import {
  CONTAINER_ENGINE_COMMAND,
  configuredCommand,
  describeRun,
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

const PREFIX = 'kubernetes:';
/** Namespaces and the Job names Kubernetes generates are DNS-1123 labels: never an option, never a path. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

type Manifest = {
  metadata?: { generateName?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Record<string, unknown>[] } } };
};

/** Labels must be at most 63 characters of [A-Za-z0-9_.-]. */
const labelValue = (value: string) =>
  value
    .replaceAll(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

/**
 * The exact `batch/v1` Job manifest for a job: the pool's rendered `jobManifest`, with the
 * engine's environment as container env, the command as args, and Drover's labels. The secret
 * environment (API key, claim token) is no value in it but a reference to the Secret
 * `secretName`, which the worker creates beside the Job: a Job's spec is readable by everyone who
 * may list jobs, and stays in the cluster's records.
 */
export function jobManifest(spec: JobSpec, secretName: string): Manifest & Record<string, unknown> {
  const manifest = structuredClone(spec.configuration.jobManifest ?? {}) as Manifest & Record<string, unknown>;
  const namespace = typeof spec.configuration.namespace === 'string' ? spec.configuration.namespace : 'default';
  if (!DNS_LABEL.test(namespace)) {
    throw droverErrorOf(
      'JOB_VARIABLES_INVALID',
      `Invalid job variable "namespace" for ${describeRun(spec.run)}: "${namespace}" is not a Kubernetes namespace name (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit); set "namespace" to such a name`,
      { field: 'namespace', value: namespace, flowRunId: spec.run.id },
    );
  }
  const labels = Object.fromEntries(Object.entries(jobLabels(spec)).map(([k, v]) => [k, labelValue(v)]));
  const generateName = `${labelValue(String(spec.configuration.name ?? spec.run.name)).toLowerCase()}-`;
  manifest.metadata = { ...manifest.metadata, generateName, namespace, labels: { ...manifest.metadata?.labels, ...labels } };
  manifest.spec ??= {};
  const template = manifest.spec.template ?? {};
  manifest.spec.template = { ...template, metadata: { ...template.metadata, labels: { ...template.metadata?.labels, ...labels } } };
  const containers = template.spec?.containers ?? [];
  if (containers.length === 0) throw droverErrorOf('JOB_VARIABLES_INVALID', 'The job manifest has no container to run the flow in', {});
  const env = [
    // A secret's name set in `env` too is the Secret's alone, as the other launchers' secrets override `env`.
    ...Object.entries(jobEnv(spec))
      .filter(([name]) => !Object.hasOwn(spec.secretEnv, name))
      .map(([name, value]) => ({ name, value })),
    ...Object.keys(spec.secretEnv).map((name) => ({ name, valueFrom: { secretKeyRef: { name: secretName, key: name } } })),
  ];
  const [first, ...others] = containers;
  manifest.spec.template.spec = {
    ...template.spec,
    containers: [{ ...first, env, args: configuredCommand(spec.configuration) ?? CONTAINER_ENGINE_COMMAND }, ...others],
  };
  return manifest;
}

/**
 * The Secret that holds a job's secret environment. Its owner is the Job, so Kubernetes deletes it
 * with the Job (when the run is cancelled, or `finishedJobTtl` ends); it carries the run's label
 * so an operator can find it.
 */
export function secretManifest(spec: JobSpec, secretName: string, namespace: string, owner: { name: string; uid: string }): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: secretName,
      namespace,
      labels: { [RUN_ID_LABEL]: labelValue(spec.run.id) },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: owner.name, uid: owner.uid }],
    },
    stringData: spec.secretEnv,
  };
}

/**
 * Deletes Job `job` only if it carries the run's `drover.io/flow-run-id` label: one kubectl call
 * that selects by both the name and the label, so a Job the run did not launch is never deleted.
 */
async function deleteJob(namespace: string, job: string, flowRunId: string, graceMs: number): Promise<StopOutcome> {
  const deleted = await runCommand('kubectl', [
    'delete',
    'job',
    `--namespace=${namespace}`,
    `--selector=${RUN_ID_LABEL}=${labelValue(flowRunId)}`,
    `--field-selector=metadata.name=${job}`,
    `--grace-period=${Math.ceil(graceMs / 1000)}`,
    '--wait=false',
    '--output=name',
  ]);
  if (deleted.code !== 0) {
    const reason = deleted.code === 'ENOENT' ? 'the kubectl command is not installed' : deleted.stderr.trim().split('\n')[0];
    return { outcome: 'skipped', reason: `cannot delete Kubernetes job ${namespace}/${job}: ${reason}` };
  }
  if (deleted.stdout.trim() === '')
    return { outcome: 'absent', reason: `no Kubernetes job ${namespace}/${job} carries the label ${RUN_ID_LABEL}=${flowRunId}` };
  return { outcome: 'stopped' };
}

/**
 * Runs each job as a Kubernetes Job through `kubectl` (using the worker's kubeconfig): creates it
 * from the rendered manifest, then watches it until it succeeds or fails. The engine in the pod
 * sends its logs to the API itself.
 */
export class KubernetesLauncher implements Launcher {
  constructor(private readonly pollMs = 2000) {}

  /**
   * Creates the Job, then its Secret owned by it (an owner reference needs the Job's uid). A pod
   * that starts before its Secret exists waits for it: the kubelet retries a missing secretKeyRef.
   */
  async launch(spec: JobSpec): Promise<Job> {
    const secretName = `drover-${spec.run.id}-${randomBytes(4).toString('hex')}`;
    const manifest = jobManifest(spec, secretName);
    const namespace = manifest.metadata?.namespace ?? 'default';
    const created = await runCommand('kubectl', ['create', '--filename=-', '--output=jsonpath={.metadata.name} {.metadata.uid}'], JSON.stringify(manifest));
    if (created.code !== 0) {
      const reason = created.code === 'ENOENT' ? 'the kubectl command is not installed' : created.stderr.trim().split('\n')[0];
      throw droverErrorOf('INFRASTRUCTURE_ERROR', `Cannot create the Kubernetes job: ${reason}; check the worker's kubeconfig and cluster`, {});
    }
    const [job = '', uid = ''] = created.stdout.trim().split(' ');
    if (!DNS_LABEL.test(job) || uid === '') {
      throw droverErrorOf(
        'INFRASTRUCTURE_ERROR',
        `kubectl create answered "${created.stdout.trim()}", not a Job's name and uid; check the worker's kubectl`,
        {},
      );
    }
    const secret = await runCommand(
      'kubectl',
      ['create', '--filename=-', '--output=name'],
      JSON.stringify(secretManifest(spec, secretName, namespace, { name: job, uid })),
    );
    if (secret.code !== 0) {
      await deleteJob(namespace, job, spec.run.id, 0);
      throw droverErrorOf(
        'INFRASTRUCTURE_ERROR',
        `Cannot create Secret ${secretName} for Kubernetes job ${namespace}/${job} (the job was deleted): ${secret.stderr.trim().split('\n')[0]}; the worker's kubeconfig needs permission to create secrets in namespace "${namespace}"`,
        {},
      );
    }
    const exited = this.#watch(namespace, job, spec);
    return { infrastructureId: `${PREFIX}${namespace}/${job}`, exited, stop: (graceMs) => deleteJob(namespace, job, spec.run.id, graceMs).then(() => {}) };
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
      const pod = await runCommand('kubectl', [
        'get',
        'pods',
        '--namespace',
        namespace,
        '--selector',
        `job-name=${job}`,
        '--output',
        'jsonpath={.items[0].status.phase}',
      ]);
      if (pod.code === 0 && pod.stdout.trim() !== phase) {
        phase = pod.stdout.trim();
        if (phase) spec.onOutput('stdout', `Pod phase: ${phase}`);
      }
      if ((phase === '' || phase === 'Pending') && performance.now() > startBy) {
        spec.onOutput(
          'stderr',
          `The pod of Kubernetes job ${namespace}/${job} did not start within ${timeoutSeconds} s (phase: ${phase || 'none yet'}); deleting the job`,
        );
        await deleteJob(namespace, job, spec.run.id, 0);
        return { code: 1, signal: null };
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }

  async stopById(infrastructureId: string, flowRunId: string, graceMs: number): Promise<StopOutcome> {
    if (!infrastructureId.startsWith(PREFIX)) return { outcome: 'skipped' };
    const [namespace = '', job = '', ...rest] = infrastructureId.slice(PREFIX.length).split('/');
    if (!DNS_LABEL.test(namespace) || !DNS_LABEL.test(job) || rest.length > 0) {
      return { outcome: 'absent', reason: 'it is not kubernetes:<namespace>/<job name>' };
    }
    return deleteJob(namespace, job, flowRunId, graceMs);
  }
}
