import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowRun } from '@drover/schemas';
import { defaultBaseJobTemplate } from '@drover/schemas';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildJobConfiguration } from './jobConfiguration.js';
import { DockerLauncher, dockerRunArgs } from './launchers/docker.js';
import { jobManifest, KubernetesLauncher } from './launchers/kubernetes.js';
import type { JobSpec } from './launchers/launcher.js';

// No Docker engine or cluster runs here: these tests check the exact commands and manifests a
// worker sends, and drive fake `docker` / `kubectl` programs that record what they were given.
const run = {
  id: '0190f3a0-0000-7000-8000-00000000abcd',
  name: 'brave-otter',
  flowName: 'etl',
  deploymentName: 'nightly',
} as FlowRun;
const droverEnv = { DROVER_API_URL: 'http://drover:4200', DROVER_FLOW_RUN_ID: run.id };
const spec = (type: 'docker' | 'kubernetes', deploymentVars: Record<string, unknown>): JobSpec => ({
  run,
  configuration: { ...buildJobConfiguration(defaultBaseJobTemplate(type), deploymentVars, {}, 'test'), name: run.name },
  droverEnv,
  onOutput: () => {},
});

let bin: string;
let savedPath: string | undefined;
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), 'drover-fake-bin-'));
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
  rmSync(bin, { recursive: true, force: true });
});
function fake(name: string, script: string): void {
  writeFileSync(join(bin, name), `#!/bin/sh\n${script}\n`);
  chmodSync(join(bin, name), 0o755);
}

describe('docker', () => {
  it('builds the exact docker run invocation from the template', () => {
    expect(
      dockerRunArgs(spec('docker', { image: 'acme/flows:1.2', env: { MODE: 'prod' }, networks: ['backend'], volumes: ['/data:/data:ro'], memLimit: '512m', labels: { team: 'data' } })),
    ).toEqual([
      'run',
      '--name',
      'drover-brave-otter-0000abcd',
      '--rm',
      '--pull',
      'missing',
      '--env',
      'MODE=prod',
      '--env',
      'DROVER_API_URL=http://drover:4200',
      '--env',
      `DROVER_FLOW_RUN_ID=${run.id}`,
      '--label',
      `drover.io/flow-run-id=${run.id}`,
      '--label',
      'drover.io/flow-run-name=brave-otter',
      '--label',
      'drover.io/flow-name=etl',
      '--label',
      'drover.io/deployment-name=nightly',
      '--label',
      'team=data',
      '--network',
      'backend',
      '--volume',
      '/data:/data:ro',
      '--memory',
      '512m',
      'acme/flows:1.2',
      'npx',
      '--no-install',
      'drover-engine',
    ]);
  });

  it('says so when no Docker engine answers, before starting anything', async () => {
    fake('docker', 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    await expect(new DockerLauncher().launch(spec('docker', {}))).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_ERROR',
      message:
        "Cannot start a docker job: no Docker engine answers (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker on the worker's machine or use a process pool",
    });
  });

  it('runs the container attached and reports its exit', async () => {
    fake('docker', `echo "$@" >> ${bin}/calls; [ "$1" = version ] && echo 28.0.0; [ "$1" = run ] && echo "job output" && exit 3; exit 0`);
    const lines: string[] = [];
    const job = await new DockerLauncher().launch({ ...spec('docker', {}), onOutput: (_s, line) => lines.push(line) });
    expect(job.infrastructureId).toBe('docker:drover-brave-otter-0000abcd');
    expect(await job.exited).toEqual({ code: 3, signal: null });
    expect(lines).toEqual(['job output']);
    await job.stop(5000);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls[0]).toBe('version --format {{.Server.Version}}');
    expect(calls[1]?.startsWith('run --name drover-brave-otter-0000abcd --rm --pull missing')).toBe(true);
    expect(calls[2]).toBe('stop --time 5 drover-brave-otter-0000abcd');
  });
});

describe('kubernetes', () => {
  it('renders the exact batch/v1 Job manifest', () => {
    expect(jobManifest(spec('kubernetes', { image: 'acme/flows:1.2', namespace: 'flows', env: { MODE: 'prod' }, finishedJobTtl: 600 }))).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        generateName: 'brave-otter-',
        namespace: 'flows',
        labels: {
          'drover.io/flow-run-id': run.id,
          'drover.io/flow-run-name': 'brave-otter',
          'drover.io/flow-name': 'etl',
          'drover.io/deployment-name': 'nightly',
        },
      },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 600,
        template: {
          metadata: {
            labels: {
              'drover.io/flow-run-id': run.id,
              'drover.io/flow-run-name': 'brave-otter',
              'drover.io/flow-name': 'etl',
              'drover.io/deployment-name': 'nightly',
            },
          },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'drover-job',
                image: 'acme/flows:1.2',
                imagePullPolicy: 'IfNotPresent',
                env: [
                  { name: 'MODE', value: 'prod' },
                  { name: 'DROVER_API_URL', value: 'http://drover:4200' },
                  { name: 'DROVER_FLOW_RUN_ID', value: run.id },
                ],
                args: ['npx', '--no-install', 'drover-engine'],
              },
            ],
          },
        },
      },
    });
  });

  it('creates the job with kubectl, watches it to the end, and deletes it to stop it', async () => {
    fake(
      'kubectl',
      `echo "$@" >> ${bin}/calls
case "$1 $2" in
  "create --filename") cat > ${bin}/manifest.json; echo job.batch/brave-otter-x7k2p ;;
  "get job") n=$(cat ${bin}/polls 2>/dev/null || echo 0); echo $((n+1)) > ${bin}/polls; if [ "$n" -ge 1 ]; then printf '1 '; else printf ' '; fi ;;
  "get pods") printf Running ;;
esac`,
    );
    const lines: string[] = [];
    const job = await new KubernetesLauncher(10).launch({ ...spec('kubernetes', { image: 'acme/flows:1.2' }), onOutput: (_s, l) => lines.push(l) });
    expect(job.infrastructureId).toBe('kubernetes:default/brave-otter-x7k2p');
    expect(await job.exited).toEqual({ code: 0, signal: null });
    expect(lines).toEqual(['Pod phase: Running']);
    expect(JSON.parse(readFileSync(join(bin, 'manifest.json'), 'utf8'))).toEqual(jobManifest(spec('kubernetes', { image: 'acme/flows:1.2' })));
    await job.stop(30_000);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls).toEqual([
      'create --filename - --output name',
      'get job brave-otter-x7k2p --namespace default --output jsonpath={.status.succeeded} {.status.failed}',
      'get pods --namespace default --selector job-name=brave-otter-x7k2p --output jsonpath={.items[0].status.phase}',
      'get job brave-otter-x7k2p --namespace default --output jsonpath={.status.succeeded} {.status.failed}',
      'delete job brave-otter-x7k2p --namespace default --grace-period=30 --wait=false',
    ]);
  });

  it('deletes a job whose pod is still pending after podWatchTimeoutSeconds', async () => {
    fake(
      'kubectl',
      `echo "$@" >> ${bin}/calls
case "$1 $2" in
  "create --filename") cat > /dev/null; echo job.batch/brave-otter-x7k2p ;;
  "get job") printf ' ' ;;
  "get pods") printf Pending ;;
esac`,
    );
    const lines: string[] = [];
    const job = await new KubernetesLauncher(10).launch({
      ...spec('kubernetes', { image: 'acme/missing:1', podWatchTimeoutSeconds: 0.05 }),
      onOutput: (_s, l) => lines.push(l),
    });
    expect(await job.exited).toEqual({ code: 1, signal: null });
    expect(lines).toEqual([
      'Pod phase: Pending',
      'The pod of Kubernetes job default/brave-otter-x7k2p did not start within 0.05 s (phase: Pending); deleting the job',
    ]);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls.at(-1)).toBe('delete job brave-otter-x7k2p --namespace default --grace-period=0 --wait=false');
  });

  it('says what went wrong when the job cannot be created', async () => {
    fake('kubectl', 'echo "error: You must be logged in to the server (Unauthorized)" >&2; exit 1');
    await expect(new KubernetesLauncher().launch(spec('kubernetes', { image: 'x' }))).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_ERROR',
      message: "Cannot create the Kubernetes job: error: You must be logged in to the server (Unauthorized); check the worker's kubeconfig and cluster",
    });
  });
});
