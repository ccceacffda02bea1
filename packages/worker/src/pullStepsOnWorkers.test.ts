import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
