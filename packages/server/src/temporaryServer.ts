import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type DroverServer, type DroverServerOptions, startServer } from './server.js';

/**
 * Runs `body` against a real server on a free port over a fresh SQLite file in a temp folder (or
 * the PostgreSQL database `postgresUrl`, which the caller made), then stops it and deletes the
 * folder. For tests and benchmarks: quiet, no background services unless asked for.
 */
export async function withTemporaryServer<T>(
  body: (server: DroverServer & { databaseFile: string }) => Promise<T>,
  options: Partial<Omit<DroverServerOptions, 'databaseFile' | 'port'>> = {},
): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'drover-'));
  const databaseFile = join(home, 'drover.db');
  const server = await startServer({
    logger: pino({ level: 'silent' }),
    checkpointIntervalMs: 0,
    services: { enabled: [] },
    ...options,
    databaseFile: options.postgresUrl === undefined ? databaseFile : undefined,
    port: 0,
  });
  try {
    return await body({ ...server, databaseFile });
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}
