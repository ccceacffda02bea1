import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { withApiServer } from './testHarness.js';

const T0 = '2026-03-01T12:00:00.000Z';

describe('a run from deployment to COMPLETED', () => {
  it('creates, claims, runs and completes a run with its history and logs', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api }) => {
        const pool = await api.workPools.create.mutate({ name: 'local', type: 'process' });
        expect(pool).toMatchObject({ name: 'local', type: 'process', status: 'NOT_READY', isPaused: false });
        expect(pool.baseJobTemplate.variables.properties).toHaveProperty('workingDir');
        const queues = await api.workQueues.list.query({ workPoolName: 'local' });
        expect(queues.map((q) => [q.name, q.priority, q.id === pool.defaultQueueId])).toEqual([['default', 1, true]]);

        const { deployment, created } = await api.deployments.upsert.mutate({
          flowName: 'etl',
          name: 'nightly',
          entrypoint: 'flows/etl.ts:etl',
          parameters: { date: 'today', retries: 1 },
          parameterSchema: { type: 'object', properties: { date: { type: 'string' }, retries: { type: 'integer' } }, required: ['date'] },
          tags: ['prod'],
          workPoolName: 'local',
          schedules: [{ schedule: { cron: '0 2 * * *', timezone: 'Europe/London' }, slug: 'nightly' }],
        });
        expect(created).toBe(true);
        expect(deployment).toMatchObject({ flowName: 'etl', name: 'nightly', workPoolName: 'local', workQueueName: 'default' });

        const run = await api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { retries: 3 }, tags: ['manual'] });
        expect(run).toMatchObject({
          deploymentId: deployment.id,
          deploymentName: 'nightly',
          flowName: 'etl',
          parameters: { date: 'today', retries: 3 },
          tags: ['prod', 'manual'],
          workPoolName: 'local',
          workQueueName: 'default',
          state: { type: 'SCHEDULED', name: 'Scheduled', scheduledTime: T0 },
          expectedStartTime: T0,
          runCount: 0,
        });
        expect(run.name).toMatch(/^[a-z]+-[a-z]+$/);
        // The create's answer is built from what it wrote: it must be the run as stored.
        expect(await api.flowRuns.read.query({ id: run.id })).toEqual(run);

        const worker = await api.workers.heartbeat.mutate({ workPoolName: 'local', name: 'w1' });
        expect(worker.status).toBe('ONLINE');
        expect((await api.workPools.read.query({ name: 'local' })).status).toBe('READY');

        const claimed = await api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w1', scheduledBefore: T0 });
        expect(claimed.map((r) => [r.id, r.state.type, r.workerName])).toEqual([[run.id, 'PENDING', 'w1']]);
        expect(await api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w2', scheduledBefore: T0 })).toEqual([]);

        const claimToken = (claimed[0] as { claimToken: string }).claimToken;
        await api.flowRuns.setInfrastructure.mutate({ id: run.id, infrastructureId: 'pid:42', claimToken });
        const running = await api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'RUNNING' }, claimToken });
        expect(running).toMatchObject({ status: 'ACCEPT', state: { type: 'RUNNING', name: 'Running' } });
        await api.flowRuns.appendLogs.mutate([
          { flowRunId: run.id, timestamp: T0, message: 'hello' },
          { flowRunId: run.id, timestamp: T0, level: 'error', message: 'oops' },
        ]);
        clock.advance(1500);
        const done = await api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'COMPLETED', result: { rows: 3 } } });
        expect(done).toMatchObject({ status: 'ACCEPT', state: { type: 'COMPLETED' } });

        const final = await api.flowRuns.read.query({ id: run.id });
        // setState answers with the state it wrote, as the run now shows it.
        expect(final.state).toEqual(done.state);
        expect(final).toMatchObject({ runCount: 1, startTime: T0, endTime: '2026-03-01T12:00:01.500Z', result: { rows: 3 }, infrastructureId: 'pid:42' });
        const history = await api.flowRuns.history.query({ id: run.id });
        expect(history.map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED']);
        const lines = await api.flowRuns.logs.query({ flowRunId: run.id });
        expect(lines.map((l) => [l.level, l.message])).toEqual([
          ['info', 'hello'],
          ['error', 'oops'],
        ]);
        expect(await api.flowRuns.logs.query({ flowRunId: run.id, afterId: lines[0]?.id })).toHaveLength(1);
      },
      { clock },
    );
  });
});

describe('deployments', () => {
  it('keeps schedule ids across a redeploy and matches by slug or content', async () => {
    await withApiServer(async ({ api }) => {
      const spec = {
        flowName: 'etl',
        name: 'hourly',
        schedules: [{ schedule: { cron: '0 * * * *' } }, { schedule: { interval: 600 }, slug: 'ten' }],
      };
      const first = (await api.deployments.upsert.mutate(spec)).deployment;
      const again = await api.deployments.upsert.mutate({ ...spec, schedules: [...spec.schedules].reverse() });
      expect(again.created).toBe(false);
      expect(again.deployment.schedules.map((s) => s.id).sort()).toEqual(first.schedules.map((s) => s.id).sort());
      const edited = await api.deployments.upsert.mutate({
        ...spec,
        schedules: [{ schedule: { cron: '0 * * * *' } }, { schedule: { interval: 900 }, slug: 'ten' }],
      });
      expect(edited.deployment.schedules.map((s) => s.id)).toEqual(first.schedules.map((s) => s.id));
      expect(edited.deployment.schedules[1]?.schedule).toEqual({ interval: 900 });
    });
  });

  it('reads, lists with filters, pauses, previews and deletes', async () => {
    await withApiServer(
      async ({ api }) => {
        await api.workPools.create.mutate({ name: 'k8s', type: 'kubernetes' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', tags: ['x', 'y'], workPoolName: 'k8s', workQueueName: 'gpu' });
        await api.deployments.upsert.mutate({
          flowName: 'etl',
          name: 'b',
          tags: ['x'],
          schedules: [{ schedule: { cron: '30 9 * * *', timezone: 'America/New_York' } }],
        });
        await api.deployments.upsert.mutate({ flowName: 'report', name: 'c', paused: true });
        const names = async (filter: Parameters<typeof api.deployments.list.query>[0]) =>
          (await api.deployments.list.query(filter)).map((d) => `${d.flowName}/${d.name}`);
        expect(await names({})).toEqual(['etl/a', 'etl/b', 'report/c']);
        expect(await names({ flowName: 'etl' })).toEqual(['etl/a', 'etl/b']);
        expect(await names({ tags: ['x', 'y'] })).toEqual(['etl/a']);
        expect(await names({ workPoolName: 'k8s' })).toEqual(['etl/a']);
        expect(await names({ paused: true })).toEqual(['report/c']);
        expect(await names({ page: { limit: 1, offset: 1 } })).toEqual(['etl/b']);
        expect((await api.workQueues.list.query({ workPoolName: 'k8s' })).map((q) => q.name)).toEqual(['default', 'gpu']);

        const preview = await api.deployments.schedulePreview.query({ deployment: 'etl/b', count: 3 });
        expect(preview[0]?.times).toEqual(['2026-03-07T14:30:00.000Z', '2026-03-08T13:30:00.000Z', '2026-03-09T13:30:00.000Z']);

        const b = await api.deployments.read.query({ deployment: 'etl/b' });
        expect((await api.deployments.pause.mutate({ deployment: b.id })).paused).toBe(true);
        expect((await api.deployments.resume.mutate({ deployment: 'etl/b' })).paused).toBe(false);

        await api.flowRuns.create.mutate({ deployment: 'etl/b', scheduledTime: '2026-03-08T00:00:00.000Z' });
        expect(await api.deployments.delete.mutate({ deployment: 'etl/b' })).toEqual({ id: b.id, name: 'etl/b', deletedScheduledRuns: 1 });
        expect(await names({})).toEqual(['etl/a', 'report/c']);
      },
      { clock: new FakeClock('2026-03-07T00:00:00Z') },
    );
  });

  it('adds, updates and removes one schedule, keeping its id', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      const added = await api.deployments.addSchedule.mutate({ deployment: 'etl/a', schedule: { schedule: { interval: 60 } } });
      const id = added.schedules[0]?.id as string;
      const updated = await api.deployments.updateSchedule.mutate({
        deployment: 'etl/a',
        scheduleId: id,
        changes: { schedule: { interval: 120 }, active: false },
      });
      expect(updated.schedules).toMatchObject([{ id, schedule: { interval: 120 }, active: false }]);
      expect((await api.deployments.removeSchedule.mutate({ deployment: 'etl/a', scheduleId: id })).schedules).toEqual([]);
    });
  });
});

describe('child runs', () => {
  it('records the parent of a run, lists its children, and cancels unfinished descendants, deepest first, with the parent', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      const parent = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const child = await api.flowRuns.create.mutate({ deployment: 'etl/a', parentFlowRunId: parent.id });
      const done = await api.flowRuns.create.mutate({ deployment: 'etl/a', parentFlowRunId: parent.id });
      const grandchild = await api.flowRuns.create.mutate({ deployment: 'etl/a', parentFlowRunId: child.id });
      await api.flowRuns.setState.mutate({ flowRunId: done.id, state: { type: 'RUNNING' } });
      await api.flowRuns.setState.mutate({ flowRunId: done.id, state: { type: 'COMPLETED' } });
      expect(child.parentFlowRunId).toBe(parent.id);
      expect((await api.flowRuns.list.query({ parentFlowRunId: parent.id })).map((r) => r.id)).toEqual([child.id, done.id]);
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/a', parentFlowRunId: '01234567-89ab-7def-8123-456789abcdef' })).rejects.toMatchObject({
        data: { droverCode: 'FLOW_RUN_NOT_FOUND' },
      });

      expect((await api.flowRuns.cancel.mutate({ id: parent.id })).state.type).toBe('CANCELLED');
      const state = async (id: string) => (await api.flowRuns.read.query({ id })).state;
      expect((await state(grandchild.id)).type).toBe('CANCELLED');
      expect(await state(child.id)).toMatchObject({ type: 'CANCELLED', message: `Its parent run ${parent.id} was cancelled` });
      expect((await state(done.id)).type).toBe('COMPLETED');
      const cancelledAt = async (id: string) => (await api.flowRuns.history.query({ id })).at(-1)?.timestamp as string;
      expect((await cancelledAt(grandchild.id)) <= (await cancelledAt(child.id))).toBe(true);
    });
  });
});

describe('flow-run names', () => {
  it("names runs from the deployment's template, hand-made and scheduled; refuses keys it could never fill", async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api, services }) => {
        const parameterSchema = { type: 'object', properties: { date: { type: 'string' }, limit: { type: 'integer' } } };
        await expect(api.deployments.upsert.mutate({ flowName: 'etl', name: 'bad', parameterSchema, flowRunName: 'etl-{dat}' })).rejects.toMatchObject({
          message:
            'flowRunName "etl-{dat}" of deployment "etl/bad" names {dat}, which is not a parameter of its flow (its parameters: date, limit) nor one of {flow_name}, {deployment_name}, {scheduled_time}',
          data: { droverCode: 'VALIDATION_ERROR' },
        });
        await expect(api.deployments.upsert.mutate({ flowName: 'etl', name: 'braces', flowRunName: 'etl-{' })).rejects.toMatchObject({
          data: { code: 'BAD_REQUEST' },
        });
        await api.deployments.upsert.mutate({
          flowName: 'etl',
          name: 'nightly',
          parameterSchema,
          parameters: { limit: 5 },
          flowRunName: '{flow_name}-{date}-{scheduled_time:%Y%m%d-%H%M}',
          schedules: [{ schedule: { cron: '0 2 * * *' }, parameters: { date: 'yesterday' } }],
        });
        expect((await api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { date: '2026-02-28' } })).name).toBe('etl-2026-02-28-20260301-1200');
        expect((await api.flowRuns.create.mutate({ deployment: 'etl/nightly', parameters: { date: 'x' }, name: 'mine' })).name).toBe('mine');
        await expect(api.flowRuns.create.mutate({ deployment: 'etl/nightly' })).rejects.toMatchObject({
          message:
            'flowRunName "{flow_name}-{date}-{scheduled_time:%Y%m%d-%H%M}" of deployment "etl/nightly" needs {date}, which this run\'s parameters lack: pass it, or give the run a name',
          data: { droverCode: 'VALIDATION_ERROR' },
        });
        await services.scheduler.pass();
        const scheduled = await api.flowRuns.list.query({ tags: ['auto-scheduled'], page: { limit: 2, offset: 0 } });
        expect(scheduled.map((r) => r.name)).toEqual(['etl-yesterday-20260302-0200', 'etl-yesterday-20260303-0200']);
        const updated = await api.deployments.update.mutate({ deployment: 'etl/nightly', changes: { flowRunName: 'run-{limit}' } });
        expect(updated.flowRunName).toBe('run-{limit}');
        expect((await api.flowRuns.create.mutate({ deployment: 'etl/nightly' })).name).toBe('run-5');
      },
      { clock },
    );
  });
});

describe('readiness', () => {
  it('says whether a deployment and its queue can run now, and why not, as workers and runners come and go', async () => {
    const clock = new FakeClock(T0);
    await withApiServer(
      async ({ api }) => {
        await api.workPools.create.mutate({ name: 'local', type: 'process' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'pooled', workPoolName: 'local' });
        await api.deployments.upsert.mutate({ flowName: 'etl', name: 'served' });
        const status = async (name: string) => {
          const d = await api.deployments.read.query({ deployment: `etl/${name}` });
          return [d.status, d.statusReason, d.lastPolled];
        };
        const queue = async () => {
          const q = await api.workQueues.read.query({ workPoolName: 'local', name: 'default' });
          return [q.status, q.statusReason];
        };
        expect(await status('pooled')).toEqual(['NOT_READY', 'no online worker in pool local (start one with `drover worker start --pool local`)', null]);
        expect(await queue()).toEqual(['NOT_READY', 'no online worker in pool local (start one with `drover worker start --pool local`)']);
        expect(await status('served')).toEqual(['NOT_READY', 'it has no work pool, and no runner (serve()) has polled for it in the last 3 minutes', null]);

        await api.workers.heartbeat.mutate({ workPoolName: 'local', name: 'w1' });
        expect(await queue()).toEqual([
          'NOT_READY',
          'no worker of pool local has polled queue default in the last 3 minutes (workers started with --queue poll only theirs)',
        ]);
        await api.workPools.claimRuns.mutate({ workPoolName: 'local', workerName: 'w1', scheduledBefore: T0 });
        const served = (await api.deployments.read.query({ deployment: 'etl/served' })).id;
        await api.deployments.claimRuns.mutate({ deploymentIds: [served], workerName: 'runner', scheduledBefore: T0 });
        expect(await status('pooled')).toEqual(['READY', null, T0]);
        expect(await queue()).toEqual(['READY', null]);
        expect(await status('served')).toEqual(['READY', null, T0]);

        await api.workQueues.update.mutate({ workPoolName: 'local', name: 'default', changes: { isPaused: true } });
        expect(await queue()).toEqual(['PAUSED', 'queue default is paused']);
        expect(await status('pooled')).toEqual(['NOT_READY', 'queue default is paused', T0]);
        await api.workPools.pause.mutate({ name: 'local' });
        await api.workQueues.update.mutate({ workPoolName: 'local', name: 'default', changes: { isPaused: false } });
        expect(await status('pooled')).toEqual(['NOT_READY', 'work pool local is paused', T0]);
        await api.deployments.pause.mutate({ deployment: 'etl/served' });
        expect(await status('served')).toEqual(['NOT_READY', 'the deployment is paused', T0]);
        await api.deployments.resume.mutate({ deployment: 'etl/served' });
        clock.advance(180_001);
        expect((await status('served'))[0]).toBe('NOT_READY');
        expect((await api.deployments.list.query({})).map((d) => [d.name, d.status])).toEqual([
          ['pooled', 'NOT_READY'],
          ['served', 'NOT_READY'],
        ]);
      },
      { clock },
    );
  });
});

describe('retrying a finished run', () => {
  it('puts a FAILED run back to SCHEDULED (AwaitingRetry) with its history, for a worker to claim; refuses others', async () => {
    await withApiServer(async ({ api }) => {
      await api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const { id } = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const claim = () =>
        api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: new Date(Date.now() + 60_000).toISOString() });
      const [first] = await claim();
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING' }, claimToken: first?.claimToken });
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'FAILED', message: 'boom' }, claimToken: first?.claimToken });
      expect(await api.flowRuns.retry.mutate({ id })).toMatchObject({
        status: 'ACCEPT',
        state: { type: 'SCHEDULED', name: 'AwaitingRetry', message: 'Retried by request' },
      });
      expect(await api.flowRuns.read.query({ id })).toMatchObject({ endTime: null, runCount: 1 });
      const [again] = await claim();
      expect(again?.id).toBe(id);
      // The old claim is over: its job can no longer write to the run.
      expect((await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'COMPLETED' }, claimToken: first?.claimToken })).status).toBe('ABORT');
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING' }, claimToken: again?.claimToken });
      await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'COMPLETED' }, claimToken: again?.claimToken });
      expect((await api.flowRuns.history.query({ id })).map((s) => s.name)).toEqual([
        'Scheduled',
        'Pending',
        'Running',
        'Failed',
        'AwaitingRetry',
        'Pending',
        'Running',
        'Completed',
      ]);
      expect(await api.flowRuns.retry.mutate({ id })).toMatchObject({
        status: 'REJECT',
        reason: 'Run is COMPLETED; only a FAILED, CRASHED or CANCELLED run can be retried',
      });
      await expect(api.flowRuns.retry.mutate({ id: '01234567-89ab-7def-8123-456789abcdef' })).rejects.toMatchObject({
        data: { droverCode: 'FLOW_RUN_NOT_FOUND' },
      });
    });
  });
});

describe('flows', () => {
  it('reads a flow by id or by name, whatever the name looks like', async () => {
    await withApiServer(async ({ api }) => {
      const etl = await api.flows.createOrRead.mutate({ name: 'deadbeef-etl' });
      const uuidLike = await api.flows.createOrRead.mutate({ name: '01234567-89ab-7def-8123-456789abcdef' });
      expect(await api.flows.read.query({ flow: 'deadbeef-etl' })).toEqual(etl);
      expect(await api.flows.read.query({ flow: etl.id })).toEqual(etl);
      expect(await api.flows.read.query({ flow: uuidLike.name })).toEqual(uuidLike);
      await expect(api.flows.read.query({ flow: 'deadbeef-missing' })).rejects.toMatchObject({
        message: 'Flow "deadbeef-missing" not found',
        data: { droverCode: 'FLOW_NOT_FOUND' },
      });
    });
  });
});

describe('flow runs', () => {
  it('validates parameters against the schema and lists every violation', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({
        flowName: 'etl',
        name: 'strict',
        parameterSchema: {
          type: 'object',
          properties: { date: { type: 'string' }, limit: { type: 'integer', minimum: 1 } },
          required: ['date'],
          additionalProperties: false,
        },
      });
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/strict', parameters: { limit: 0, colour: 'red' } })).rejects.toMatchObject({
        message: 'Parameters for deployment "etl/strict" do not match its schema: date is required; colour is not a parameter of this flow; limit must be >= 1',
        data: { droverCode: 'PARAMETERS_INVALID', httpStatus: 400 },
      });
      await api.deployments.update.mutate({ deployment: 'etl/strict', changes: { enforceParameterSchema: false } });
      expect((await api.flowRuns.create.mutate({ deployment: 'etl/strict', parameters: { limit: 0 } })).parameters).toEqual({ limit: 0 });
    });
  });

  it('returns the same run for the same idempotency key and refuses other parameters', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', parameters: { x: 1 } });
      const first = await api.flowRuns.create.mutate({ deployment: 'etl/a', idempotencyKey: 'k1', parameters: { y: 2 } });
      const again = await api.flowRuns.create.mutate({ deployment: 'etl/a', idempotencyKey: 'k1', parameters: { y: 2 } });
      expect(again.id).toBe(first.id);
      await expect(api.flowRuns.create.mutate({ deployment: 'etl/a', idempotencyKey: 'k1', parameters: { y: 3 } })).rejects.toMatchObject({
        message: `Idempotency key "k1" already made run ${first.id} with other parameters ({"x":1,"y":2}, not {"x":1,"y":3}): use a new key or the same parameters`,
        data: { droverCode: 'IDEMPOTENCY_CONFLICT', httpStatus: 409 },
      });
    });
  });

  it('filters and pages runs', async () => {
    await withApiServer(async ({ api }) => {
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      await api.deployments.upsert.mutate({ flowName: 'report', name: 'b' });
      const r1 = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2030-01-01T00:00:00Z', tags: ['t'] });
      const r2 = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2030-01-02T00:00:00Z' });
      const r3 = await api.flowRuns.create.mutate({ deployment: 'report/b', scheduledTime: '2030-01-03T00:00:00Z' });
      await api.flowRuns.cancel.mutate({ id: r2.id });
      const ids = async (filter: Parameters<typeof api.flowRuns.list.query>[0]) => (await api.flowRuns.list.query(filter)).map((r) => r.id);
      expect(await ids({})).toEqual([r1.id, r2.id, r3.id]);
      expect(await ids({ sort: 'EXPECTED_START_DESC', page: { limit: 2, offset: 0 } })).toEqual([r3.id, r2.id]);
      expect(await ids({ states: ['CANCELLED'] })).toEqual([r2.id]);
      expect(await ids({ flowName: 'report' })).toEqual([r3.id]);
      expect(await ids({ deploymentId: r1.deploymentId as string, tags: ['t'] })).toEqual([r1.id]);
      expect(await ids({ expectedStartAfter: '2030-01-02T00:00:00Z', expectedStartBefore: '2030-01-02T23:00:00Z' })).toEqual([r2.id]);
      expect((await api.flowRuns.read.query({ id: r2.id })).state).toMatchObject({ type: 'CANCELLED', message: 'Cancelled by request' });
    });
  });
});

describe('the HTTP server', () => {
  it('answers GET /health and the health and version procedures', async () => {
    await withApiServer(async ({ url, api }) => {
      const res = await fetch(`${url}/health`);
      // tRPC's answer envelope, so tRPC's own httpLink reads `health` from the same address.
      expect([res.status, await res.json()]).toEqual([200, { result: { data: { status: 'ok' } } }]);
      expect(await api.health.query()).toEqual({ status: 'ok' });
      expect((await api.version.query()).version).toMatch(/^\d+\.\d+\.\d+/);
    });
  });

  it('needs the API key when one is set, and answers 401 with nothing else without it', async () => {
    await withApiServer(
      async ({ url, client }) => {
        await expect(client({ apiKey: 'wrong' }).workPools.create.mutate({ name: 'p', type: 'process' })).rejects.toMatchObject({
          message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>',
          data: { httpStatus: 401, droverCode: 'UNAUTHORIZED' },
        });
        const res = await fetch(`${url}/workPools.list`);
        expect(res.status).toBe(401);
        expect(await client().workPools.list.query()).toEqual([]);
        expect(
          await client({ apiKey: '' })
            .workPools.list.query()
            .catch((e) => e.data.httpStatus),
        ).toBe(401);
        expect((await fetch(`${url}/health`)).status).toBe(200);
      },
      { apiKey: 's3cret' },
    );
  });
});
