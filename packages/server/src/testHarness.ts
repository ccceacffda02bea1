// Test helpers (not exported from the package): a real server on an ephemeral port over a real
// SQLite file in a fresh temp folder, and a typed tRPC client to drive it.
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import type { Clock } from './clock.js';
import type { AppRouter } from './router.js';
import type { DroverServer } from './server.js';
import type { StoreSettings } from './store/storeContext.js';
import { withTemporaryServer } from './temporaryServer.js';

export interface TestServer extends DroverServer {
  readonly api: TRPCClient<AppRouter>;
  /** A client that sends each call alone (no batching), like separate processes would. */
  client(options?: { apiKey?: string; batch?: boolean }): TRPCClient<AppRouter>;
  readonly databaseFile: string;
}

export async function withApiServer<T>(
  run: (server: TestServer) => Promise<T>,
  options: { clock?: Clock; apiKey?: string; settings?: Partial<StoreSettings> } = {},
): Promise<T> {
  // Tests run service passes themselves, with the fake clock (services are off by default).
  return withTemporaryServer(
    (server) => {
      const client = ({ apiKey = options.apiKey, batch = true }: { apiKey?: string; batch?: boolean } = {}) => {
        const link = (batch ? httpBatchLink : httpLink)({ url: server.url, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
        return createTRPCClient<AppRouter>({ links: [link] });
      };
      return run({ ...server, api: client(), client });
    },
    { clock: options.clock, apiKey: options.apiKey, settings: options.settings },
  );
}

/** Every row of every table, to prove a failed request wrote nothing. */
export function snapshot(server: DroverServer): Record<string, unknown[]> {
  const sqlite = server.store.db.$client;
  const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
  return Object.fromEntries(tables.map(({ name }) => [name, sqlite.prepare(`SELECT * FROM "${name}"`).all()]));
}
