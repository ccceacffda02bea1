// Exactly once, through the real server: what once ran a run twice (a slug given to a schedule,
// an outage longer than the heartbeat timeout, retries at a deployment's limit), deleted a run
// with its history (a pause while it waited to retry), or let any caller point a worker at a
// process (infrastructure ids of runs it never claimed).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { RunHealth } from './services/runHealth.js';
import { withApiServer } from './testHarness.js';

const T0 = '2026-06-01T00:00:00.000Z';

describe('a schedule given a slug', () => {
  it.each([
    ['a redeploy', 'redeploy'],
    ['an update of the schedule', 'update'],
  ] as const)('keeps one run per time when the slug comes through %s, claimed runs included', async (_how, how) => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        const deploy = (slug?: string) =>
          api.deployments.upsert.mutate({
            flowName: 'etl',
            name: 'minutely',
            workPoolName: 'pool',
            schedules: [{ schedule: { interval: 60 }, ...(slug ? { slug } : {}) }],
          });
        const { deployment } = await deploy();
        await services.scheduler.pass();
        const runs = async () => api.flowRuns.list.query({ deploymentId: deployment.id, page: { limit: 1000, offset: 0 } });
        const before = await runs();
        expect(before.length).toBeGreaterThanOrEqual(60);
        // A worker prefetches the next two runs before the slug changes.
        const claimed = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: '2026-06-01T00:01:30.000Z', limit: 10 });
        expect(claimed).toHaveLength(2);

        for (const slug of ['every-minute', 'minutely', null]) {
          if (how === 'redeploy') await deploy(slug ?? undefined);
          else
            await api.deployments.updateSchedule.mutate({ deployment: 'etl/minutely', scheduleId: deployment.schedules[0]?.id as string, changes: { slug } });
          await services.scheduler.pass();
          const after = await runs();
          expect(after).toHaveLength(before.length);
          expect(new Set(after.map((r) => r.expectedStartTime)).size).toBe(before.length);
          expect(after.filter((r) => r.state.type === 'PENDING').map((r) => r.id)).toEqual(claimed.map((r) => r.id));
        }
      },
      { clock },
    );
  });
});

describe('an outage longer than the heartbeat timeout', () => {
  it('crashes no run whose job goes on beating once the server is back, and crashes a silent one only a timeout after', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async (server) => {
        const { api } = server;
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
        const healthy = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const silent = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const claimed = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: T0 });
        for (const run of claimed) await api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'RUNNING' }, claimToken: run.claimToken });

        // The server is down for 15 minutes; it starts again, and its run-health service with it.
        clock.advance(15 * 60_000);
        const runHealth = new RunHealth({ store: server.store, logger: pino({ level: 'silent' }) }, { heartbeatTimeoutMs: 90_000 });
        expect((await runHealth.pass()).crashed).toEqual([]);
        clock.advance(30_000);
        const token = (id: string) => claimed.find((r) => r.id === id)?.claimToken;
        expect(await api.flowRuns.heartbeat.mutate({ runs: [{ id: healthy.id, claimToken: token(healthy.id) }] })).toEqual({
          updated: 1,
          cancelling: [],
          lost: [],
        });
        clock.advance(60_000);
        expect((await runHealth.pass()).crashed).toEqual([]);
        clock.advance(1);
        expect((await runHealth.pass()).crashed).toEqual([silent.id]);
        expect((await api.flowRuns.read.query({ id: healthy.id })).state.type).toBe('RUNNING');
      },
      { clock },
    );
  });

  it('tells a job whose run was crashed and claimed again that it lost the run, and writes nothing it proposes', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
        const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const claim = async (workerName: string) => {
          const [run] = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName, scheduledBefore: clock.now().toISOString() });
          return run?.claimToken as string;
        };
        const first = await claim('w1');
        await api.flowRuns.setInfrastructure.mutate({ id, infrastructureId: 'process:host:1', claimToken: first });
        await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING', retries: 1 }, claimToken: first });
        clock.advance(91_000);
        expect((await services.runHealth.pass()).crashed).toEqual([id]);
        // Crashed with a retry left: offered again, and claimed by another worker.
        const second = await claim('w2');
        expect(second).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(second).not.toBe(first);
        const read = await api.flowRuns.read.query({ id });
        expect(read).toMatchObject({ workerName: 'w2', infrastructureId: null, state: { type: 'PENDING' } });
        expect(read).not.toHaveProperty('claimToken');

        expect(await api.flowRuns.heartbeat.mutate({ runs: [{ id, claimToken: first }] })).toEqual({ updated: 0, cancelling: [], lost: [id] });
        const history = await api.flowRuns.history.query({ id });
        expect(await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'COMPLETED' }, claimToken: first })).toMatchObject({
          status: 'ABORT',
          reason: `Run ${id} was claimed again since this job's claim (it is PENDING under another job)`,
          state: { type: 'PENDING' },
        });
        await expect(api.flowRuns.setInfrastructure.mutate({ id, infrastructureId: 'process:host:666', claimToken: first })).rejects.toMatchObject({
          message: `Cannot record the job of run ${id}: Run ${id} was claimed again since this job's claim (it is PENDING under another job)`,
          data: { code: 'CONFLICT', droverCode: 'CLAIM_LOST' },
        });
        expect(await api.flowRuns.history.query({ id })).toEqual(history);
        expect(await api.flowRuns.heartbeat.mutate({ runs: [{ id, claimToken: second }] })).toEqual({ updated: 1, cancelling: [], lost: [] });
      },
      { clock },
    );
  });
});

describe('a deployment concurrency limit', () => {
  it('holds through an in-process retry and through a run sent straight to RUNNING', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'one', workPoolName: 'pool', concurrencyLimit: 1 });
        const a = await api.flowRuns.create.mutate({ deployment: 'etl/one' });
        const claim = () => api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: clock.now().toISOString() });
        const [claimedA] = await claim();
        const token = claimedA?.claimToken;
        await api.flowRuns.setState.mutate({ flowRunId: a.id, state: { type: 'RUNNING', retries: 1, retryDelaySeconds: 10 }, claimToken: token });
        const failed = await api.flowRuns.setState.mutate({ flowRunId: a.id, state: { type: 'FAILED', message: 'boom' }, claimToken: token });
        expect(failed.state).toMatchObject({ type: 'SCHEDULED', name: 'AwaitingRetry' });

        // A waits in its engine for its retry: it keeps its slot, so B is not handed out...
        const b = await api.flowRuns.create.mutate({ deployment: 'etl/one' });
        expect(await claim()).toEqual([]);
        // ...nor may B go straight to RUNNING.
        expect(await api.flowRuns.setState.mutate({ flowRunId: b.id, state: { type: 'RUNNING' } })).toMatchObject({
          status: 'REJECT',
          reason: 'Deployment concurrency limit reached (1 of 1 slots in use)',
          state: { type: 'SCHEDULED', name: 'AwaitingConcurrencySlot' },
        });
        clock.advance(10_000);
        expect((await api.flowRuns.setState.mutate({ flowRunId: a.id, state: { type: 'RUNNING' }, claimToken: token })).status).toBe('ACCEPT');
        await api.flowRuns.setState.mutate({ flowRunId: a.id, state: { type: 'COMPLETED' }, claimToken: token });
        expect((await claim()).map((r) => r.id)).toEqual([b.id]);
        const runs = await api.flowRuns.list.query({});
        expect(runs.map((r) => [r.id, r.state.type])).toEqual([
          [a.id, 'COMPLETED'],
          [b.id, 'PENDING'],
        ]);
      },
      { clock },
    );
  });
});

describe('pausing a deployment', () => {
  it('deletes only scheduled runs that never started, keeping runs that wait to retry with their history', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'hourly', workPoolName: 'pool', schedules: [{ schedule: { cron: '0 * * * *' } }] });
        await services.scheduler.pass();
        const [run] = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: '2026-06-01T01:00:00.000Z', limit: 1 });
        const { id, claimToken } = run as { id: string; claimToken: string };
        clock.set('2026-06-01T01:00:00.000Z');
        await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING', retries: 2, retryDelaySeconds: 600 }, claimToken });
        await api.flowRuns.appendLogs.mutate([{ flowRunId: id, timestamp: clock.now().toISOString(), message: 'attempt 1' }]);
        await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'FAILED', message: 'boom' }, claimToken });
        const history = await api.flowRuns.history.query({ id });

        await api.deployments.pause.mutate({ deployment: 'etl/hourly' });
        const left = await api.flowRuns.list.query({});
        expect(left.map((r) => [r.id, r.state.name])).toEqual([[id, 'AwaitingRetry']]);
        expect(await api.flowRuns.history.query({ id })).toEqual(history);
        expect((await api.flowRuns.logs.query({ flowRunId: id })).map((l) => l.message)).toEqual(['attempt 1']);
      },
      { clock },
    );
  });
});

describe('infrastructure ids', () => {
  it('are written only by the holder of the run’s claim', async () => {
    await withApiServer(async ({ api }) => {
      await api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const noClaim = { id, infrastructureId: 'process:host:1' } as never;
      await expect(api.flowRuns.setInfrastructure.mutate(noClaim)).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
      await expect(api.flowRuns.setInfrastructure.mutate({ id, infrastructureId: 'process:host:1', claimToken: 'x'.repeat(32) })).rejects.toMatchObject({
        message: `Cannot record the job of run ${id}: Run ${id} is SCHEDULED and held by no claim: the claim this job runs under has ended`,
        data: { droverCode: 'CLAIM_LOST' },
      });
      // Nor through a state change.
      const viaState = { flowRunId: id, state: { type: 'RUNNING', infrastructureId: 'process:host:1' } } as never;
      await expect(api.flowRuns.setState.mutate(viaState)).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
      const [claimed] = await api.workPools.claimRuns.mutate({
        workPoolName: 'pool',
        workerName: 'w',
        scheduledBefore: new Date(Date.now() + 60_000).toISOString(),
      });
      await expect(api.flowRuns.setInfrastructure.mutate({ id, infrastructureId: 'process:host:2', claimToken: 'y'.repeat(32) })).rejects.toMatchObject({
        data: { droverCode: 'CLAIM_LOST' },
      });
      expect(await api.flowRuns.setInfrastructure.mutate({ id, infrastructureId: 'process:host:2', claimToken: claimed?.claimToken as string })).toMatchObject({
        infrastructureId: 'process:host:2',
      });
    });
  });
});

describe('a proposal sent again under the same claim', () => {
  it('gets the answer the first one got and writes nothing twice (its first answer was lost to a restart)', async () => {
    await withApiServer(async ({ api }) => {
      await api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const [claimed] = await api.workPools.claimRuns.mutate({
        workPoolName: 'pool',
        workerName: 'w',
        scheduledBefore: new Date(Date.now() + 60_000).toISOString(),
      });
      const claimToken = claimed?.claimToken as string;
      const propose = (state: { type: 'RUNNING' | 'FAILED'; retries?: number; message?: string }) =>
        api.flowRuns.setState.mutate({ flowRunId: id, state, claimToken });
      expect((await propose({ type: 'RUNNING', retries: 1 })).status).toBe('ACCEPT');
      expect((await propose({ type: 'RUNNING', retries: 1 })).status).toBe('ACCEPT');
      const first = await propose({ type: 'FAILED', message: 'boom' });
      expect(first).toMatchObject({ status: 'REJECT', state: { type: 'SCHEDULED', name: 'AwaitingRetry' } });
      expect(await propose({ type: 'FAILED', message: 'boom' })).toEqual({
        status: 'REJECT',
        reason: 'The retry this failure asked for is scheduled already: Retry 1 of 1 after: boom',
        delaySeconds: null,
        state: first.state,
      });
      expect((await api.flowRuns.history.query({ id })).map((s) => s.name)).toEqual(['Scheduled', 'Pending', 'Running', 'AwaitingRetry']);
    });
  });
});
