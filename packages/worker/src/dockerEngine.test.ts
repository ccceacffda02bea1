/**
 * The docker pool against a real Docker engine, through a real worker and a real server (with an
 * API key). scripts/docker.sh gets the engine (dockerd with no bridge: containers use the host's
 * network to reach the server on 127.0.0.1) and the base image drover-node-base:20, made from this
 * machine's node since no registry is reachable; scripts/test.sh runs it before the tests. Nothing
 * here skips: with no engine or base image, every test fails and says how to get them.
 *
 * The project is a folder under the OS temp folder: drover.yaml, flows.mjs, deploy.mjs and a
 * node_modules with @drover/client as built here and its run-time dependencies, copied from this
 * workspace's install (testFixtures/dockerProject.ts). deploy.mjs runs `deploy()` from that folder
 * under plain node, as a user would: it builds the image with the Dockerfile Drover writes, FROM
 * the local base through the DROVER_BASE_IMAGE build argument, and the deployments run it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverClient } from '@drover/client';
import type { ClaimedFlowRun, FlowRun } from '@drover/schemas';
import { type DroverServer, startServer } from '@drover/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_ENGINE_COMMAND, runCommand } from './launchers/launcher.js';
import { writeDockerProject } from './testFixtures/dockerProject.js';
import { allFinal, packageDir, working } from './testHelpers.js';

const BASE_IMAGE = process.env.DROVER_TEST_DOCKER_BASE_IMAGE || 'drover-node-base:20';
const IMAGE = `drover-test-project:${process.pid}-${Date.now().toString(36)}`;
const API_KEY = 'sk-docker-test-6f1d2c9a8b7e4d3c';
const POOL = 'local'; // the pool testWorkerMain.js serves
const GRACE_SECONDS = 2;

const FLOWS = `import { flow } from '@drover/client';
import { z } from 'zod';

export const hello = flow({ name: 'hello' }, async (_parameters, ctx) => {
  console.log(\`hello from \${ctx.flowRunName} in \${process.cwd()}\`);
  ctx.logger.warn('a warning');
  return { greeting: process.env.GREETING ?? null };
});

export const broken = flow({ name: 'broken' }, async () => {
  throw new Error('the flow broke');
});

export const sleepy = flow({ name: 'sleepy', parameters: z.object({ ms: z.number() }) }, ({ ms }, ctx) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(ms), ms);
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(ctx.signal.reason);
    });
  }),
);
`;

const DEPLOY = `import { deploy } from '@drover/client';
import { broken, hello, sleepy } from './flows.mjs';

const [name, tag] = process.env.IMAGE.split(':');
await deploy(hello, broken, sleepy, {
  workPoolName: '${POOL}',
  image: { name, tag, buildArgs: { DROVER_BASE_IMAGE: process.env.BASE_IMAGE } },
  push: false,
  printNextSteps: false,
  parameters: { ms: 60000 },
  // No bridge on this machine: the container shares the host's network to reach the server on 127.0.0.1.
  jobVariables: { networks: ['host'] },
});
`;

/** A command that ignores SIGTERM and runs for a minute (as PID 1 of its container). */
const IGNORES_SIGTERM = `exec node -e "process.on('SIGTERM', () => {}); setTimeout(() => {}, 60000)"`;

/** Runs docker; its output, or an error with its stderr. */
async function docker(...args: string[]): Promise<string> {
  const result = await runCommand('docker', args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** The containers, running or not, labelled with the run's id: `id state` lines. */
async function containersOf(runId: string): Promise<string[]> {
  const out = await docker('ps', '--all', `--filter=label=drover.io/flow-run-id=${runId}`, '--format={{.ID}} {{.State}}');
  return out ? out.split('\n') : [];
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, seconds = 30): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the run's container is running and the worker has recorded where; returns the container's name. */
async function runningContainer(client: DroverClient, run: FlowRun): Promise<string> {
  await until(`a running container of ${run.name}`, async () => (await containersOf(run.id)).some((c) => c.endsWith(' running')));
  const id = await until(`the infrastructure id of ${run.name}`, async () => (await client.flowRuns.read(run.id)).infrastructureId ?? undefined);
  return id.replace(/^docker:/, '');
}

const untilRunning = (client: DroverClient, run: FlowRun) =>
  until(`${run.name} RUNNING`, async () => (await client.flowRuns.read(run.id)).state.type === 'RUNNING');

const untilNoContainer = (run: FlowRun) => until(`no container left for ${run.name}`, async () => (await containersOf(run.id)).length === 0, 10);

let queues = 0;
/**
 * A queue of its own for a test's runs and workers. One server serves the whole file (the image is
 * built once), and a stopped worker's last long-poll has been seen to claim a run created after
 * the worker stopped (the run then stays PENDING): a worker of one test must not claim the next's.
 */
async function ownQueue(): Promise<string> {
  const name = `test-${++queues}`;
  await client.workQueues.create({ workPoolName: POOL, name });
  return name;
}

let server: DroverServer;
let client: DroverClient;
let home: string;
let deployed: { code: number | null; output: string };

beforeAll(async () => {
  const engine = await runCommand('docker', ['version', '--format', '{{.Server.Version}}']);
  if (engine.code !== 0) {
    throw new Error(
      `No Docker engine answers (${String(engine.stderr).trim().split('\n')[0]}): these tests need one; run \`bash scripts/docker.sh\` (scripts/test.sh does) to install and start it`,
    );
  }
  if ((await runCommand('docker', ['image', 'inspect', BASE_IMAGE])).code !== 0) {
    throw new Error(
      `The base image ${BASE_IMAGE} does not exist: run \`bash scripts/docker.sh\` (scripts/test.sh does), which builds it from this machine's node`,
    );
  }
  home = mkdtempSync(join(tmpdir(), 'drover-docker-'));
  server = await startServer({
    databaseFile: join(home, 'drover.db'),
    port: 0,
    apiKey: API_KEY,
    logger: pino({ level: 'silent' }),
    checkpointIntervalMs: 0,
    services: { enabled: [] },
  });
  client = new DroverClient({ apiUrl: server.url, apiKey: API_KEY });
  await client.workPools.create({ name: POOL, type: 'docker' });
  const project = join(home, 'project');
  writeDockerProject(project, { 'flows.mjs': FLOWS, 'deploy.mjs': DEPLOY });
  const child = spawn(process.execPath, ['deploy.mjs'], {
    cwd: project,
    // The legacy builder: BuildKit would look for its frontend image in a registry.
    env: { PATH: process.env.PATH, TZ: 'UTC', DROVER_API_URL: server.url, DROVER_API_KEY: API_KEY, IMAGE, BASE_IMAGE, DOCKER_BUILDKIT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const [code] = await once(child, 'close');
  deployed = { code, output };
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (home) rmSync(home, { recursive: true, force: true });
  await runCommand('docker', ['image', 'rm', '--force', IMAGE]);
});

describe('deploy() with an image, on a real Docker engine', () => {
  it("deploy() builds the project's image FROM the local base given as DROVER_BASE_IMAGE, and the deployments run that image", async () => {
    expect(deployed.output).toMatch(
      /^Created deployment hello\/hello \(\S+\)\nCreated deployment broken\/broken \(\S+\)\nCreated deployment sleepy\/sleepy \(\S+\)\n$/,
    );
    expect(deployed.code).toBe(0);
    const [name, tag] = IMAGE.split(':');
    for (const deployment of ['hello/hello', 'broken/broken', 'sleepy/sleepy']) {
      expect(await client.deployments.read(deployment)).toMatchObject({ jobVariables: { image: IMAGE, networks: ['host'] }, pullSteps: [] });
    }
    // Built on the base: its layers are the base's and the project's.
    const layers = (ref: string) => docker('image', 'inspect', '--format={{json .RootFS.Layers}}', ref).then((l) => JSON.parse(l) as string[]);
    const [base, built] = await Promise.all([layers(BASE_IMAGE), layers(`${name}:${tag}`)]);
    expect(built.slice(0, base.length)).toEqual(base);
  });

  it('has the project, its node_modules included, in the WORKDIR the engine command is relative to', async () => {
    const workdir = await docker('image', 'inspect', '--format={{.Config.WorkingDir}}', IMAGE);
    expect(workdir).toBe('/opt/drover/project');
    const listed = await docker(
      'run',
      '--rm',
      '--network=none',
      '--',
      IMAGE,
      'node',
      '-e',
      "console.log(require('node:fs').readdirSync('.').sort().join(' '))",
    );
    expect(listed).toBe('Dockerfile.drover deploy.mjs drover.yaml flows.mjs node_modules');
    expect(existsSync(join(home, 'project', 'Dockerfile.drover'))).toBe(false);
  }, 60_000);
});

describe('a docker pool on a real Docker engine', () => {
  it('runs a flow in a container to COMPLETED with its logs shipped; --rm leaves no container behind', async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker' }, async (worker) => {
      const launched = once(worker, 'launched');
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'hello/hello' });
      const [, infrastructureId] = await launched;
      const [final] = await allFinal(client, [run]);
      expect(final).toMatchObject({ state: { type: 'COMPLETED' }, result: { greeting: null }, workerName: worker.name, infrastructureId });
      expect(infrastructureId).toBe(`docker:drover-${run.name}-${run.id.slice(-8)}`);
      expect((await client.flowRuns.logs({ flowRunId: run.id })).map((l) => [l.level, l.message])).toEqual([
        ['info', `hello from ${run.name} in /opt/drover/project`],
        ['warn', 'a warning'],
      ]);
      await untilNoContainer(run);
    });
  }, 60_000);

  it('ends a failing flow FAILED, with its error', async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker' }, async () => {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'broken/broken' });
      const [final] = await allFinal(client, [run]);
      expect(final?.state).toMatchObject({ type: 'FAILED', message: 'Error: the flow broke' });
      await untilNoContainer(run);
    });
  }, 60_000);

  it("gives the container the memory and env job variables, and the API key without putting it in any process's arguments", async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker', stopGraceSeconds: GRACE_SECONDS }, async (worker) => {
      const launched = once(worker, 'launched');
      const run = await client.flowRuns.create({
        workQueueName: queue,
        deployment: 'sleepy/sleepy',
        jobVariables: { memLimit: '256m', env: { GREETING: 'hi there' } },
      });
      const [claimed] = (await launched) as [ClaimedFlowRun, string];
      const name = await runningContainer(client, run);
      // RUNNING: the engine in the container read the run from a server that wants the API key.
      await untilRunning(client, run);
      const inspected = JSON.parse(await docker('inspect', '--type=container', name))[0];
      expect(inspected.HostConfig.Memory).toBe(256 * 2 ** 20);
      expect(inspected.Config.Env).toEqual(expect.arrayContaining(['GREETING=hi there', `DROVER_API_KEY=${API_KEY}`, `DROVER_FLOW_RUN_ID=${run.id}`]));
      expect(inspected.Config.Cmd).toEqual(CONTAINER_ENGINE_COMMAND);
      expect(inspected.Config.Labels).toMatchObject({ 'drover.io/flow-run-id': run.id, 'drover.io/flow-name': 'sleepy' });
      const ps = await runCommand('ps', ['-eo', 'args']);
      const lines = ps.stdout.split('\n');
      expect(lines.filter((l) => l.includes(`--name=${name}`))).toHaveLength(1); // the attached `docker run`, seen by ps
      expect(lines.filter((l) => l.includes(CONTAINER_ENGINE_COMMAND[1] as string)).length).toBeGreaterThan(0); // the engine in the container
      expect(lines.filter((l) => l.includes(API_KEY) || l.includes(claimed.claimToken))).toEqual([]);
      await client.flowRuns.cancel(run.id);
      await allFinal(client, [run]);
    });
  }, 60_000);

  it('stops the container of a cancelled run with SIGTERM: the engine ends the run CANCELLED, and the container is removed', async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker', stopGraceSeconds: GRACE_SECONDS }, async () => {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'sleepy/sleepy' });
      await runningContainer(client, run);
      await untilRunning(client, run);
      await client.flowRuns.cancel(run.id);
      const [final] = await allFinal(client, [run]);
      expect(final?.state).toMatchObject({ type: 'CANCELLED', message: 'The job was stopped (SIGTERM)' });
      await untilNoContainer(run);
    });
  }, 60_000);

  it('kills a container that ignores SIGTERM once the stop grace period is over; the run ends CANCELLED and the container is removed', async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker', stopGraceSeconds: GRACE_SECONDS }, async (worker) => {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'sleepy/sleepy', jobVariables: { command: IGNORES_SIGTERM } });
      await runningContainer(client, run);
      const cancelled = Date.now();
      await client.flowRuns.cancel(run.id);
      const [final] = await allFinal(client, [run]);
      expect(final?.state).toMatchObject({ type: 'CANCELLED', message: `Cancelled: worker ${worker.name} stopped the job (it exited with code 137)` });
      expect(Date.now() - cancelled).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000);
      await untilNoContainer(run);
    });
  }, 60_000);

  it('marks the run of a container killed from outside (docker kill) CRASHED at once', async () => {
    const queue = await ownQueue();
    await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker' }, async () => {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'sleepy/sleepy' });
      const name = await runningContainer(client, run);
      await untilRunning(client, run);
      const killed = Date.now();
      await docker('kill', name);
      const [final] = await allFinal(client, [run]);
      expect(final?.state).toMatchObject({ type: 'CRASHED', message: 'The job exited with code 137 without reporting a final state' });
      // From the worker seeing `docker run` exit, not from missed heartbeats (90 s; this server runs no services).
      expect(Date.now() - killed).toBeLessThan(10_000);
      await untilNoContainer(run);
    });
  }, 60_000);

  it('a worker started after another died stops, on cancel, the container the dead one launched', async () => {
    const queue = await ownQueue();
    const first = spawn(process.execPath, [join(packageDir, 'dist/testWorkerMain.js')], {
      env: { ...process.env, DROVER_API_URL: server.url, DROVER_API_KEY: API_KEY, WORKER_NAME: 'w1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    let envFolder: string | undefined;
    try {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'sleepy/sleepy', jobVariables: { command: IGNORES_SIGTERM } });
      const name = await runningContainer(client, run);
      // The dead worker cannot remove its job's env file (kept until `docker run` exits): this test does.
      const dockerRun = (await runCommand('ps', ['-eo', 'args'])).stdout.split('\n').find((l) => l.includes(`--name=${name}`));
      envFolder = /--env-file=(\S+)\/env /.exec(dockerRun ?? '')?.[1];
      // The worker dies without a word; its container runs on.
      first.kill('SIGKILL');
      await once(first, 'exit');
      expect(await containersOf(run.id)).toEqual([expect.stringMatching(/ running$/)]);
      expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
      await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker', name: 'w2', stopGraceSeconds: 1 }, async () => {
        const [final] = await allFinal(client, [run]);
        expect(final?.state).toMatchObject({ type: 'CANCELLED', message: `Cancelled: worker w2 stopped its job docker:${name}` });
      });
      await untilNoContainer(run);
    } finally {
      first.kill('SIGKILL');
      if (envFolder?.includes('drover-env-')) rmSync(envFolder, { recursive: true, force: true });
    }
  }, 60_000);

  it("never stops a container its run did not launch, whatever the run's infrastructure id names; the run still ends CANCELLED", async () => {
    const queue = await ownQueue();
    const stranger = `drover-stranger-${process.pid}`;
    await docker('run', '--detach', '--rm', '--network=none', `--name=${stranger}`, '--', BASE_IMAGE, 'node', '-e', 'setInterval(() => {}, 1000)');
    try {
      const run = await client.flowRuns.create({ workQueueName: queue, deployment: 'hello/hello' });
      const [claimed] = await client.workPools.claimRuns({
        workPoolName: POOL,
        workQueueNames: [queue],
        workerName: 'intruder',
        scheduledBefore: new Date(Date.now() + 10_000).toISOString(),
      });
      await client.flowRuns.setInfrastructure({ id: run.id, infrastructureId: `docker:${stranger}`, claimToken: (claimed as ClaimedFlowRun).claimToken });
      expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
      await working(client, { workPoolName: POOL, workQueues: [queue], type: 'docker', name: 'w2', stopGraceSeconds: 1 }, async () => {
        const [final] = await allFinal(client, [run]);
        expect(final?.state).toMatchObject({
          type: 'CANCELLED',
          message: `Cancelled: worker w2 did not stop docker:${stranger}: container ${stranger} is not a job of this run (its drover.io/flow-run-id label is "")`,
        });
      });
      expect(await docker('inspect', '--type=container', '--format={{.State.Running}}', stranger)).toBe('true');
    } finally {
      await runCommand('docker', ['rm', '--force', stranger]);
    }
  }, 60_000);
});
