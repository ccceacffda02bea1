// `drover server migrate-db`'s copy: a SQLite database with every kind of row, moved into an
// empty PostgreSQL database, must read back the same through the API of a server on each.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDroverError } from '@drover/schemas';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { copySqliteToPostgres } from './db/copyToPostgres.js';
import type { AppRouter } from './router.js';
import { type DroverServerOptions, startServer } from './server.js';
import { withEmptyDatabase } from './testPostgres.js';

const T0 = '2026-05-01T08:00:00.000Z';

async function withServer<T>(
  options: Pick<DroverServerOptions, 'databaseFile' | 'postgresUrl' | 'services'>,
  body: (api: TRPCClient<AppRouter>) => Promise<T>,
): Promise<T> {
  const server = await startServer({ ...options, port: 0, logger: pino({ level: 'silent' }), checkpointIntervalMs: 0, clock: new FakeClock(T0) });
  try {
    return await body(createTRPCClient<AppRouter>({ links: [httpLink({ url: server.url })] }));
  } finally {
    await server.close();
  }
}

/** Everything the API shows of a database, to compare two of them. */
async function everything(api: TRPCClient<AppRouter>) {
  const runs = await api.flowRuns.list.query({ page: { limit: 1000, offset: 0 } });
  return {
    flows: await api.flows.list.query({}),
    pools: await api.workPools.list.query(),
    queues: await api.workQueues.list.query({ workPoolName: 'pool' }),
    workers: await api.workers.list.query({ workPoolName: 'pool' }),
    deployments: await api.deployments.list.query({}),
    runs,
    histories: await Promise.all(runs.map((run) => api.flowRuns.history.query({ id: run.id }))),
    logs: await Promise.all(runs.map((run) => api.flowRuns.logs.query({ flowRunId: run.id }))),
  };
}

describe('copySqliteToPostgres', { timeout: 60_000 }, () => {
  it('copies every table, so a server on PostgreSQL shows what the one on SQLite showed, and goes on from there', async () => {
    const home = mkdtempSync(join(tmpdir(), 'drover-copy-'));
    const databaseFile = join(home, 'drover.db');
    try {
      // The scheduler runs on the SQLite server (its runs are copied too), not on PostgreSQL's, which must show the copy alone.
      const before = await withServer({ databaseFile }, async (api) => {
        await api.workPools.create.mutate({ name: 'pool', type: 'process', concurrencyLimit: 4 });
        await api.workQueues.create.mutate({ workPoolName: 'pool', name: 'urgent', priority: 1 });
        await api.workers.heartbeat.mutate({ workPoolName: 'pool', name: 'w1', heartbeatIntervalSeconds: 30 });
        await api.deployments.upsert.mutate({
          flowName: 'etl',
          name: 'nightly',
          workPoolName: 'pool',
          parameters: { zeta: 1, alpha: { nested: [1, 2] } },
          tags: ['prod'],
          schedules: [{ schedule: { cron: '0 2 * * *', timezone: 'Europe/London' }, slug: 'nightly' }],
        });
        const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => api.flowRuns.create.mutate({ deployment: 'etl/nightly', idempotencyKey: `k${i}` })));
        const [claimed] = await api.workPools.claimRuns.mutate({ workPoolName: 'pool', workerName: 'w1', scheduledBefore: T0, limit: 1 });
        await api.flowRuns.setState.mutate({ flowRunId: claimed?.id as string, claimToken: claimed?.claimToken, state: { type: 'RUNNING' } });
        await api.flowRuns.appendLogs.mutate(
          Array.from({ length: 3 }, (_, i) => ({ flowRunId: runs[0]?.id as string, level: 'info', message: `line ${i}`, timestamp: T0 })),
        );
        await api.flowRuns.cancel.mutate({ id: runs[4]?.id as string });
        // The scheduler's first pass (at start) makes the schedule's 3 runs: wait for them.
        while ((await api.flowRuns.list.query({ page: { limit: 100, offset: 0 } })).length < 8) await new Promise((r) => setTimeout(r, 20));
        return everything(api);
      });
      await withEmptyDatabase(async (postgresUrl) => {
        const progress: number[] = [];
        const counts = await copySqliteToPostgres(databaseFile, postgresUrl, ({ copied }) => progress.push(copied));
        expect(counts).toMatchObject({ flows: 1, work_pools: 1, work_queues: 2, workers: 1, deployments: 1, deployment_schedules: 1, flow_runs: 8, logs: 3 });
        expect(progress.at(-1)).toBe(Object.values(counts).reduce((a, b) => a + b, 0));
        await withServer({ postgresUrl, services: { enabled: [] } }, async (api) => {
          expect(await everything(api)).toEqual(before);
          // Identities go on after the copied ones: a new log line gets the next id.
          const runId = before.runs[0]?.id as string;
          await api.flowRuns.appendLogs.mutate([{ flowRunId: runId, level: 'info', message: 'after the move', timestamp: T0 }]);
          const logs = await api.flowRuns.logs.query({ flowRunId: runId });
          expect(logs.map((l) => l.id)).toEqual([1, 2, 3, 4]);
          // And an idempotency key used before the move still finds its run.
          expect((await api.flowRuns.create.mutate({ deployment: 'etl/nightly', idempotencyKey: 'k0' })).id).toBe(
            before.runs.find((r) => r.idempotencyKey === 'k0')?.id,
          );
        });
        // A second copy into the now non-empty database is refused, and writes nothing.
        const error = await copySqliteToPostgres(databaseFile, postgresUrl).catch((e: unknown) => e);
        expect(isDroverError(error, 'DATABASE_NOT_EMPTY')).toBe(true);
        const client = new pg.Client({ connectionString: postgresUrl });
        await client.connect();
        try {
          expect((await client.query('SELECT count(*)::int AS n FROM flow_runs')).rows[0].n).toBe(8);
        } finally {
          await client.end();
        }
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses a source file that does not exist, creating none', async () => {
    const home = mkdtempSync(join(tmpdir(), 'drover-copy-'));
    try {
      const error = await copySqliteToPostgres(join(home, 'missing.db'), 'postgres://postgres@127.0.0.1:5432/postgres').catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'VALIDATION_ERROR',
        message: `Invalid --from "${join(home, 'missing.db')}": expected an existing SQLite database file`,
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
