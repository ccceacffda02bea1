// Several servers on one PostgreSQL database, in one process: what crosses between them is only
// the database (NOTIFY for wake-ups, an advisory lock for the services), as between machines.
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AppRouter } from './router.js';
import { type DroverServer, type DroverServerOptions, startServer } from './server.js';
import type { PostgresStore } from './store/postgresStore.js';
import { withTestDatabase } from './testPostgres.js';

type Replica = DroverServer & { api: TRPCClient<AppRouter> };

/** `count` (2 or more) servers on one fresh database. */
async function withReplicas<T>(
  count: number,
  body: (replicas: [Replica, Replica, ...Replica[]]) => Promise<T>,
  options: Partial<DroverServerOptions> = {},
): Promise<T> {
  return withTestDatabase(async (postgresUrl) => {
    const replicas: Replica[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const server = await startServer({ postgresUrl, port: 0, logger: pino({ level: 'silent' }), services: { enabled: [] }, ...options });
        replicas.push({ ...server, api: createTRPCClient<AppRouter>({ links: [httpLink({ url: server.url })] }) });
      }
      return await body(replicas as [Replica, Replica, ...Replica[]]);
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
}

const dueBy = () => new Date(Date.now() + 10_000).toISOString();

/** Creates `n` runs of etl/a, spread over the servers; their ids. */
async function createRuns(replicas: readonly Replica[], n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, j) =>
        (replicas[(i + j) % replicas.length] as Replica).api.flowRuns.create.mutate({ deployment: 'etl/a' }),
      ),
    );
    ids.push(...chunk.map((run) => run.id));
  }
  return ids;
}

/** `claimers` workers, spread over the servers, each claiming until it gets nothing; what each got, through which server. */
async function claimUntilDry(replicas: readonly Replica[], claimers: number, input: { workPoolName: string; limit: number }) {
  return Promise.all(
    Array.from({ length: claimers }, async (_, i) => {
      const replica = i % replicas.length;
      const api = (replicas[replica] as Replica).api;
      const runs: { id: string }[] = [];
      for (;;) {
        const got = await api.workPools.claimRuns.mutate({ ...input, workerName: `worker-${i}`, scheduledBefore: dueBy() });
        if (got.length === 0) return { replica, runs };
        expect(got.length).toBeLessThanOrEqual(input.limit);
        runs.push(...got);
      }
    }),
  );
}

describe('servers on one PostgreSQL database', { timeout: 30_000 }, () => {
  it('wakes a worker long-polling one server when a run is created through another', async () => {
    await withReplicas(2, async ([a, b]) => {
      await a.api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await a.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      // The claim waits up to 60 s: only a wake-up from server A's create answers it within the test's 30 s.
      const claim = b.api.workPools.claimRuns.mutate({
        workPoolName: 'pool',
        workerName: 'w1',
        scheduledBefore: new Date(Date.now() + 60_000).toISOString(),
        waitMs: 60_000,
      });
      while (b.store.events.listenerCount('runsAvailable') === 0) await new Promise((r) => setTimeout(r, 5));
      const run = await a.api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const claimed = await claim;
      expect(claimed.map((r) => r.id)).toEqual([run.id]);
    });
  });

  it('answers a wait on one server when the run ends through another', async () => {
    await withReplicas(2, async ([a, b]) => {
      await a.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      const run = await a.api.flowRuns.create.mutate({ deployment: 'etl/a' });
      const waited = b.api.flowRuns.wait.query({ id: run.id, timeoutMs: 60_000 });
      while (b.store.events.listenerCount('runStateChanged') === 0) await new Promise((r) => setTimeout(r, 5));
      await a.api.flowRuns.cancel.mutate({ id: run.id });
      expect((await waited).state.type).toBe('CANCELLED');
    });
  });

  it('runs the services on one server at a time, and another takes over when it stops', async () => {
    await withReplicas(
      3,
      async (replicas) => {
        const leaders = async () => {
          // Each follower tries the lock every 2 s; wait until one holds it.
          for (let i = 0; i < 100; i++) {
            const running = replicas.filter((r) => r.services.scheduler.state === 'running');
            if (running.length > 0) return running;
            await new Promise((r) => setTimeout(r, 100));
          }
          return [];
        };
        const first = await leaders();
        expect(first).toHaveLength(1);
        const [leader] = first as [Replica];
        await leader.close();
        const rest = replicas.filter((r) => r !== leader);
        // The next one is elected within 15 s (a try every 2 s).
        let next: Replica[] = [];
        for (let i = 0; i < 150 && next.length === 0; i++) {
          next = rest.filter((r) => r.services.scheduler.state === 'running');
          if (next.length === 0) await new Promise((r) => setTimeout(r, 100));
        }
        expect(next).toHaveLength(1);
      },
      { services: { enabled: ['scheduler'] } },
    );
  });

  it('hands each of 2,000 due runs to exactly one of 8 claimers spread over 3 servers', async () => {
    await withReplicas(3, async (replicas) => {
      const [a] = replicas;
      await a.api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await a.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      const created = await createRuns(replicas, 2000);
      const claimed = await claimUntilDry(replicas, 8, { workPoolName: 'pool', limit: 25 });
      const ids = claimed.flatMap(({ runs }) => runs.map((run) => run.id));
      expect(ids).toHaveLength(2000);
      expect(new Set(ids).size).toBe(2000);
      expect([...ids].sort()).toEqual([...created].sort());
      // Every server handed out runs, each claim its own transaction on the shared database.
      expect(new Set(claimed.filter(({ runs }) => runs.length > 0).map(({ replica }) => replica)).size).toBe(3);
    });
  }, 120_000);

  it.each([
    ['a pool', { pool: 7 }, 7],
    ['a queue', { queue: 5 }, 5],
    ['a deployment', { deployment: 4 }, 4],
  ] as const)('holds %s concurrency limit across servers claiming at once', async (_, limits, expected) => {
    await withReplicas(3, async (replicas) => {
      const [a] = replicas;
      await a.api.workPools.create.mutate({ name: 'pool', type: 'process', concurrencyLimit: 'pool' in limits ? limits.pool : undefined });
      if ('queue' in limits) await a.api.workQueues.update.mutate({ workPoolName: 'pool', name: 'default', changes: { concurrencyLimit: limits.queue } });
      await a.api.deployments.upsert.mutate({
        flowName: 'etl',
        name: 'a',
        workPoolName: 'pool',
        concurrencyLimit: 'deployment' in limits ? limits.deployment : undefined,
      });
      await createRuns(replicas, 200);
      const claimed = await claimUntilDry(replicas, 8, { workPoolName: 'pool', limit: 3 });
      expect(claimed.flatMap(({ runs }) => runs)).toHaveLength(expected);
    });
  });

  it("reads the metrics' gauges from the shared database, the same on every server", async () => {
    await withReplicas(2, async ([a, b]) => {
      await a.api.workPools.create.mutate({ name: 'pool', type: 'process', concurrencyLimit: 3 });
      await a.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool', concurrencyLimit: 2 });
      for (let i = 0; i < 4; i++) await b.api.flowRuns.create.mutate({ deployment: 'etl/a' });
      await a.api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: dueBy(), limit: 1 });
      for (const server of [a, b]) {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        const sample = (name: string) =>
          Number(
            text
              .split('\n')
              .find((line) => line.startsWith(`${name} `))
              ?.split(' ')[1],
          );
        expect(sample('drover_flow_runs{state="SCHEDULED"}')).toBe(3);
        expect(sample('drover_flow_runs{state="PENDING"}')).toBe(1);
        expect(sample('drover_work_queue_due_runs{pool="pool",queue="default"}')).toBe(3);
        expect(sample('drover_concurrency_slots_in_use{scope="pool",name="pool"}')).toBe(1);
        expect(sample('drover_concurrency_slots_in_use{scope="deployment",name="etl/a"}')).toBe(1);
        expect(sample('drover_concurrency_slots_limit{scope="deployment",name="etl/a"}')).toBe(2);
      }
    });
  });

  it('carries wake-ups again after the database drops the listening connection', async () => {
    await withReplicas(2, async ([a, b]) => {
      await a.api.workPools.create.mutate({ name: 'pool', type: 'process' });
      await a.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a', workPoolName: 'pool' });
      // As a database restart or a network cut would: every server's LISTEN connection is ended.
      const pool = (a.store as PostgresStore).db.$client;
      const { rowCount } = await pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'drover-events' AND datname = current_database()",
      );
      expect(rowCount).toBe(2);
      // B listens again within a few seconds (0.25 s first): until then a created run's wake-up may be lost, so create until one lands.
      const claim = b.api.workPools.claimRuns.mutate({
        workPoolName: 'pool',
        workerName: 'w1',
        scheduledBefore: new Date(Date.now() + 60_000).toISOString(),
        waitMs: 60_000,
      });
      let claimed: Awaited<typeof claim> | undefined;
      void claim.then((runs) => {
        claimed = runs;
      });
      for (let i = 0; i < 50 && claimed === undefined; i++) {
        await a.api.flowRuns.create.mutate({ deployment: 'etl/a' });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(claimed).toHaveLength(1);
    });
  });
});
