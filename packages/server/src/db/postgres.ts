/**
 * A PostgreSQL database for Drover: its schema brought up to date (drizzle/pg, next to SQLite's
 * drizzle/sqlite), safely when several servers start at once on one database.
 *
 * The driver is `pg` (node-postgres): on the create and claim paths it beat postgres.js by 39% and
 * 14% with named statements (bench/pgDriver.ts, README "Benchmarks").
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { droverErrorOf } from '@drover/schemas';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as pgSchema from './pgSchema.js';

export type PgDb = NodePgDatabase<typeof pgSchema> & { $client: pg.Pool };
/** A transaction handle; every store helper that may run inside one takes a `PgExecutor`. */
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];
export type PgExecutor = PgDb | PgTx;

export interface PostgresHandle {
  readonly db: PgDb;
  readonly url: string;
  close(): Promise<void>;
}

/** Connections each server keeps to the database for its requests by default (besides its LISTEN and leader connections). */
export const DEFAULT_POOL_SIZE = 10;

/**
 * Brings the database up to date (`migratePostgres`) and opens a pool of `poolSize` connections
 * to it. `source` names where `url` came from, for errors.
 */
export async function openPostgres(url: string, source = 'DROVER_DATABASE_URL', poolSize = DEFAULT_POOL_SIZE): Promise<PostgresHandle> {
  await migratePostgres(url, source);
  const pool = new pg.Pool({ connectionString: url, max: poolSize, application_name: 'drover-server' });
  // An idle connection that the database drops (a restart, a failover) is replaced on next use; without
  // a listener its 'error' event would end the process.
  pool.on('error', () => {});
  const db = drizzle({ client: pool, schema: pgSchema });
  return { db, url, close: () => pool.end() };
}

/** The same folder from src/ (tests) and dist/ (built). */
export const pgMigrationsFolder = fileURLToPath(new URL('../../drizzle/pg', import.meta.url));

/**
 * The advisory lock a server holds while it migrates: replicas starting together on an empty
 * database wait for the first one instead of racing to create the same tables (which fails with
 * a duplicate key in PostgreSQL's catalog). Any 64-bit constant, the same in every Drover version.
 */
const MIGRATION_LOCK = 0x4472_6f76_6572n; // "Drover"

/**
 * Brings the database at `url` up to date, under the migration lock, on a connection of its own
 * (the lock is the session's: it goes with the connection when the process dies). Refuses a
 * database that a newer Drover migrated (DATABASE_TOO_NEW); `source` names where `url` came from.
 */
export async function migratePostgres(url: string, source = 'DROVER_DATABASE_URL'): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    throw droverErrorOf('DATABASE_UNREACHABLE', `No PostgreSQL answers at ${redactUrl(url)} (${source}): ${(error as Error).message}`, { source });
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await refuseNewerDatabase(client, source);
    await migrate(drizzle({ client }), { migrationsFolder: pgMigrationsFolder });
  } finally {
    // Ending the session releases the lock too; unlocking first lets the next replica go on at once.
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => {});
    await client.end();
  }
}

/** Refuses a database migrated by a newer Drover: this code would misread its tables. */
async function refuseNewerDatabase(client: pg.Client, source: string): Promise<void> {
  const { rows: table } = await client.query<{ exists: boolean }>("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists");
  if (!table[0]?.exists) return;
  const { rows } = await client.query<{ newest: string | null }>('SELECT max(created_at)::text AS newest FROM drizzle.__drizzle_migrations');
  const newest = rows[0]?.newest ? Number(rows[0].newest) : null;
  const journal = JSON.parse(readFileSync(`${pgMigrationsFolder}/meta/_journal.json`, 'utf8')) as { entries: { when: number }[] };
  const known = Math.max(...journal.entries.map((entry) => entry.when));
  if (newest !== null && newest > known) {
    throw droverErrorOf(
      'DATABASE_TOO_NEW',
      `The database of ${source} was migrated by a newer Drover (migration of ${new Date(newest).toISOString()}, this version knows up to ${new Date(known).toISOString()}): upgrade Drover or point ${source} at another database`,
      { source },
    );
  }
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
