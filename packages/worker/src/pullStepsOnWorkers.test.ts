import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { allFinal, fixtureDeployment, packageDir, withSdkServer, working } from './testHelpers.js';

// A real git repository holding a flow; the job clones it (into this package, so the clone
// resolves @drover/client like a user's project resolves its dependencies).
const origin = mkdtempSync(join(tmpdir(), 'drover-origin-'));
const clones = mkdtempSync(join(packageDir, '.test-clones-'));
afterAll(() => {
  rmSync(origin, { recursive: true, force: true });
  rmSync(clones, { recursive: true, force: true });
});
const git = (...args: string[]) => execFileSync('git', ['-C', origin, ...args], { encoding: 'utf8' }).trim();
git('init', '--quiet', '--initial-branch', 'main');
writeFileSync(
  join(origin, 'flows.mjs'),
  "import { flow } from '@drover/client';\nexport const cloned = flow({ name: 'cloned' }, () => { console.log('running the cloned flow'); return 'v1'; });\n",
);
git('add', '.');
git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'v1');
const v1 = git('rev-parse', 'HEAD');
writeFileSync(join(origin, 'flows.mjs'), "import { flow } from '@drover/client';\nexport const cloned = flow({ name: 'cloned' }, () => 'v2');\n");
git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-am', 'v2');
git('branch', 'release', v1); // main is at v2, release stays at v1

describe('pull steps', () => {
  it('clone the repository at a commit and run a script before the flow, with their output in the run logs', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(
          fixtureDeployment('from-git', 'cloned', {
            entrypoint: 'flows.mjs:cloned',
            pullSteps: [
              { set_working_directory: { directory: clones } },
              { git_clone: { repository: origin, commit: v1, directory: 'repo' } },
              { run_shell_script: { script: 'echo "prepared $STAGE in $(basename $PWD)"', env: { STAGE: 'test' } } },
            ],
          }),
        );
        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'cloned/from-git' })]);
        expect(run).toMatchObject({ state: { type: 'COMPLETED' }, result: 'v1' });
        const messages = (await client.flowRuns.logs({ flowRunId: run?.id as string })).map((l) => l.message);
        expect(messages).toEqual([
          `Working directory: ${clones}`,
          `Cloning ${origin} at ${v1} into ${clones}/repo`,
          'Running: echo "prepared $STAGE in $(basename $PWD)"',
          'prepared test in repo',
          'running the cloned flow',
        ]);
      });
    });
  });

  it("give a step's outputs to the steps after it", async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(
          fixtureDeployment('from-outputs', 'cloned', {
            entrypoint: 'flows.mjs:cloned',
            pullSteps: [
              { run_shell_script: { id: 'where', script: `echo ${clones}` } },
              { git_clone: { id: 'clone', repository: origin, commit: v1, directory: '{{ where.stdout }}/outputs' } },
              { run_shell_script: { id: 'head', script: 'git rev-parse HEAD' } },
              { set_working_directory: { directory: '{{ clone.directory }}' } },
              { run_shell_script: { script: 'echo "at {{ head.stdout }} in {{ clone.directory }}"' } },
            ],
          }),
        );
        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'cloned/from-outputs' })]);
        expect(run).toMatchObject({ state: { type: 'COMPLETED' }, result: 'v1' });
        const messages = (await client.flowRuns.logs({ flowRunId: run?.id as string })).map((l) => l.message);
        expect(messages).toContain(`Cloning ${origin} at ${v1} into ${clones}/outputs`);
        expect(messages).toContain(`at ${v1} in ${clones}/outputs`);
      });
    });
  });

  it('deploy a flow from its git repository (flow.fromSource) and from an entrypoint, importing neither', async () => {
    await withSdkServer(async (server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      // A user's deploy script: it names the flows, the SDK loads them.
      const script = join(clones, 'deploy.mjs');
      writeFileSync(
        script,
        `import { flow, RunnerDeployment } from '@drover/client';
const fromGit = await flow.fromSource({ repository: ${JSON.stringify(origin)}, branch: 'release' }, 'flows.mjs:cloned', {
  name: 'from-source', workPoolName: 'local', jobVariables: { workingDir: ${JSON.stringify(clones)} },
});
const local = await RunnerDeployment.fromEntrypoint('src/testFixtures/flows.mjs:quick', { name: 'from-entrypoint', workPoolName: 'local' });
console.log(fromGit.fullName, await fromGit.deploy(), local.fullName, await local.deploy());
`,
      );
      const cache = join(packageDir, 'node_modules', '.cache', 'drover', 'sources');
      try {
        // Not execFileSync: the server answering the script runs in this process.
        const { stdout: printed } = await promisify(execFile)(process.execPath, [script], {
          cwd: packageDir,
          env: { ...process.env, DROVER_API_URL: server.url },
        });
        expect(printed).toMatch(
          /^Created deployment cloned\/from-source \S+\nCreated deployment quick\/from-entrypoint \S+\ncloned\/from-source \S+ quick\/from-entrypoint \S+\n$/,
        );
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
      const fromGit = await client.deployments.read('cloned/from-source');
      expect(fromGit).toMatchObject({ entrypoint: 'flows.mjs:cloned', pullSteps: [{ git_clone: { repository: origin, branch: 'release' } }] });
      expect(await client.deployments.read('quick/from-entrypoint')).toMatchObject({
        entrypoint: 'src/testFixtures/flows.mjs:quick',
        pullSteps: [{ set_working_directory: { directory: packageDir.replace(/\/$/, '') } }],
      });
      await working(client, {}, async () => {
        const runs = await allFinal(client, [
          await client.flowRuns.create({ deployment: 'cloned/from-source' }),
          await client.flowRuns.create({ deployment: 'quick/from-entrypoint' }),
        ]);
        // The job cloned the release branch (v1) itself, into its working directory.
        expect(runs.map((run) => [run.state.type, run.result])).toEqual([
          ['COMPLETED', 'v1'],
          ['COMPLETED', expect.anything()],
        ]);
        const messages = (await client.flowRuns.logs({ flowRunId: runs[0]?.id as string })).map((l) => l.message);
        expect(messages).toContain(`Cloning ${origin} at release into ${join(clones, basename(origin))}`);
      });
    });
  });

  it('clone a branch', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(
          fixtureDeployment('from-branch', 'cloned', {
            entrypoint: 'flows.mjs:cloned',
            pullSteps: [{ set_working_directory: { directory: clones } }, { git_clone: { repository: origin, branch: 'release', directory: 'branch' } }],
          }),
        );
        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'cloned/from-branch' })]);
        expect(run).toMatchObject({ state: { type: 'COMPLETED' }, result: 'v1' });
        const messages = (await client.flowRuns.logs({ flowRunId: run?.id as string })).map((l) => l.message);
        expect(messages).toContain(`Cloning ${origin} at release into ${clones}/branch`);
      });
    });
  });

  it('fail the run, with the step and its output, when a step fails', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(
          fixtureDeployment('broken', 'cloned', { entrypoint: 'flows.mjs:cloned', pullSteps: [{ run_shell_script: { script: 'echo no luck >&2; exit 7' } }] }),
        );
        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'cloned/broken' })]);
        expect(run?.state).toMatchObject({ type: 'FAILED', message: 'Pull step `/bin/sh -c echo no luck >&2; exit 7` exited with 7: no luck' });
      });
    });
  });
});
