/**
 * The PostgreSQL benchmarks' database (pgDriver.ts, pgClaimLimits.ts, and the server benchmarks
 * run with `--store=postgres`): the machine's PostgreSQL at `--url`, DROVER_TEST_PG_URL, or the
 * default (`bash scripts/postgres.sh` starts it).
 */
import pg from 'pg';
import { arg } from './harness.js';

const PG_URL = arg('url') ?? process.env.DROVER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The store a server benchmark measures: `--store=sqlite` (the default) or `--store=postgres`. */
export type StoreKind = 'sqlite' | 'postgres';

export function storeArg(): StoreKind {
  const store = arg('store') ?? 'sqlite';
  if (store !== 'sqlite' && store !== 'postgres') throw new Error(`Invalid --store=${store}: expected --store=sqlite or --store=postgres`);
  return store;
}

/** Databases made by this process, which tells apart two made in the same millisecond. */
let made = 0;

/**
 * A fresh database with `schema` for one round, made and dropped (its connections ended) through
 * the maintenance connection. With `template` (the URL of another database on this server, which
 * nothing may be connected to), the new database starts as a copy of it: how a round starts from
 * prepared data without preparing it again.
 */
export async function withDatabase<T>(prefix: string, schema: readonly string[], body: (url: string) => Promise<T>, template?: string): Promise<T> {
  const name = `${prefix}_${process.pid}_${Date.now()}_${made++}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${new URL(template).pathname.slice(1)}` : ''}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  try {
    const setup = new pg.Client({ connectionString: url.href });
    await setup.connect();
    for (const statement of schema) await setup.query(statement);
    await setup.end();
    return await body(url.href);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** The size of the database at `url` (`pg_database_size`), in bytes. */
export async function databaseBytes(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
    return Number(rows[0]?.bytes);
  } finally {
    await client.end();
  }
}
