// Clients across replicas: a client given several servers asks the next when one cannot be
// reached, and a create whose answer was lost is sent again without making a second run. Real
// servers; the replica that dies and the network that drops an answer are a TCP proxy in front of one.
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { isDroverError } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { DroverClient } from './api.js';
import { closedPort, withSdkServer } from './testServer.js';

/** A TCP proxy to `target`: `dropAnswers` answers are cut off as they start (the server did the call; the client never hears it), and `close()` makes it refuse. */
async function proxyTo(target: string) {
  const upstreamUrl = new URL(target);
  const sockets = new Set<Socket>();
  const state = { dropAnswers: 0, connections: 0 };
  const server = createServer((client) => {
    state.connections++;
    const upstream = connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (state.dropAnswers > 0) {
        state.dropAnswers--;
        client.destroy();
        return;
      }
      client.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: async () => {
      server.close();
      for (const socket of sockets) socket.destroy();
      await once(server, 'close');
    },
  };
}

describe('a client of several servers', { timeout: 60_000 }, () => {
  it('asks the next server when one refuses, and stays with the one that answered', async () => {
    await withSdkServer(async (a) => {
      await withSdkServer(async (b) => {
        const toA = await proxyTo(a.url);
        const client = new DroverClient({ apiUrl: `${toA.url}, ${b.url}/`, apiKey: '' });
        expect(client.apiUrl).toBe(`${toA.url},${b.url}`);
        await client.workPools.create({ name: 'on-a', type: 'process' });
        // Server A goes away: the same client now works with B, which has never heard of pool on-a.
        await toA.close();
        expect((await client.workPools.list()).map((pool) => pool.name)).toEqual([]);
        await client.workPools.create({ name: 'on-b', type: 'process' });
        const direct = (server: { url: string }) => new DroverClient({ apiUrl: server.url, apiKey: '' });
        expect((await direct(a).workPools.list()).map((pool) => pool.name)).toEqual(['on-a']);
        expect((await direct(b).workPools.list()).map((pool) => pool.name)).toEqual(['on-b']);
      });
    });
  });

  it('starts with a server that answers when the first one listed is down', async () => {
    await withSdkServer(async (server) => {
      const client = new DroverClient({ apiUrl: `http://127.0.0.1:${await closedPort()},${server.url}`, apiKey: '' });
      expect(await client.health()).toEqual({ status: 'ok' });
    });
  });

  it('fails with SERVER_UNREACHABLE naming the servers when none answers', async () => {
    const urls = `http://127.0.0.1:${await closedPort()},http://127.0.0.1:${await closedPort()}`;
    const error = await new DroverClient({ apiUrl: urls, apiKey: '' }).health().catch((e: unknown) => e);
    expect(isDroverError(error, 'SERVER_UNREACHABLE')).toBe(true);
    expect((error as Error).message).toContain(`Cannot reach the Drover server at ${urls} (connection refused)`);
  });

  it('sends a create again after its answer was lost, and the server makes one run', async () => {
    await withSdkServer(async (server, direct) => {
      await direct.workPools.create({ name: 'p', type: 'process' });
      await direct.deployments.upsert({ flowName: 'etl', name: 'daily', workPoolName: 'p' });
      const proxy = await proxyTo(server.url);
      try {
        const client = new DroverClient({ apiUrl: proxy.url, apiKey: '' });
        proxy.state.dropAnswers = 1;
        const run = await client.flowRuns.create({ deployment: 'etl/daily' });
        expect(proxy.state.dropAnswers).toBe(0); // the first answer was cut off
        expect(run.idempotencyKey).toMatch(/^drover-sdk-[0-9a-f-]{36}$/);
        expect((await direct.flowRuns.list({ flowName: 'etl' })).map((r) => r.id)).toEqual([run.id]);
        // A key the caller chose is the one sent.
        const keyed = await client.flowRuns.create({ deployment: 'etl/daily', idempotencyKey: 'mine' });
        expect(keyed.idempotencyKey).toBe('mine');
      } finally {
        await proxy.close();
      }
    });
  });

  it('does not send again a mutation that may have been done, when doing it twice is not harmless', async () => {
    await withSdkServer(async (server, direct) => {
      const proxy = await proxyTo(server.url);
      try {
        const client = new DroverClient({ apiUrl: proxy.url, apiKey: '' });
        proxy.state.dropAnswers = 1;
        const error = await client.workPools.create({ name: 'once', type: 'process' }).catch((e: unknown) => e);
        // Sent again, it would have been refused as a pool that exists; the caller hears the lost answer instead.
        expect(isDroverError(error, 'SERVER_UNREACHABLE')).toBe(true);
        expect((await direct.workPools.list()).map((pool) => pool.name)).toEqual(['once']);
      } finally {
        await proxy.close();
      }
    });
  });
});
