// Test helpers (not exported from the package): a real server on an ephemeral port over a real
// SQLite file in a fresh temp folder, or a fresh PostgreSQL database when the tests run on
// PostgreSQL (vitest.postgres.config.ts sets DROVER_TEST_STORE=postgres), and a typed tRPC client.
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import type { Clock } from './clock.js';
import type { AppRouter } from './router.js';
import type { DroverServer } from './server.js';
import { PostgresStore } from './store/postgresStore.js';
import { SqliteStore } from './store/store.js';
import type { StoreSettings } from './store/storeContext.js';
import { withTemporaryServer } from './temporaryServer.js';
import { withTestDatabase } from './testPostgres.js';

/** The store these tests run on: one suite, run once per store. */
const TEST_STORE: 'sqlite' | 'postgres' = process.env.DROVER_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** `withTemporaryServer` on the store under test: a fresh database of its own either way. */
export const withTestServer: typeof withTemporaryServer = (body, options = {}) =>
  TEST_STORE === 'postgres' ? withTestDatabase((postgresUrl) => withTemporaryServer(body, { ...options, postgresUrl })) : withTemporaryServer(body, options);

/** The SQLite store of a server, for the SQLite-only tests (the file, its WAL, its query plans). */
export function sqliteStoreOf(server: DroverServer): SqliteStore {
  if (!(server.store instanceof SqliteStore)) throw new Error('This test needs the SQLite store');
  return server.store;
}

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
  return withTestServer(
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

/** Every row of every table, in primary key order, to prove a failed request wrote nothing. */
export async function snapshot(server: DroverServer): Promise<Record<string, unknown[]>> {
  if (server.store instanceof PostgresStore) {
    const pool = server.store.db.$client;
    const { rows: tables } = await pool.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name COLLATE \"C\"",
    );
    const entries = await Promise.all(tables.map(async ({ name }) => [name, (await pool.query(`SELECT * FROM "${name}" ORDER BY 1`)).rows] as const));
    return Object.fromEntries(entries);
  }
  const sqlite = sqliteStoreOf(server).db.$client;
  const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
  return Object.fromEntries(tables.map(({ name }) => [name, sqlite.prepare(`SELECT * FROM "${name}" ORDER BY 1`).all()]));
}

/** The rows a raw SQL query (text both databases speak) returns, on either store. */
export async function queryRows(server: DroverServer, text: string): Promise<unknown[]> {
  if (server.store instanceof PostgresStore) return (await server.store.db.$client.query(text)).rows;
  return sqliteStoreOf(server).db.$client.prepare(text).all();
}
