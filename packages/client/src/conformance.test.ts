/**
 * The SDK against tRPC's own links: `DroverClient` (its own batching link, rpcLink.ts) and tRPC's
 * `httpLink` and `httpBatchLink` get the same data from every kind of procedure of a real server,
 * and the same error (JSON-RPC code, HTTP status, tRPC code, Drover code, message) from every kind
 * of failure, the SDK's as a DroverError with that code. packages/server/src/conformance.test.ts
 * holds the server to tRPC's own adapter; this holds the SDK to tRPC's own clients.
 */
import { isDroverError } from '@drover/schemas';
import { type AppRouter, withTemporaryServer } from '@drover/server';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient, TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { DroverClient } from './api.js';

type Outcome = { data: unknown } | { error: Record<string, unknown> };

/** The fields of an error every client exposes, from the tRPC error itself or the one an SDK error wraps. */
function errorFields(error: unknown): Record<string, unknown> {
  const trpc = error instanceof TRPCClientError ? error : (error as { cause?: unknown }).cause;
  if (!(trpc instanceof TRPCClientError)) throw error;
  const data = (trpc.data ?? {}) as Record<string, unknown>;
  return {
    message: (error as Error).message,
    jsonRpcCode: (trpc.shape as { code?: number } | undefined)?.code,
    code: data.code,
    httpStatus: data.httpStatus,
    droverCode: data.droverCode,
  };
}

async function outcome(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { data: await call() };
  } catch (error) {
    const fields = errorFields(error);
    if (!(error instanceof TRPCClientError)) {
      // The SDK's error: a DroverError whose code is the server's Drover code.
      expect(isDroverError(error, fields.droverCode as never), `the SDK's error for ${fields.droverCode} is a DroverError with that code`).toBe(true);
    }
    return { error: fields };
  }
}

type Calls = { sdk: (c: DroverClient) => Promise<unknown>; trpc: (t: TRPCClient<AppRouter>) => Promise<unknown> };

/** One call through the SDK and through both of tRPC's links: one outcome from all three. */
async function same(url: string, calls: Calls, apiKey?: string): Promise<Outcome> {
  const headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const sdk = new DroverClient({ apiUrl: url, apiKey: apiKey ?? '' });
  const sdkOutcome = await outcome(() => calls.sdk(sdk));
  for (const [name, link] of [
    ['httpLink', httpLink],
    ['httpBatchLink', httpBatchLink],
  ] as const) {
    const trpc = createTRPCClient<AppRouter>({ links: [link({ url, headers })] });
    expect(await outcome(() => calls.trpc(trpc)), `tRPC's ${name} against the SDK`).toEqual(sdkOutcome);
  }
  return sdkOutcome;
}

describe('DroverClient and tRPC links get the same answers', () => {
  it('for every kind of procedure and every kind of error', async () => {
    await withTemporaryServer(async ({ url }) => {
      const sdk = new DroverClient({ apiUrl: url, apiKey: '' });
      await sdk.workPools.create({ name: 'local', type: 'process' });
      await sdk.deployments.upsert({ flowName: 'etl', name: 'nightly', entrypoint: 'flows/etl.ts:etl', workPoolName: 'local' });
      const run = await sdk.flowRuns.create({ deployment: 'etl/nightly' });

      expect(await same(url, { sdk: (c) => c.health(), trpc: (t) => t.health.query() })).toEqual({ data: { status: 'ok' } });
      expect(await same(url, { sdk: (c) => c.workPools.list(), trpc: (t) => t.workPools.list.query() })).toMatchObject({ data: [{ name: 'local' }] });
      expect(await same(url, { sdk: (c) => c.workPools.read('local'), trpc: (t) => t.workPools.read.query({ name: 'local' }) })).toMatchObject({
        data: { name: 'local' },
      });
      expect(await same(url, { sdk: (c) => c.flows.createOrRead({ name: 'etl' }), trpc: (t) => t.flows.createOrRead.mutate({ name: 'etl' }) })).toMatchObject({
        data: { name: 'etl' },
      });
      expect(await same(url, { sdk: (c) => c.flowRuns.wait(run.id, 20), trpc: (t) => t.flowRuns.wait.query({ id: run.id, timeoutMs: 20 }) })).toMatchObject({
        data: { id: run.id, state: { type: 'SCHEDULED' } },
      });

      expect(await same(url, { sdk: (c) => c.workPools.read('missing'), trpc: (t) => t.workPools.read.query({ name: 'missing' }) })).toEqual({
        error: { message: expect.stringContaining('"missing"'), jsonRpcCode: -32004, code: 'NOT_FOUND', httpStatus: 404, droverCode: 'WORK_POOL_NOT_FOUND' },
      });
      const badType = 'nope' as 'process';
      expect(
        await same(url, { sdk: (c) => c.workPools.create({ name: 'p', type: badType }), trpc: (t) => t.workPools.create.mutate({ name: 'p', type: badType }) }),
      ).toEqual({
        error: {
          message: expect.stringMatching(/^Invalid input to workPools\.create: type: /),
          jsonRpcCode: -32600,
          code: 'BAD_REQUEST',
          httpStatus: 400,
          droverCode: 'VALIDATION_ERROR',
        },
      });
    });
  });

  it('for a call without the API key', async () => {
    await withTemporaryServer(
      async ({ url }) => {
        const calls: Calls = { sdk: (c) => c.workPools.list(), trpc: (t) => t.workPools.list.query() };
        expect(await same(url, calls, 'wrong')).toEqual({
          error: {
            message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>',
            jsonRpcCode: -32001,
            code: 'UNAUTHORIZED',
            httpStatus: 401,
            droverCode: 'UNAUTHORIZED',
          },
        });
        expect(await same(url, calls, 's3cret')).toEqual({ data: [] });
      },
      { apiKey: 's3cret' },
    );
  });
});
