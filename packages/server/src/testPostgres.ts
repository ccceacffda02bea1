// Test helper (not exported): databases on the machine's PostgreSQL, which scripts/postgres.sh
// starts for the suite. Each test gets a database of its own, so test files run in parallel.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll } from 'vitest';
import { migratePostgres, pgMigrationsFolder } from './db/postgres.js';

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

/**
 * The migrated template that test databases are copied from, named after the migrations' content,
 * so a copy costs one CREATE DATABASE (a file copy) instead of running every migration. It is kept
 * between runs; the first test file to need it makes it, under an advisory lock.
 */
async function templateDatabase(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of readdirSync(pgMigrationsFolder)
    .filter((name) => name.endsWith('.sql'))
    .sort())
    hash.update(readFileSync(`${pgMigrationsFolder}/${file}`));
  const name = `drover_template_${hash.digest('hex').slice(0, 12)}`;
  await admin(async (client) => {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    const { rows } = await client.query('SELECT datistemplate FROM pg_database WHERE datname = $1', [name]);
    if (rows[0]?.datistemplate) return;
    // A half-made one (a run killed while making it) is made again.
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_PG_URL);
    url.pathname = `/${name}`;
    await migratePostgres(url.href, 'the test template');
    await client.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
  });
  return name;
}

let template: Promise<string> | undefined;
/** This test file's databases that are emptied and free for the next test. */
const idle: string[] = [];
const made: string[] = [];

/**
 * The URL of a test database. Its sessions commit without waiting for the disk
 * (`synchronous_commit=off`): a test never survives a crash of PostgreSQL itself, and the wait
 * would make each commit cost a disk flush, most of a short test's time.
 */
function urlOf(name: string): string {
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  url.searchParams.set('options', '-c synchronous_commit=off');
  return url.href;
}

async function copyTemplate(): Promise<string> {
  template ??= templateDatabase();
  const source = await template;
  const name = `drover_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(async (client) => {
    // Two copies of one template at the same moment can fail with "being accessed by other users": try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${name} TEMPLATE ${source}`);
        return;
      } catch (error) {
        if (attempt >= 20 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  made.push(name);
  return name;
}

/**
 * Empties every table of Drover's schema, as a new copy of the template would be: DELETE, children
 * first, and the identities started over. The tables hold a test's few rows, and DELETE costs a few
 * ms where TRUNCATE, which makes new files for every table and index, costs ~350 ms here.
 */
async function empty(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: urlOf(name) });
  await client.connect();
  try {
    await client.query(`BEGIN; ${CHILDREN_FIRST.map((table) => `DELETE FROM ${table};`).join(' ')}
      SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false) FROM unnest(ARRAY['flow_run_states', 'logs']) AS t; COMMIT`);
  } finally {
    await client.end();
  }
}

/** Drover's tables, each after the tables whose rows point at it. */
const CHILDREN_FIRST = ['logs', 'flow_run_states', 'flow_runs', 'deployment_schedules', 'deployments', 'workers', 'work_queues', 'work_pools', 'flows'];

/**
 * An empty database with Drover's schema for `body`. The first test of a file copies it from the
 * migrated template (a CREATE DATABASE, a few hundred ms); later tests of the file get it back
 * emptied (one TRUNCATE), so each test file has databases of its own and files run in parallel.
 */
export async function withTestDatabase<T>(body: (url: string) => Promise<T>): Promise<T> {
  const name = idle.pop() ?? (await copyTemplate());
  let clean = false;
  try {
    const result = await body(urlOf(name));
    clean = true;
    return result;
  } finally {
    // A test that failed may have left a server connected: its database is dropped with the rest, not reused.
    if (clean) {
      await empty(name);
      idle.push(name);
    }
  }
}

// The file's databases go when its tests end (this module is loaded afresh for each test file).
afterAll(async () => {
  const names = made.splice(0);
  idle.length = 0;
  if (names.length > 0) await admin(async (client) => Promise.all(names.map((name) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))));
});
