// Test helper (not exported): a real Drover server on an ephemeral port over a fresh SQLite file,
// and an SDK client for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DroverServer, startServer } from '@drover/server';
import { pino } from 'pino';
import { DroverClient } from './api.js';

export async function withServer<T>(run: (server: DroverServer, client: DroverClient) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'drover-client-test-'));
  const server = await startServer({
    databaseFile: join(home, 'drover.db'),
    port: 0,
    logger: pino({ level: 'silent' }),
    checkpointIntervalMs: 0,
    services: { enabled: [] },
  });
  try {
    return await run(server, new DroverClient({ apiUrl: server.url, apiKey: '' }));
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}
