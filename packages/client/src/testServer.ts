// Test helper (not exported): a real Drover server over a fresh SQLite file, and an SDK client for it.
import { type DroverServer, withTemporaryServer } from '@drover/server';
import { DroverClient } from './api.js';

export function withSdkServer<T>(run: (server: DroverServer, client: DroverClient) => Promise<T>): Promise<T> {
  return withTemporaryServer((server) => run(server, new DroverClient({ apiUrl: server.url, apiKey: '' })));
}
