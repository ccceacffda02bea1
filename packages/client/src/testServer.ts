// Test helpers (not exported): a real Drover server over a fresh SQLite file with an SDK client for it, and a port where none listens.
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { type DroverServer, withTemporaryServer } from '@drover/server';
import { DroverClient } from './api.js';

export function withSdkServer<T>(run: (server: DroverServer, client: DroverClient) => Promise<T>): Promise<T> {
  return withTemporaryServer((server) => run(server, new DroverClient({ apiUrl: server.url, apiKey: '' })));
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
