import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project } from '@drover/schemas';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deploy, RunnerDeployment } from './deployments.js';
import { flow } from './flow.js';
import { deleteDeployment, getDeployment } from './management.js';
import { initializeProject } from './project.js';
import { report } from './testFixtures/report.js';
import { withSdkServer } from './testServer.js';

let bin: string;
let savedPath: string | undefined;
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), 'drover-fake-docker-'));
  savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
  rmSync(bin, { recursive: true, force: true });
});

/** No Docker engine runs here: a fake `docker` records the exact commands deploy() sends. */
function fakeDocker(script: string): void {
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\necho "$@" >> ${bin}/calls\n${script}\n`);
  chmodSync(join(bin, 'docker'), 0o755);
}

describe('deploy()', () => {
  it('deploys flows to a pool with schedules, computes the entrypoint, and prints the next steps', async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      const printed: string[] = [];
      const warnings: string[] = [];
      const [deployed] = await deploy(report, {
        client,
        workPoolName: 'local',
        name: 'daily',
        parameters: { day: 'today' },
        schedule: { cron: '0 6 * * *', timezone: 'Europe/London', slug: 'morning' },
        print: (l) => printed.push(l),
        warn: (l) => warnings.push(l),
      });
      const saved = await getDeployment('report/daily', client);
      expect(saved).toMatchObject({
        id: deployed?.id,
        entrypoint: 'src/testFixtures/report.ts:report',
        workPoolName: 'local',
        workQueueName: 'default',
        parameters: { day: 'today' },
        parameterSchema: { type: 'object', properties: { day: { type: 'string' } }, required: ['day'] },
        schedules: [{ schedule: { cron: '0 6 * * *', timezone: 'Europe/London', dayOr: true }, slug: 'morning', active: true }],
        // A process worker on this machine runs the code from the project root, as deployed.
        pullSteps: [{ set_working_directory: { directory: fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '') } }],
      });
      expect(printed).toEqual([
        `Created deployment report/daily (${deployed?.id})`,
        '\nTo start a worker for pool "local":\n  drover worker start --pool local',
        "\nTo run it now:\n  drover deployment run 'report/daily'",
      ]);
      expect(warnings).toEqual([]);
      expect(await deleteDeployment('report/daily', client)).toBe(true);
      expect(await deleteDeployment('report/daily', client)).toBe(false);
    });
  });

  it('names the pools that exist when the pool is unknown, and warns about schedules that never fire', async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await expect(deploy(report, { client, workPoolName: 'gpu', print: () => {} })).rejects.toMatchObject({
        code: 'WORK_POOL_NOT_FOUND',
        message: 'Work pool "gpu" not found (existing pools: local)',
      });
      const warnings: string[] = [];
      await deploy(RunnerDeployment.fromFlow(report, { name: 'once', schedule: { rrule: 'DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=1' } }), {
        client,
        workPoolName: 'local',
        image: 'acme/flows:1',
        build: false,
        print: () => {},
        warn: (l) => warnings.push(l),
      });
      expect(warnings).toEqual([
        'work pool "local" is a process pool, which runs no images; the image acme/flows:1 is not used',
        "the default parameters of report/once do not match the flow's schema (day: Invalid input: expected string, received undefined); runs must supply the rest",
        'schedule 0 of report/once never fires again',
      ]);
    });
  });

  it('refuses, saving nothing, a deployment no worker could run: no work pool, or a docker pool with no image', async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'containers', type: 'docker' });
      await expect(deploy(report, { client, print: () => {} })).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
        message:
          "deploy() needs a work pool for report/report: pass { workPoolName: 'local' } (create one with `drover work-pool create local --type process`), or run it in this process with serve(RunnerDeployment.fromFlow(flow))",
      });
      await expect(deploy(report, { client, workPoolName: 'containers', print: () => {} })).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
        message:
          'Work pool "containers" is a docker pool, whose jobs run an image, and report/report has none: pass { image: \'registry/name:tag\' } to deploy() (build: true builds it here), or set the image job variable',
      });
      expect(await client.deployments.list()).toEqual([]);
    });
  });

  it("keeps each deployment's own pool, and saves all of them or none", async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.workPools.create({ name: 'other', type: 'process' });
      const printed: string[] = [];
      await deploy(
        RunnerDeployment.fromFlow(report, { name: 'here', workPoolName: 'local' }),
        RunnerDeployment.fromFlow(report, { name: 'there', workPoolName: 'other' }),
        { client, print: (l) => printed.push(l), warn: () => {} },
      );
      expect((await client.deployments.list()).map((d) => [d.name, d.workPoolName])).toEqual([
        ['here', 'local'],
        ['there', 'other'],
      ]);
      expect(printed.slice(2)).toEqual([
        '\nTo start a worker for pool "local":\n  drover worker start --pool local',
        '\nTo start a worker for pool "other":\n  drover worker start --pool other',
        "\nTo run them now:\n  drover deployment run 'report/here'\n  drover deployment run 'report/there'",
      ]);

      // The server refuses the second (its pool has no such job variable): the first, valid on its own, is not saved either.
      await expect(
        deploy(
          RunnerDeployment.fromFlow(report, { name: 'first', workPoolName: 'local' }),
          RunnerDeployment.fromFlow(report, { name: 'second', workPoolName: 'local', jobVariables: { gpu: true } }),
          { client, print: () => {}, warn: () => {} },
        ),
      ).rejects.toMatchObject({ code: 'JOB_VARIABLES_INVALID' });
      expect((await client.deployments.list()).map((d) => d.name)).toEqual(['here', 'there']);
    });
  });

  it('builds with a generated Dockerfile and pushes the image, recording it as the image job variable', async () => {
    fakeDocker(`[ "$1" = build ] && cp "$5" ${bin}/Dockerfile.seen; exit 0`);
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'docker', type: 'docker' });
      await deploy(report, {
        client,
        workPoolName: 'docker',
        image: { name: 'registry.local/flows', tag: '7', buildArgs: { NODE_ENV: 'production' } },
        print: () => {},
      });
      const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
      expect(calls[0]).toMatch(/^build --tag registry\.local\/flows:7 --file \/.+\/Dockerfile\.drover --build-arg NODE_ENV=production \.$/);
      expect(calls[1]).toBe('push registry.local/flows:7');
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own build-argument placeholder, not JavaScript's
      expect(readFileSync(join(bin, 'Dockerfile.seen'), 'utf8')).toContain('ARG DROVER_BASE_IMAGE=node:20-slim\nFROM ${DROVER_BASE_IMAGE}');
      expect(await getDeployment('report/report', client)).toMatchObject({ jobVariables: { image: 'registry.local/flows:7' }, pullSteps: [] });
    });
  });

  it('says there is no Docker engine, and how to deploy without building', async () => {
    fakeDocker('echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'docker', type: 'docker' });
      await expect(deploy(report, { client, workPoolName: 'docker', image: 'acme/flows:1', print: () => {} })).rejects.toMatchObject({
        code: 'DOCKER_UNAVAILABLE',
        message:
          '`docker build` failed: no Docker engine is running here (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); deploy without building: pass build: false and push: false with an image that already exists, or use a process work pool',
      });
      expect(await client.deployments.list()).toEqual([]);
    });
  });
});

describe('RunnerDeployment', () => {
  it("names runs with the flow's flowRunName template, unless the deployment has its own", async () => {
    const named = flow({ name: 'named', flowRunName: 'named-{day}' }, async () => 1);
    expect((await RunnerDeployment.fromFlow(named, { entrypoint: 'flows.ts:named' }).toCreate()).flowRunName).toBe('named-{day}');
    expect((await RunnerDeployment.fromFlow(named, { entrypoint: 'flows.ts:named', flowRunName: 'own' }).toCreate()).flowRunName).toBe('own');
  });
});

describe('initializeProject()', () => {
  it('writes drover.yaml, .droverignore and an example flow; refuses, writing nothing, when they exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-init-'));
    try {
      const { files } = initializeProject({ directory: dir, name: 'shop', recipe: 'git', fields: { repository: 'https://git.example/shop.git' } });
      expect(files).toEqual(['drover.yaml', '.droverignore', 'flows/example.ts']);
      const project = Project.parse(parse(readFileSync(join(dir, 'drover.yaml'), 'utf8')));
      expect(project.pull).toEqual([{ git_clone: { repository: 'https://git.example/shop.git', branch: 'main' } }]);
      expect(project.deployments[0]).toMatchObject({ name: 'example', entrypoint: 'flows/example.ts:hello', workPool: { name: 'local' } });
      rmSync(join(dir, 'flows'), { recursive: true });
      rmSync(join(dir, '.droverignore'));
      expect(() => initializeProject({ directory: dir })).toThrow(
        expect.objectContaining({ code: 'FILE_EXISTS', message: `Not initialising ${dir}: drover.yaml already exists; move or delete them first` }),
      );
      expect(existsSync(join(dir, '.droverignore'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
