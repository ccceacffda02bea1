import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { withApiServer } from '../testHarness.js';

const T0 = '2026-06-01T00:00:00.000Z';

describe('LateRuns', () => {
  it('marks a run Late 15 s after its time, leaving it SCHEDULED', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
        const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        clock.advance(15_000);
        expect((await services.lateRuns.pass()).late).toEqual([]);
        clock.advance(1);
        expect((await services.lateRuns.pass()).late).toEqual([run.id]);
        expect((await api.flowRuns.read.query({ id: run.id })).state).toMatchObject({ type: 'SCHEDULED', name: 'Late', scheduledTime: T0 });
        expect((await services.lateRuns.pass()).late).toEqual([]);
      },
      { clock },
    );
  });

  it.each([
    ['all', null, []],
    ['none', null, ['02:00', '03:00', '04:00'].map((h) => `${h}|missed: ${6 - Number(h.slice(1, 2))} h late, schedule catchup=none`)],
    [
      'latest',
      null,
      ['02:00', '03:00'].map((h) => `${h}|missed: ${6 - Number(h.slice(1, 2))} h late, schedule catchup=latest (a newer missed run replaces it)`),
    ],
    ['all', 10_800, ['02:00|missed: 4 h late, schedule maxLateSeconds=10800']],
  ] as const)('after an outage, catchup=%s maxLateSeconds=%s cancels %j', async (catchup, maxLateSeconds, expected) => {
    const clock = new FakeClock('2026-06-01T01:30:00Z');
    await withApiServer(
      async ({ api, services }) => {
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'hourly', schedules: [{ schedule: { cron: '0 * * * *' }, catchup, maxLateSeconds }] });
        await services.scheduler.pass(); // 02:00, 03:00, 04:00
        const manual = await api.flowRuns.create.mutate({ deployment: 'etl/hourly', scheduledTime: '2026-06-01T02:30:00Z' });
        clock.set('2026-06-01T06:00:00Z'); // the server and every worker were down
        const { cancelled } = await services.lateRuns.pass();
        const runs = await api.flowRuns.list.query({ states: ['CANCELLED'] });
        expect(runs.map((r) => `${r.expectedStartTime.slice(11, 16)}|${r.state.message}`)).toEqual(expected);
        expect(cancelled).toHaveLength(expected.length);
        expect((await api.flowRuns.read.query({ id: manual.id })).state.name).toBe('Late');
      },
      { clock },
    );
  });
});

describe('RunHealth', () => {
  it('crashes a run whose heartbeats stopped, naming the worker, and frees its slot at once', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'one', workPoolName: 'pool', concurrencyLimit: 1 });
        const first = await api.flowRuns.create.mutate({ deployment: 'etl/one' });
        const second = await api.flowRuns.create.mutate({ deployment: 'etl/one' });
        const claim = () => api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: clock.now().toISOString() });
        expect((await claim()).map((r) => r.id)).toEqual([first.id]);
        await api.flowRuns.setState.mutate({ flowRunId: first.id, state: { type: 'RUNNING' } });
        clock.advance(60_000);
        await api.flowRuns.heartbeat.mutate({ runs: [{ id: first.id }] });
        clock.advance(90_000);
        expect((await services.runHealth.pass()).crashed).toEqual([]);
        expect(await claim()).toEqual([]);
        clock.advance(1_000);
        expect((await services.runHealth.pass()).crashed).toEqual([first.id]);
        expect((await api.flowRuns.read.query({ id: first.id })).state).toMatchObject({
          type: 'CRASHED',
          message: 'No heartbeat for 91 s (last at 2026-06-01T00:01:00.000Z) from worker "w1": its job is presumed dead',
        });
        expect((await claim()).map((r) => r.id)).toEqual([second.id]);
      },
      { clock },
    );
  });

  it('offers again a PENDING run whose worker died before launching its job', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
        const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: T0 });
        clock.advance(91_000);
        expect((await services.runHealth.pass()).crashed).toEqual([run.id]);
        expect((await api.flowRuns.read.query({ id: run.id })).state).toMatchObject({
          type: 'SCHEDULED',
          scheduledTime: T0,
          message: 'No heartbeat for 91 s (last at 2026-06-01T00:00:00.000Z) from worker "w1" before it launched the job: offered again',
        });
        const again = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w2', scheduledBefore: clock.now().toISOString() });
        expect(again.map((r) => r.id)).toEqual([run.id]);
      },
      { clock },
    );
  });

  it('retries a crashed run through any worker when its flow has retries', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
        const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: T0 });
        await api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'RUNNING', retries: 1, retryDelaySeconds: 10 } });
        clock.advance(95_000);
        await services.runHealth.pass();
        expect((await api.flowRuns.read.query({ id: run.id })).state).toMatchObject({
          type: 'SCHEDULED',
          name: 'AwaitingRetry',
          scheduledTime: '2026-06-01T00:01:45.000Z',
        });
        clock.advance(10_000);
        const again = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w2', scheduledBefore: clock.now().toISOString() });
        expect(again.map((r) => [r.id, r.workerName])).toEqual([[run.id, 'w2']]);
      },
      { clock },
    );
  });

  it('cancels a CANCELLING run that no worker confirmed within 30 s, and frees its slot', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool', concurrencyLimit: 1 });
        const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const waiting = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
        const claim = () => api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w2', scheduledBefore: clock.now().toISOString() });
        expect((await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: T0, limit: 1 })).map((r) => r.id)).toEqual([
          run.id,
        ]);
        await api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'RUNNING' } });
        expect((await api.flowRuns.cancel.mutate({ id: run.id })).state.type).toBe('CANCELLING');
        expect(await claim()).toEqual([]); // the CANCELLING run still holds the slot
        clock.advance(30_000);
        await api.flowRuns.heartbeat.mutate({ runs: [{ id: run.id }] });
        expect((await services.runHealth.pass()).cancelled).toEqual([]);
        clock.advance(1);
        expect((await services.runHealth.pass()).cancelled).toEqual([run.id]);
        expect((await api.flowRuns.read.query({ id: run.id })).state).toMatchObject({
          type: 'CANCELLED',
          message: 'No worker confirmed the cancellation within 30 s, so the server cancelled the run',
        });
        // The deployment's one slot was the cancelled run's; the waiting run gets it now.
        expect((await claim()).map((r) => r.id)).toEqual([waiting.id]);
      },
      { clock },
    );
  });
});

describe('WorkerHealth', () => {
  it('turns a worker OFFLINE after 3 missed heartbeats and its pool NOT_READY', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process' });
        await api.workers.heartbeat.mutate({ workPoolName: 'pool', name: 'w1', heartbeatIntervalSeconds: 10 });
        expect(await services.workerHealth.pass()).toEqual({ wentOffline: [], poolsNotReady: [] });
        clock.advance(30_000);
        expect((await api.workers.list.query({ workPoolName: 'pool' }))[0]?.status).toBe('ONLINE');
        clock.advance(1);
        expect((await api.workers.list.query({ workPoolName: 'pool' }))[0]?.status).toBe('OFFLINE');
        expect((await api.workPools.read.query({ name: 'pool' })).status).toBe('NOT_READY');
        expect(await services.workerHealth.pass()).toEqual({ wentOffline: ['pool/w1'], poolsNotReady: ['pool'] });
        expect(await services.workerHealth.pass()).toEqual({ wentOffline: [], poolsNotReady: [] });
      },
      { clock },
    );
  });
});
