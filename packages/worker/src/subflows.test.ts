// Flows of flows through a real worker: a parent run's flow triggers a child deployment with
// runDeployment; the child records its parent, the parent fails naming a child that failed, and
// cancelling the parent cancels the running child.
import { describe, expect, it } from 'vitest';
import { allFinal, fixtureDeployment, withSdkServer, working } from './testHelpers.js';

const deployBoth = async (client: Parameters<Parameters<typeof withSdkServer>[0]>[1]) => {
  await client.deployments.upsert({ ...fixtureDeployment('parent', 'parent'), entrypoint: 'src/testFixtures/subflows.mjs:parent' });
  await client.deployments.upsert({ ...fixtureDeployment('child', 'child'), entrypoint: 'src/testFixtures/subflows.mjs:child' });
};

describe('subflows', { timeout: 120_000 }, () => {
  it("records the child's parent, and fails the parent naming a child that failed", async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, { limit: 4 }, async () => {
        await deployBoth(client);
        const ok = await client.flowRuns.create({ deployment: 'parent/parent', parameters: { childMs: 10, childFails: false } });
        const bad = await client.flowRuns.create({ deployment: 'parent/parent', parameters: { childMs: 10, childFails: true } });
        const [okEnded, badEnded] = await allFinal(client, [ok, bad]);
        expect(okEnded?.state.type).toBe('COMPLETED');
        const [okChild] = await client.flowRuns.list({ parentFlowRunId: ok.id });
        expect(okEnded?.result).toEqual({ child: okChild?.id });
        expect(okChild).toMatchObject({ parentFlowRunId: ok.id, state: { type: 'COMPLETED' } });
        const [badChild] = await client.flowRuns.list({ parentFlowRunId: bad.id });
        expect(badEnded?.state).toMatchObject({
          type: 'FAILED',
          message: `ChildRunFailedError: Child run ${badChild?.name} (${badChild?.id}) ended FAILED: Error: the child failed on purpose`,
        });
      });
    });
  });

  it('cancels the running child with its parent', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, { limit: 4 }, async () => {
        await deployBoth(client);
        const parent = await client.flowRuns.create({ deployment: 'parent/parent', parameters: { childMs: 60_000, childFails: false } });
        let child = (await client.flowRuns.list({ parentFlowRunId: parent.id }))[0];
        for (let i = 0; i < 300 && child?.state.type !== 'RUNNING'; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          child = (await client.flowRuns.list({ parentFlowRunId: parent.id }))[0];
        }
        expect(child?.state.type).toBe('RUNNING');
        await client.flowRuns.cancel(parent.id);
        const [parentEnded, childEnded] = await allFinal(client, [parent, child as NonNullable<typeof child>]);
        expect(childEnded?.state.type).toBe('CANCELLED');
        expect(parentEnded?.state.type).toBe('CANCELLED');
      });
    });
  });
});
