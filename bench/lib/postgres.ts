/**
 * The PostgreSQL benchmarks' database (pgDriver.ts, pgClaimLimits.ts): the machine's PostgreSQL
 * at `--url`, DROVER_TEST_PG_URL, or the default (`bash scripts/postgres.sh` starts it).
 */
import pg from 'pg';
import { arg } from './harness.js';

const PG_URL = arg('url') ?? process.env.DROVER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database with `schema` for one round, made and dropped (its connections ended) through the maintenance connection. */
export async function withDatabase<T>(prefix: string, schema: readonly string[], body: (url: string) => Promise<T>): Promise<T> {
  const name = `${prefix}_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
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
