/**
 * Conformance with tRPC's protocol: the Drover server answers from a hand-written handler
 * (rpcHandler.ts, and `GET /health` in http.ts) rather than tRPC's adapter. Here the same router
 * and the same store are also served by tRPC's own standalone adapter, the reference, and tRPC's
 * own `httpLink` and `httpBatchLink` call both: every kind of procedure must give the same data,
 * and every kind of error the same shape (JSON-RPC code, HTTP status, tRPC code, Drover code,
 * message, issues, path), on both servers and through both links. So the handler cannot drift from
 * what tRPC clients expect. (The SDK's `DroverClient` is held to the same answers in
 * packages/client/src/conformance.test.ts: the client depends on this package, not the reverse.)
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient, TRPCClientError } from '@trpc/client';
import { TRPCError } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { describe, expect, it } from 'vitest';
import { type AppRouter, appRouter } from './router.js';
import { type TestServer, withApiServer } from './testHarness.js';

type Api = TRPCClient<AppRouter>;
type Outcome = { data: unknown } | { error: Record<string, unknown> };

/** What a caller can see of an answer: the data, or every field of the error a client reads. */
async function outcome(call: Promise<unknown>): Promise<Outcome> {
  try {
    return { data: await call };
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    const data = (error.data ?? {}) as Record<string, unknown>;
    return {
      error: {
        class: error.name,
        message: error.message,
        jsonRpcCode: (error.shape as { code?: number } | undefined)?.code,
        code: data.code,
        httpStatus: data.httpStatus,
        droverCode: data.droverCode,
        issues: data.issues,
        details: data.details,
        path: data.path,
      },
    };
  }
}

/** tRPC's standalone adapter serving Drover's router over the same store, with the same API key rule. */
async function startReference(server: TestServer, apiKey?: string): Promise<{ url: string; close: () => Promise<void> }> {
  const http: Server = createHTTPServer({
    router: appRouter,
    createContext: ({ req }) => {
      if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>' });
      }
      return { store: server.store };
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve, reject) => http.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** Every server × link combination, named. */
function clients(urls: { drover: string; reference: string }, apiKey?: string): [string, Api][] {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return (['drover', 'reference'] as const).flatMap((server) =>
    (
      [
        ['httpLink', httpLink],
        ['httpBatchLink', httpBatchLink],
      ] as const
    ).map(([name, link]): [string, Api] => [`${server} server, ${name}`, createTRPCClient<AppRouter>({ links: [link({ url: urls[server], headers })] })]),
  );
}

/** Runs `call` through every client, one after the other, and expects one outcome from all. */
async function sameEverywhere(all: [string, Api][], call: (api: Api) => Promise<unknown>): Promise<Outcome> {
  const outcomes: [string, Outcome][] = [];
  for (const [name, api] of all) outcomes.push([name, await outcome(call(api))]);
  const [first] = outcomes as [[string, Outcome]];
  for (const [name, got] of outcomes) expect(got, `${name} against ${first[0]}`).toEqual(first[1]);
  return first[1];
}

/** A Drover server and the reference beside it, over one store; `body` gets a client of each through each link. */
async function withBoth<T>(
  body: (all: [string, Api][], server: TestServer, urls: { drover: string; reference: string }) => Promise<T>,
  apiKey?: string,
): Promise<T> {
  return withApiServer(
    async (server) => {
      const reference = await startReference(server, apiKey);
      const urls = { drover: server.url, reference: reference.url };
      try {
        return await body(clients(urls, apiKey), server, urls);
      } finally {
        await reference.close();
      }
    },
    apiKey ? { apiKey } : {},
  );
}

describe("the Drover server speaks tRPC's protocol, as tRPC's own adapter does", () => {
  it('answers every kind of procedure with the same data through httpLink and httpBatchLink', async () => {
    await withBoth(async (all, { api }) => {
      await api.workPools.create.mutate({ name: 'local', type: 'process' });
      await api.deployments.upsert.mutate({ flowName: 'etl', name: 'nightly', entrypoint: 'flows/etl.ts:etl', workPoolName: 'local' });
      const run = await api.flowRuns.create.mutate({ deployment: 'etl/nightly' });

      // A query without input; `health` is also what `GET /health` answers for load balancers.
      expect(await sameEverywhere(all, (c) => c.health.query())).toEqual({ data: { status: 'ok' } });
      expect(await sameEverywhere(all, (c) => c.version.query())).toMatchObject({ data: { version: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
      expect(await sameEverywhere(all, (c) => c.workPools.list.query())).toMatchObject({ data: [{ name: 'local', type: 'process' }] });
      // A query with input.
      expect(await sameEverywhere(all, (c) => c.workPools.read.query({ name: 'local' }))).toMatchObject({ data: { name: 'local' } });
      // A mutation (createOrRead gives the same row each time, so every client sees the same data).
      expect(await sameEverywhere(all, (c) => c.flows.createOrRead.mutate({ name: 'etl' }))).toMatchObject({ data: { name: 'etl' } });
      // A long-poll that times out with the run as it is.
      expect(await sameEverywhere(all, (c) => c.flowRuns.wait.query({ id: run.id, timeoutMs: 20 }))).toMatchObject({
        data: { id: run.id, state: { type: 'SCHEDULED' } },
      });
    });
  });

  it('fails with the same error shapes: a domain error, a zod input error, an unknown run', async () => {
    await withBoth(async (all) => {
      expect(await sameEverywhere(all, (c) => c.workPools.read.query({ name: 'missing' }))).toEqual({
        error: {
          class: 'TRPCClientError',
          message: expect.stringContaining('"missing"'),
          jsonRpcCode: -32004,
          code: 'NOT_FOUND',
          httpStatus: 404,
          droverCode: 'WORK_POOL_NOT_FOUND',
          issues: [],
          details: expect.any(Object),
          path: 'workPools.read',
        },
      });
      expect(await sameEverywhere(all, (c) => c.flowRuns.read.query({ id: '01a234db-0000-7000-8000-000000000000' }))).toMatchObject({
        error: { jsonRpcCode: -32004, code: 'NOT_FOUND', httpStatus: 404, droverCode: 'FLOW_RUN_NOT_FOUND', path: 'flowRuns.read' },
      });
      // A zod input error, on a mutation and on a query.
      const badType = 'nope' as 'process';
      expect(await sameEverywhere(all, (c) => c.workPools.create.mutate({ name: 'p', type: badType }))).toMatchObject({
        error: {
          message: expect.stringMatching(/^Invalid input to workPools\.create: /),
          jsonRpcCode: -32600,
          code: 'BAD_REQUEST',
          httpStatus: 400,
          droverCode: 'VALIDATION_ERROR',
          issues: [expect.objectContaining({ path: 'type' })],
          path: 'workPools.create',
        },
      });
      const badName = 42 as unknown as string;
      expect(await sameEverywhere(all, (c) => c.workPools.read.query({ name: badName }))).toMatchObject({
        error: { code: 'BAD_REQUEST', httpStatus: 400, droverCode: 'VALIDATION_ERROR', issues: [expect.objectContaining({ path: 'name' })] },
      });
    });
  });

  it('refuses a call without the API key the same way (401) when one is set', async () => {
    await withBoth(async (withKey, _server, urls) => {
      const refused = {
        error: expect.objectContaining({
          message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>',
          jsonRpcCode: -32001,
          code: 'UNAUTHORIZED',
          httpStatus: 401,
          droverCode: 'UNAUTHORIZED',
        }),
      };
      for (const key of ['wrong', undefined]) {
        const refusedClients = clients(urls, key);
        expect(await sameEverywhere(refusedClients, (c) => c.workPools.list.query()), `with API key ${key}`).toEqual(refused);
        expect(await sameEverywhere(refusedClients, (c) => c.flows.createOrRead.mutate({ name: 'etl' })), `with API key ${key}`).toEqual(refused);
      }
      // With the key, the same calls go through.
      expect(await sameEverywhere(withKey, (c) => c.workPools.list.query())).toEqual({ data: [] });
    }, 's3cret');
  });
});
