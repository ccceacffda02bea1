// Concurrent clients against one real server: claims never double up, idempotency keys make one
// run, and pool, queue and deployment limits hold however the claims interleave.
import type { FlowRun, StateType } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { queryRows, type TestServer, withApiServer } from './testHarness.js';

type Api = TestServer['api'];

/** Due now plus a worker's prefetch. */
const dueBy = () => new Date(Date.now() + 10_000).toISOString();

/** Creates `n` runs of a deployment, `chunk` at a time through the batched client. */
async function createRuns(api: Api, deployment: string, n: number, chunk = 250): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const runs = await Promise.all(Array.from({ length: count }, () => api.flowRuns.create.mutate({ deployment })));
    ids.push(...runs.map((r) => r.id));
  }
  return ids;
}

/**
 * Starts `workers` claimers at once, each with its own unbatched client, each claiming up to
 * `limit` runs a call until a call returns none. Returns what each worker got, by worker name.
 */
async function claimConcurrently(
  server: TestServer,
  options: { workPoolName: string; workers: number; limit: number; workQueueNames?: string[] },
): Promise<Map<string, FlowRun[]>> {
  const got = new Map<string, FlowRun[]>();
  await Promise.all(
    Array.from({ length: options.workers }, async (_, i) => {
      const workerName = `worker-${i}`;
      const client = server.client({ batch: false });
      const mine: FlowRun[] = [];
      got.set(workerName, mine);
      for (;;) {
        const runs = await client.workPools.claimRuns.mutate({
          workPoolName: options.workPoolName,
          workQueueNames: options.workQueueNames,
          workerName,
          scheduledBefore: dueBy(),
          limit: options.limit,
        });
        if (runs.length === 0) return;
        expect(runs.length).toBeLessThanOrEqual(options.limit);
        mine.push(...runs);
      }
    }),
  );
  return got;
}

const claimedIds = (got: Map<string, FlowRun[]>) => [...got.values()].flat().map((r) => r.id);

/** The ids of a deployment's runs in each state. */
async function statesOf(api: Api, deploymentId: string): Promise<Partial<Record<StateType, string[]>>> {
  const runs = await api.flowRuns.list.query({ deploymentId, page: { limit: 1000, offset: 0 } });
  const byState: Partial<Record<StateType, string[]>> = {};
  for (const run of runs) byState[run.state.type] = [...(byState[run.state.type] ?? []), run.id];
  return byState;
}

/** Takes a claimed run through RUNNING to COMPLETED, which frees its slot. */
async function complete(api: Api, id: string): Promise<void> {
  expect((await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'RUNNING' } })).status).toBe('ACCEPT');
  expect((await api.flowRuns.setState.mutate({ flowRunId: id, state: { type: 'COMPLETED' } })).status).toBe('ACCEPT');
}

describe('concurrent claims', () => {
  it('hands each of 2,000 due runs to exactly one of 8 concurrent workers', { timeout: 60_000 }, async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'busy', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'many', workPoolName: 'busy' });
      const created = await createRuns(api, 'etl/many', 2000);
      expect(new Set(created).size).toBe(2000);

      const got = await claimConcurrently(server, { workPoolName: 'busy', workers: 8, limit: 25 });
      const ids = claimedIds(got);
      expect(ids).toHaveLength(2000);
      expect(new Set(ids).size).toBe(2000);
      expect([...ids].sort()).toEqual([...created].sort());
      // Work was shared: more than one worker got runs (each claim is its own transaction).
      expect([...got.values()].filter((runs) => runs.length > 0).length).toBeGreaterThan(1);
      const wrong = [...got].flatMap(([workerName, runs]) => runs.filter((r) => r.state.type !== 'PENDING' || r.workerName !== workerName));
      expect(wrong).toEqual([]);

      // The database agrees: every run PENDING, owned by the worker that got it, with one PENDING state each.
      const owner = new Map([...got].flatMap(([name, runs]) => runs.map((r) => [r.id, name] as const)));
      const stored = await queryRows(server, 'SELECT id, state_type AS state, worker_name AS worker FROM flow_runs ORDER BY id');
      expect(stored).toEqual([...created].sort().map((id) => ({ id, state: 'PENDING', worker: owner.get(id) })));
      const pendingStates = await queryRows(
        server,
        "SELECT CAST(count(*) AS INTEGER) AS states, CAST(count(DISTINCT flow_run_id) AS INTEGER) AS runs FROM flow_run_states WHERE type = 'PENDING'",
      );
      expect(pendingStates).toEqual([{ states: 2000, runs: 2000 }]);
    });
  });

  it('makes one run from 50 concurrent creates with the same idempotency key', async () => {
    await withApiServer(async (server) => {
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'once', parameters: { day: 'mon' } });
      const answers = await Promise.all(
        Array.from({ length: 50 }, () =>
          server.client({ batch: false }).flowRuns.create.mutate({ deployment: 'etl/once', idempotencyKey: 'nightly-2026-03-01' }),
        ),
      );
      const ids = new Set(answers.map((r) => r.id));
      expect(ids.size).toBe(1);
      const runs = await server.api.flowRuns.list.query({});
      expect(runs.map((r) => [r.id, r.idempotencyKey, r.parameters])).toEqual([[answers[0]?.id, 'nightly-2026-03-01', { day: 'mon' }]]);
      expect(await server.api.flowRuns.history.query({ id: runs[0]?.id as string })).toHaveLength(1);
    });
  });

  it('decides concurrent proposals on one run one after another: one RUNNING, one COMPLETED', async () => {
    await withApiServer(async (server) => {
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'contended' });
      const run = await server.api.flowRuns.create.mutate({ deployment: 'etl/contended' });
      expect((await server.api.flowRuns.setState.mutate({ flowRunId: run.id, state: { type: 'PENDING' } })).status).toBe('ACCEPT');
      const proposeAtOnce = (type: StateType) =>
        Promise.all(Array.from({ length: 20 }, () => server.client({ batch: false }).flowRuns.setState.mutate({ flowRunId: run.id, state: { type } })));
      // Each proposal is decided on the state the one before it wrote: a second RUNNING or
      // COMPLETED decided on a stale read would be accepted and written twice.
      expect((await proposeAtOnce('RUNNING')).filter((answer) => answer.status === 'ACCEPT')).toHaveLength(1);
      expect((await proposeAtOnce('COMPLETED')).filter((answer) => answer.status === 'ACCEPT')).toHaveLength(1);
      const history = await server.api.flowRuns.history.query({ id: run.id });
      expect(history.map((state) => state.type)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED']);
      expect(await server.api.flowRuns.read.query({ id: run.id })).toMatchObject({ runCount: 1, state: { type: 'COMPLETED' } });
    });
  });
});

describe('concurrency limits under concurrent claims', () => {
  it('never exceeds a pool limit, and a freed slot is claimable again', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'small', type: 'process', concurrencyLimit: 3 });
      const { deployment } = await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'small' });
      await createRuns(api, 'etl/a', 12);

      const first = claimedIds(await claimConcurrently(server, { workPoolName: 'small', workers: 8, limit: 2 }));
      expect(first).toHaveLength(3);
      expect(new Set(first).size).toBe(3);
      expect((await statesOf(api, deployment.id)).PENDING?.sort()).toEqual([...first].sort());

      // RUNNING still holds a slot; COMPLETED frees it.
      await api.flowRuns.setState.mutate({ flowRunId: first[0] as string, state: { type: 'RUNNING' } });
      expect(claimedIds(await claimConcurrently(server, { workPoolName: 'small', workers: 8, limit: 2 }))).toEqual([]);
      await api.flowRuns.setState.mutate({ flowRunId: first[0] as string, state: { type: 'COMPLETED' } });
      await complete(api, first[1] as string);

      const second = claimedIds(await claimConcurrently(server, { workPoolName: 'small', workers: 8, limit: 25 }));
      expect(second).toHaveLength(2);
      const states = await statesOf(api, deployment.id);
      expect([states.PENDING?.length, states.RUNNING?.length, states.COMPLETED?.length, states.SCHEDULED?.length]).toEqual([3, undefined, 2, 7]);
    });
  });

  it("never exceeds a queue limit, while the pool's other queues are served in full", async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'mixed', type: 'process' });
      await api.workQueues.create.mutate({ workPoolName: 'mixed', name: 'gpu', concurrencyLimit: 2 });
      const gpu = (await api.deployments.upsert.mutate({ flowName: 'train', name: 'gpu', workPoolName: 'mixed', workQueueName: 'gpu' })).deployment;
      const cpu = (await api.deployments.upsert.mutate({ flowName: 'etl', name: 'cpu', workPoolName: 'mixed' })).deployment;
      await createRuns(api, 'train/gpu', 10);
      await createRuns(api, 'etl/cpu', 10);

      const claimed = claimedIds(await claimConcurrently(server, { workPoolName: 'mixed', workers: 8, limit: 3 }));
      expect(claimed).toHaveLength(12);
      expect((await statesOf(api, gpu.id)).PENDING).toHaveLength(2);
      expect((await statesOf(api, cpu.id)).PENDING).toHaveLength(10);

      const [done] = (await statesOf(api, gpu.id)).PENDING ?? [];
      await complete(api, done as string);
      const again = await claimConcurrently(server, { workPoolName: 'mixed', workers: 8, limit: 3 });
      const freed = [...again.values()].flat();
      expect(freed.map((r) => [r.deploymentName, r.workQueueName])).toEqual([['gpu', 'gpu']]);
      const states = await statesOf(api, gpu.id);
      expect([states.PENDING?.length, states.COMPLETED, states.SCHEDULED?.length]).toEqual([2, [done], 7]);
    });
  });

  it('leaves runs past an ENQUEUE deployment limit SCHEDULED, and gives them the freed slots', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'p', type: 'process' });
      const { deployment } = await api.deployments.upsert.mutate({ flowName: 'etl', name: 'queued', workPoolName: 'p', concurrencyLimit: 2 });
      await createRuns(api, 'etl/queued', 8);

      expect(claimedIds(await claimConcurrently(server, { workPoolName: 'p', workers: 8, limit: 1 }))).toHaveLength(2);
      const states = await statesOf(api, deployment.id);
      expect([states.PENDING?.length, states.SCHEDULED?.length]).toEqual([2, 6]);
      const waiting = await api.flowRuns.list.query({ deploymentId: deployment.id, states: ['SCHEDULED'] });
      expect(waiting.map((r) => [r.state.name, r.state.message])).toEqual(Array(6).fill(['Scheduled', null]));

      await complete(api, states.PENDING?.[0] as string);
      const next = claimedIds(await claimConcurrently(server, { workPoolName: 'p', workers: 8, limit: 5 }));
      expect(next).toHaveLength(1);
      // Oldest first: the freed slot goes to the earliest waiting run (by time, then id: concurrent creates have no other order).
      const [oldest] = [...waiting].sort((a, b) => a.expectedStartTime.localeCompare(b.expectedStartTime) || a.id.localeCompare(b.id));
      expect(next).toEqual([oldest?.id]);
      expect((await statesOf(api, deployment.id)).PENDING).toHaveLength(2);
    });
  });

  it('cancels runs past a CANCEL_NEW deployment limit, and claims new ones once a slot is free', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'p', type: 'process' });
      const { deployment } = await api.deployments.upsert.mutate({
        flowName: 'etl',
        name: 'single',
        workPoolName: 'p',
        concurrencyLimit: 2,
        concurrencyOptions: { collisionStrategy: 'CANCEL_NEW' },
      });
      await createRuns(api, 'etl/single', 8);

      const claimed = claimedIds(await claimConcurrently(server, { workPoolName: 'p', workers: 8, limit: 1 }));
      expect(claimed).toHaveLength(2);
      const cancelled = await api.flowRuns.list.query({ deploymentId: deployment.id, states: ['CANCELLED'] });
      expect(cancelled.map((r) => [r.state.name, r.state.message, r.workerName])).toEqual(
        Array(6).fill(['Cancelled', 'Deployment concurrency limit reached (2 of 2 slots in use)', null]),
      );
      expect((await statesOf(api, deployment.id)).PENDING?.sort()).toEqual([...claimed].sort());

      await complete(api, claimed[0] as string);
      // One after the other: concurrent creates have no defined order, and the first must come first.
      const fresh = (await api.flowRuns.create.mutate({ deployment: 'etl/single' })).id;
      await api.flowRuns.create.mutate({ deployment: 'etl/single' });
      const next = claimedIds(await claimConcurrently(server, { workPoolName: 'p', workers: 8, limit: 5 }));
      expect(next).toEqual([fresh]);
      const states = await statesOf(api, deployment.id);
      expect([states.PENDING?.length, states.COMPLETED?.length, states.CANCELLED?.length, states.SCHEDULED]).toEqual([2, 1, 7, undefined]);
    });
  });
});

describe('waiters on a run', () => {
  it('wake when a claim cancels the run at a CANCEL_NEW deployment limit', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'p', type: 'process' });
      await api.deployments.upsert.mutate({
        flowName: 'etl',
        name: 'one',
        workPoolName: 'p',
        concurrencyLimit: 1,
        concurrencyOptions: { collisionStrategy: 'CANCEL_NEW' },
      });
      const [first, second] = await createRuns(api, 'etl/one', 2);
      const started = performance.now();
      const waiting = server.client({ batch: false }).flowRuns.wait.query({ id: second as string, timeoutMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await api.workPools.claimRuns.mutate({ workPoolName: 'p', workerName: 'w', scheduledBefore: dueBy() })).map((r) => r.id)).toEqual([first]);
      expect((await waiting).state).toMatchObject({ type: 'CANCELLED', message: 'Deployment concurrency limit reached (1 of 1 slots in use)' });
      // Answered when the claim cancelled it, not when the 5 s wait ran out.
      expect(performance.now() - started).toBeLessThan(4000);
    });
  });
});

describe('which runs a claim returns', () => {
  it('serves queues in priority order, skips paused queues and gives nothing from a paused pool', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'prio', type: 'process' });
      await api.workQueues.create.mutate({ workPoolName: 'prio', name: 'low' });
      await api.workQueues.create.mutate({ workPoolName: 'prio', name: 'high', priority: 1 });
      expect((await api.workQueues.list.query({ workPoolName: 'prio' })).map((q) => [q.name, q.priority])).toEqual([
        ['high', 1],
        ['default', 2],
        ['low', 3],
      ]);
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'low', workPoolName: 'prio', workQueueName: 'low' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'high', workPoolName: 'prio', workQueueName: 'high' });
      const past = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
      // The low-priority runs are older, so only the queue priority puts the high ones first.
      for (const minutes of [30, 20, 10]) await api.flowRuns.create.mutate({ deployment: 'etl/low', scheduledTime: past(minutes) });
      for (const minutes of [3, 2, 1]) await api.flowRuns.create.mutate({ deployment: 'etl/high', scheduledTime: past(minutes) });

      const claim = (limit: number) => api.workPools.claimRuns.mutate({ workPoolName: 'prio', workerName: 'w', scheduledBefore: dueBy(), limit });
      const queuesOf = (runs: FlowRun[]) => runs.map((r) => r.workQueueName);
      expect(queuesOf(await claim(2))).toEqual(['high', 'high']);
      expect(queuesOf(await claim(2))).toEqual(['high', 'low']);

      await api.workQueues.update.mutate({ workPoolName: 'prio', name: 'high', changes: { isPaused: true } });
      await api.flowRuns.create.mutate({ deployment: 'etl/high', scheduledTime: past(1) });
      expect(queuesOf(await claim(1))).toEqual(['low']);

      await api.workPools.pause.mutate({ name: 'prio' });
      await api.workQueues.update.mutate({ workPoolName: 'prio', name: 'high', changes: { isPaused: false } });
      expect(await claim(10)).toEqual([]);
      await api.workPools.resume.mutate({ name: 'prio' });
      expect(queuesOf(await claim(10))).toEqual(['high', 'low']);
      expect(await claim(10)).toEqual([]);
    });
  });

  it('takes only runs due by scheduledBefore, oldest first, and only from the named queues', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'p', type: 'process' });
      await api.workQueues.create.mutate({ workPoolName: 'p', name: 'other' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'p' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'b', workPoolName: 'p', workQueueName: 'other' });
      const soon = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2000-01-01T00:00:02Z' });
      const sooner = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2000-01-01T00:00:01Z' });
      const later = await api.flowRuns.create.mutate({ deployment: 'etl/a', scheduledTime: '2999-01-01T00:00:00Z' });
      const elsewhere = await api.flowRuns.create.mutate({ deployment: 'etl/b', scheduledTime: '2000-01-01T00:00:00Z' });

      const claim = (workQueueNames?: string[]) =>
        api.workPools.claimRuns.mutate({ workPoolName: 'p', workQueueNames, workerName: 'w', scheduledBefore: dueBy() });
      expect((await claim(['default'])).map((r) => r.id)).toEqual([sooner.id, soon.id]);
      expect((await claim(['default'])).map((r) => r.id)).toEqual([]);
      expect((await claim()).map((r) => r.id)).toEqual([elsewhere.id]);
      expect((await api.flowRuns.read.query({ id: later.id })).state.type).toBe('SCHEDULED');
    });
  });
});

describe('long-poll claims', () => {
  it('answers a waiting claim as soon as a run is created in its pool', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'idle', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'idle' });
      const started = performance.now();
      const waiting = server
        .client({ batch: false })
        .workPools.claimRuns.mutate({ workPoolName: 'idle', workerName: 'w', scheduledBefore: dueBy(), waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const claimed = await waiting;
      const ms = performance.now() - started;
      expect(claimed.map((r) => [r.id, r.state.type, r.workerName])).toEqual([[run.id, 'PENDING', 'w']]);
      // Well under the 5 s wait: the creation woke the claim (it typically answers within ~150 ms).
      expect(ms).toBeLessThan(4000);
    });
  });

  it('is woken by a run created while it looks (in the same group commit), for workers and runners alike', { timeout: 10_000 }, async () => {
    await withApiServer(async (server) => {
      const { api, store } = server;
      await api.workPools.create.mutate({ name: 'idle', type: 'process' });
      const { deployment } = await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'idle' });
      // Called in one tick: each claim's look (finding nothing) and the create share a transaction,
      // and the create's announcement comes before the claim starts to wait. A claim that missed it
      // would wait out its minute and fail this test by its timeout.
      const worker = store.workPools.claimRuns({ workPoolName: 'idle', workerName: 'w', scheduledBefore: dueBy(), waitMs: 60_000 });
      const first = store.flowRuns.create({ deployment: 'etl/a' });
      expect((await worker).map((r) => r.id)).toEqual([(await first).id]);
      const runner = store.deployments.claimRuns({ deploymentIds: [deployment.id], workerName: 'r', scheduledBefore: dueBy(), waitMs: 60_000 });
      const second = store.flowRuns.create({ deployment: 'etl/a' });
      expect((await runner).map((r) => r.id)).toEqual([(await second).id]);
    });
  });

  it('is not woken by a run in another pool, and answers empty when the wait is over', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'idle', type: 'process' });
      await api.workPools.create.mutate({ name: 'busy', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'busy', workPoolName: 'busy' });
      const started = performance.now();
      const waiting = server
        .client({ batch: false })
        .workPools.claimRuns.mutate({ workPoolName: 'idle', workerName: 'w', scheduledBefore: dueBy(), waitMs: 600 });
      await api.flowRuns.create.mutate({ deployment: 'etl/busy' });
      expect(await waiting).toEqual([]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    });
  });

  it('wakes one waiting claimer per new run, not every claimer of the pool; nor a claimer of another queue', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await api.workQueues.create.mutate({ workPoolName: 'pool', name: 'other' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const hangUp = new AbortController();
      const client = server.client({ batch: false });
      const answered: string[][] = [];
      const claim = (workQueueNames?: string[]) =>
        client.workPools.claimRuns
          .mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: dueBy(), waitMs: 30_000, workQueueNames }, { signal: hangUp.signal })
          .then(
            (runs) => answered.push(runs.map((r) => r.id)),
            () => answered.push(['hung up']),
          );
      const waiting = [...Array.from({ length: 50 }, () => claim()), claim(['other'])];
      // Every claim is waiting once its empty look is done: a run of another pool's queue wakes none.
      while (server.store.events.listenerCount('runsAvailable') < 51) await new Promise((r) => setTimeout(r, 10));
      const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      while (answered.length < 1) await new Promise((r) => setTimeout(r, 10));
      // Give any wrongly woken claimer time to answer (each would answer [] within milliseconds).
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toEqual([[run.id]]);
      hangUp.abort();
      await Promise.all(waiting);
      expect(answered.filter((a) => a[0] === 'hung up')).toHaveLength(51 - 1);
    });
  });

  it('offers again at once what a claim took for a claimer that hung up meanwhile', async () => {
    await withApiServer(async (server) => {
      const { api } = server;
      await api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const run = await api.flowRuns.create.mutate({ deployment: 'etl/a' });
      // The claimer is gone by the time its claim is made (its signal aborted): nothing is handed out...
      const gone = AbortSignal.abort();
      expect(await server.store.workPools.claimRuns({ workPoolName: 'pool', workerName: 'gone', scheduledBefore: dueBy(), waitMs: 0 }, gone)).toEqual([]);
      // ...and the run is due again, not PENDING for a worker that will never launch it.
      expect((await api.flowRuns.read.query({ id: run.id })).state).toMatchObject({
        type: 'SCHEDULED',
        message: 'Its claimer hung up before it got the run: offered again',
      });
      const [taken] = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w', scheduledBefore: dueBy() });
      expect(taken?.id).toBe(run.id);
    });
  });
});
