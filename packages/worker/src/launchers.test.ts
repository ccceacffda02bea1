import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowRun } from '@drover/schemas';
import { defaultBaseJobTemplate } from '@drover/schemas';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildJobConfiguration } from './jobConfiguration.js';
import { DockerLauncher, dockerRunArgs, envFileContent } from './launchers/docker.js';
import { jobManifest, KubernetesLauncher, secretManifest } from './launchers/kubernetes.js';
import type { JobSpec } from './launchers/launcher.js';
import { ProcessLauncher } from './launchers/process.js';

// No Docker engine or cluster runs here: these tests check the exact commands and manifests a
// worker sends, and drive fake `docker` / `kubectl` programs that record what they were given.
const run = {
  id: '0190f3a0-0000-7000-8000-00000000abcd',
  name: 'brave-otter',
  flowName: 'etl',
  deploymentName: 'nightly',
} as FlowRun;
const droverEnv = { DROVER_API_URL: 'http://drover:4200', DROVER_FLOW_RUN_ID: run.id };
const API_KEY = 'sk-live-0123456789abcdef';
const CLAIM_TOKEN = 'claim-token-0123456789abcdef';
const secretEnv = { DROVER_API_KEY: API_KEY, DROVER_CLAIM_TOKEN: CLAIM_TOKEN };
const spec = (type: 'docker' | 'kubernetes' | 'process', deploymentVars: Record<string, unknown>): JobSpec => ({
  run,
  configuration: { ...buildJobConfiguration(defaultBaseJobTemplate(type), deploymentVars, {}, 'test'), name: run.name },
  droverEnv,
  secretEnv,
  onOutput: () => {},
});
/** Whether `text` shows a secret of the job. */
const leaks = (text: string) => text.includes(API_KEY) || text.includes(CLAIM_TOKEN);

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
  it('builds the exact docker run invocation from the template, with no environment on it', () => {
    const args = dockerRunArgs(
      spec('docker', {
        image: 'acme/flows:1.2',
        env: { MODE: 'prod' },
        networks: ['backend'],
        volumes: ['/data:/data:ro'],
        memLimit: '512m',
        // A job variable cannot make the container pass for another run's: Drover's label wins.
        labels: { team: 'data', 'drover.io/flow-run-id': 'another-run' },
      }),
      '/tmp/drover-env-x/env',
    );
    expect(args).toEqual([
      'run',
      '--name=drover-brave-otter-0000abcd',
      '--rm',
      '--pull=missing',
      '--env-file=/tmp/drover-env-x/env',
      '--label=team=data',
      `--label=drover.io/flow-run-id=${run.id}`,
      '--label=drover.io/flow-run-name=brave-otter',
      '--label=drover.io/flow-name=etl',
      '--label=drover.io/deployment-name=nightly',
      '--network=backend',
      '--volume=/data:/data:ro',
      '--memory=512m',
      '--',
      'acme/flows:1.2',
      'node',
      'node_modules/@drover/client/dist/engineMain.js',
    ]);
  });

  it('writes the environment, secrets included, as an env file', () => {
    expect(envFileContent(spec('docker', { env: { MODE: 'prod', EMPTY: null } }))).toBe(
      `MODE=prod\nDROVER_API_URL=http://drover:4200\nDROVER_FLOW_RUN_ID=${run.id}\nDROVER_API_KEY=${API_KEY}\nDROVER_CLAIM_TOKEN=${CLAIM_TOKEN}\n`,
    );
    expect(() => envFileContent(spec('docker', { env: { NOTE: 'one\nDROVER_API_URL=http://evil' } }))).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message:
          'Invalid job variable "env.NOTE" for run brave-otter of etl/nightly: its value has a line break, which a docker environment file cannot carry; rename it or put the value on one line',
      }),
    );
  });

  it.each([
    ['image', { image: '--privileged' }, '--privileged', 'an image reference'],
    ['networks[1]', { networks: ['backend', '--network=host'] }, '--network=host', 'a network name'],
    ['volumes[0]', { volumes: ['-v/:/host'] }, '-v/:/host', 'a volume'],
    ['memLimit', { memLimit: '--privileged' }, '--privileged', 'a memory limit'],
  ])('refuses %s when the command line would read it as an option', (field, variables, value, what) => {
    expect(() => dockerRunArgs(spec('docker', { image: 'acme/flows:1.2', ...variables }), '/tmp/env')).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message: `Invalid job variable "${field}" for run brave-otter of etl/nightly: "${value}" starts with "-", which the command line would read as an option, not as ${what}; set "${field}" to a value that does not start with "-"`,
      }),
    );
  });

  it('says so when no Docker engine answers, before starting anything', async () => {
    fake('docker', 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    await expect(new DockerLauncher().launch(spec('docker', {}))).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_ERROR',
      message:
        "Cannot start a docker job: no Docker engine answers (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker on the worker's machine or use a process pool",
    });
  });

  it('runs the container attached with a private env file, reports its exit, and stops only the container labelled with the run', async () => {
    fake(
      'docker',
      `echo "$@" >> ${bin}/calls
case "$1" in
  version) echo 28.0.0 ;;
  run) for a in "$@"; do case "$a" in --env-file=*) f="\${a#--env-file=}"; echo "$f" > ${bin}/envpath; cp "$f" ${bin}/envfile; stat -c %a "$f" > ${bin}/envmode ;; esac; done
       echo "job output"; exit 3 ;;
  inspect) echo "c0ffee1234 ${run.id}" ;;
esac`,
    );
    const lines: string[] = [];
    const job = await new DockerLauncher().launch({ ...spec('docker', {}), onOutput: (_s, line) => lines.push(line) });
    expect(job.infrastructureId).toBe('docker:drover-brave-otter-0000abcd');
    expect(await job.exited).toEqual({ code: 3, signal: null });
    expect(lines).toEqual(['job output']);
    expect(readFileSync(join(bin, 'envfile'), 'utf8')).toBe(envFileContent(spec('docker', {})));
    expect(readFileSync(join(bin, 'envmode'), 'utf8').trim()).toBe('600');
    // Kept while docker run runs (nothing says when the CLI has read it), removed once it exits.
    expect(existsSync(readFileSync(join(bin, 'envpath'), 'utf8').trim())).toBe(false);
    await job.stop(5000);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls[0]).toBe('version --format {{.Server.Version}}');
    expect(calls[1]).toMatch(/^run --name=drover-brave-otter-0000abcd --rm --pull=missing --env-file=\/\S+\/env --label=/);
    expect(calls.slice(2)).toEqual([
      'inspect --type=container --format={{.Id}} {{index .Config.Labels "drover.io/flow-run-id"}} -- drover-brave-otter-0000abcd',
      'stop --time=5 -- c0ffee1234',
    ]);
    expect(calls.filter(leaks)).toEqual([]);
  });

  it('stops by infrastructure id only a container whose label names the run', async () => {
    fake(
      'docker',
      `echo "$@" >> ${bin}/calls
case "$*" in
  *" -- mine") echo "aaa111 ${run.id}" ;;
  *" -- stranger") echo "bbb222 " ;;
  *" -- other-run") echo "ccc333 0190f3a0-0000-7000-8000-000000000001" ;;
  inspect*) echo "Error: No such object: gone" >&2; exit 1 ;;
esac`,
    );
    const launcher = new DockerLauncher();
    expect(await launcher.stopById('docker:stranger', run.id, 1000)).toEqual({
      outcome: 'absent',
      reason: 'container stranger is not a job of this run (its drover.io/flow-run-id label is "")',
    });
    expect(await launcher.stopById('docker:other-run', run.id, 1000)).toEqual({
      outcome: 'absent',
      reason: 'container other-run is not a job of this run (its drover.io/flow-run-id label is "0190f3a0-0000-7000-8000-000000000001")',
    });
    expect(await launcher.stopById('docker:gone', run.id, 1000)).toEqual({ outcome: 'absent', reason: 'no container gone exists' });
    expect(await launcher.stopById('docker:--all', run.id, 1000)).toEqual({ outcome: 'absent', reason: '"--all" is not a container name' });
    expect(await launcher.stopById('process:host:1', run.id, 1000)).toEqual({ outcome: 'skipped' });
    expect(await launcher.stopById('docker:mine', run.id, 1000)).toEqual({ outcome: 'stopped' });
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls.filter((c) => c.startsWith('stop'))).toEqual(['stop --time=1 -- aaa111']);
  });
});

describe('kubernetes', () => {
  const SECRET = 'drover-run-secret-x';
  it("renders the exact batch/v1 Job manifest, with the secrets as references to the run's Secret", () => {
    const manifest = jobManifest(spec('kubernetes', { image: 'acme/flows:1.2', namespace: 'flows', env: { MODE: 'prod' }, finishedJobTtl: 600 }), SECRET);
    expect(manifest).toEqual({
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
                  { name: 'DROVER_API_KEY', valueFrom: { secretKeyRef: { name: SECRET, key: 'DROVER_API_KEY' } } },
                  { name: 'DROVER_CLAIM_TOKEN', valueFrom: { secretKeyRef: { name: SECRET, key: 'DROVER_CLAIM_TOKEN' } } },
                ],
                args: ['node', 'node_modules/@drover/client/dist/engineMain.js'],
              },
            ],
          },
        },
      },
    });
    expect(leaks(JSON.stringify(manifest))).toBe(false);
  });

  it('renders the Secret the Job owns, so Kubernetes deletes it with the Job', () => {
    expect(secretManifest(spec('kubernetes', {}), SECRET, 'flows', { name: 'brave-otter-x7k2p', uid: 'uid-1' })).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: SECRET,
        namespace: 'flows',
        labels: { 'drover.io/flow-run-id': run.id },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'brave-otter-x7k2p', uid: 'uid-1' }],
      },
      stringData: { DROVER_API_KEY: API_KEY, DROVER_CLAIM_TOKEN: CLAIM_TOKEN },
    });
  });

  it('refuses a namespace that is not a Kubernetes name (an option, a path)', () => {
    expect(() => jobManifest(spec('kubernetes', { image: 'x', namespace: '--all-namespaces' }), SECRET)).toThrow(
      expect.objectContaining({
        code: 'JOB_VARIABLES_INVALID',
        message:
          'Invalid job variable "namespace" for run brave-otter of etl/nightly: "--all-namespaces" is not a Kubernetes namespace name (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit); set "namespace" to such a name',
      }),
    );
  });

  it('creates the job and its Secret with kubectl, watches it to the end, and deletes it to stop it; no secret on a command line or in the Job', async () => {
    fake(
      'kubectl',
      `echo "$@" >> ${bin}/calls
case "$1 $2" in
  "create --filename=-") cat > ${bin}/stdin; if grep -q '"kind":"Secret"' ${bin}/stdin; then mv ${bin}/stdin ${bin}/secret.json; echo secret/x; else mv ${bin}/stdin ${bin}/manifest.json; printf 'brave-otter-x7k2p 5f0c-uid'; fi ;;
  "get job") n=$(cat ${bin}/polls 2>/dev/null || echo 0); echo $((n+1)) > ${bin}/polls; if [ "$n" -ge 1 ]; then printf '1 '; else printf ' '; fi ;;
  "get pods") printf Running ;;
  "delete job") echo job.batch/brave-otter-x7k2p ;;
esac`,
    );
    const lines: string[] = [];
    const job = await new KubernetesLauncher(10).launch({ ...spec('kubernetes', { image: 'acme/flows:1.2' }), onOutput: (_s, l) => lines.push(l) });
    expect(job.infrastructureId).toBe('kubernetes:default/brave-otter-x7k2p');
    expect(await job.exited).toEqual({ code: 0, signal: null });
    expect(lines).toEqual(['Pod phase: Running']);
    const secret = JSON.parse(readFileSync(join(bin, 'secret.json'), 'utf8'));
    expect(secret.metadata.name).toMatch(new RegExp(`^drover-${run.id}-[0-9a-f]{8}$`));
    expect(secret).toEqual(secretManifest(spec('kubernetes', {}), secret.metadata.name, 'default', { name: 'brave-otter-x7k2p', uid: '5f0c-uid' }));
    const manifestText = readFileSync(join(bin, 'manifest.json'), 'utf8');
    expect(JSON.parse(manifestText)).toEqual(jobManifest(spec('kubernetes', { image: 'acme/flows:1.2' }), secret.metadata.name));
    expect(leaks(manifestText)).toBe(false);
    await job.stop(30_000);
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls).toEqual([
      'create --filename=- --output=jsonpath={.metadata.name} {.metadata.uid}',
      'create --filename=- --output=name',
      'get job brave-otter-x7k2p --namespace default --output jsonpath={.status.succeeded} {.status.failed}',
      'get pods --namespace default --selector job-name=brave-otter-x7k2p --output jsonpath={.items[0].status.phase}',
      'get job brave-otter-x7k2p --namespace default --output jsonpath={.status.succeeded} {.status.failed}',
      `delete job --namespace=default --selector=drover.io/flow-run-id=${run.id} --field-selector=metadata.name=brave-otter-x7k2p --grace-period=30 --wait=false --output=name`,
    ]);
    expect(calls.filter(leaks)).toEqual([]);
  });

  it('deletes the job when its Secret cannot be created, and says what permission is missing', async () => {
    fake(
      'kubectl',
      `echo "$@" >> ${bin}/calls
case "$1 $2" in
  "create --filename=-") if grep -q '"kind":"Secret"'; then echo 'Error from server (Forbidden): secrets is forbidden: User "drover" cannot create resource "secrets"' >&2; exit 1; else printf 'brave-otter-x7k2p 5f0c-uid'; fi ;;
  "delete job") echo job.batch/brave-otter-x7k2p ;;
esac`,
    );
    await expect(new KubernetesLauncher(10).launch(spec('kubernetes', { image: 'x' }))).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_ERROR',
      message: expect.stringMatching(
        /^Cannot create Secret drover-\S+ for Kubernetes job default\/brave-otter-x7k2p \(the job was deleted\): Error from server \(Forbidden\): secrets is forbidden: User "drover" cannot create resource "secrets"; the worker's kubeconfig needs permission to create secrets in namespace "default"$/,
      ),
    });
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls.at(-1)).toBe(
      `delete job --namespace=default --selector=drover.io/flow-run-id=${run.id} --field-selector=metadata.name=brave-otter-x7k2p --grace-period=0 --wait=false --output=name`,
    );
  });

  it('deletes a job whose pod is still pending after podWatchTimeoutSeconds', async () => {
    fake(
      'kubectl',
      `echo "$@" >> ${bin}/calls
case "$1 $2" in
  "create --filename=-") cat > /dev/null; printf 'brave-otter-x7k2p 5f0c-uid' ;;
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
    expect(calls.at(-1)).toBe(
      `delete job --namespace=default --selector=drover.io/flow-run-id=${run.id} --field-selector=metadata.name=brave-otter-x7k2p --grace-period=0 --wait=false --output=name`,
    );
  });

  it("stops by infrastructure id only a job that carries the run's label", async () => {
    // Deletes select by name and label at once: kubectl answers nothing when the job lacks the label.
    fake('kubectl', `echo "$@" >> ${bin}/calls; case "$*" in *"metadata.name=mine "*) echo job.batch/mine ;; esac`);
    const launcher = new KubernetesLauncher(10);
    expect(await launcher.stopById('kubernetes:flows/stranger', run.id, 2000)).toEqual({
      outcome: 'absent',
      reason: `no Kubernetes job flows/stranger carries the label drover.io/flow-run-id=${run.id}`,
    });
    expect(await launcher.stopById('kubernetes:flows/--all', run.id, 2000)).toEqual({
      outcome: 'absent',
      reason: 'it is not kubernetes:<namespace>/<job name>',
    });
    expect(await launcher.stopById('docker:mine', run.id, 2000)).toEqual({ outcome: 'skipped' });
    expect(await launcher.stopById('kubernetes:flows/mine', run.id, 2000)).toEqual({ outcome: 'stopped' });
    expect(readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n')).toEqual([
      `delete job --namespace=flows --selector=drover.io/flow-run-id=${run.id} --field-selector=metadata.name=stranger --grace-period=2 --wait=false --output=name`,
      `delete job --namespace=flows --selector=drover.io/flow-run-id=${run.id} --field-selector=metadata.name=mine --grace-period=2 --wait=false --output=name`,
    ]);
  });

  it('says what went wrong when the job cannot be created', async () => {
    fake('kubectl', 'echo "error: You must be logged in to the server (Unauthorized)" >&2; exit 1');
    await expect(new KubernetesLauncher().launch(spec('kubernetes', { image: 'x' }))).rejects.toMatchObject({
      code: 'INFRASTRUCTURE_ERROR',
      message: "Cannot create the Kubernetes job: error: You must be logged in to the server (Unauthorized); check the worker's kubeconfig and cluster",
    });
  });
});

describe('process', () => {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const startTime = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
  };
  const alive = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
    } catch {
      return false;
    }
  };

  it('records the pid with its start time and boot id, and stops by id only a process of the run', async () => {
    const job = await new ProcessLauncher().launch(spec('process', { command: 'exec sleep 30' }));
    const pid = Number(job.infrastructureId.split(':')[2]);
    expect(job.infrastructureId).toBe(`process:${hostname()}:${pid}:${startTime(pid)}:${bootId}`);
    const launcher = new ProcessLauncher();
    expect(await launcher.stopById(job.infrastructureId, '0190f3a0-0000-7000-8000-000000000001', 1000)).toEqual({
      outcome: 'absent',
      reason: `process ${pid} is not a job of this run (its environment has no DROVER_FLOW_RUN_ID=0190f3a0-0000-7000-8000-000000000001)`,
    });
    expect(alive(pid)).toBe(true);
    // The secrets reach the job through its environment, never its command line (which ps shows).
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toEqual(
      expect.arrayContaining([`DROVER_API_KEY=${API_KEY}`, `DROVER_CLAIM_TOKEN=${CLAIM_TOKEN}`]),
    );
    expect(leaks(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))).toBe(false);
    expect(await launcher.stopById(job.infrastructureId, run.id, 1000)).toEqual({ outcome: 'stopped' });
    expect(await job.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('never signals a process whose pid an infrastructure id names but cannot prove', async () => {
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(stranger, 'spawn');
    const pid = stranger.pid as number;
    try {
      const launcher = new ProcessLauncher();
      const host = hostname();
      const cases: [string, string][] = [
        [`process:${host}:${pid}:${startTime(pid)}:${bootId}`, `process ${pid} is not a job of this run (its environment has no DROVER_FLOW_RUN_ID=${run.id})`],
        [`process:${host}:${pid}:1:${bootId}`, `pid ${pid} is another process now (it started at tick ${startTime(pid)}, the job at tick 1)`],
        [
          `process:${host}:${pid}:${startTime(pid)}:00000000-0000-0000-0000-000000000000`,
          `the machine has restarted since the job started (boot 00000000-0000-0000-0000-000000000000, now ${bootId})`,
        ],
        [`process:${host}:${pid}`, 'it is not process:<host>:<pid>:<start time>:<boot id>, so nothing proves which process it names'],
        [`process:${host}:-1:1:${bootId}`, 'it is not process:<host>:<pid>:<start time>:<boot id>, so nothing proves which process it names'],
      ];
      for (const [id, reason] of cases) expect(await launcher.stopById(id, run.id, 1000)).toEqual({ outcome: 'absent', reason });
      expect(await launcher.stopById(`process:elsewhere:${pid}:${startTime(pid)}:${bootId}`, run.id, 1000)).toEqual({ outcome: 'skipped' });
      expect(alive(pid)).toBe(true);
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('says the working directory does not exist, not that node is missing', async () => {
    await expect(new ProcessLauncher().launch(spec('process', { workingDir: '/nonexistent/drover-project' }))).rejects.toMatchObject({
      code: 'JOB_VARIABLES_INVALID',
      message: `The working directory "/nonexistent/drover-project" of run brave-otter of etl/nightly does not exist on worker host ${hostname()}: create it there, or set the "workingDir" job variable of the deployment or pool to a folder that exists`,
    });
  });
});
