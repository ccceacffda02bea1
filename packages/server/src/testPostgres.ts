// Test helper (not exported): databases on the machine's PostgreSQL, which scripts/postgres.sh
// starts for the suite. Each test gets a database of its own, so test files run in parallel.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server tests use: DROVER_TEST_PG_URL, or the machine's PostgreSQL with trust auth on loopback. */
const TEST_PG_URL = process.env.DROVER_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`No PostgreSQL answers at ${TEST_PG_URL} (${(error as Error).message}): run \`bash scripts/postgres.sh\` (scripts/test.sh does)`);
  }
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** A new empty database for `body`, dropped afterwards (its connections ended). */
export async function withEmptyDatabase<T>(body: (url: string) => Promise<T>): Promise<T> {
  const name = `drover_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  try {
    return await body(url.href);
  } finally {
    await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}
