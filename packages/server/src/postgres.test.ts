// The PostgreSQL schema and its migrations, on the machine's PostgreSQL: replicas that start
// together on an empty database, a database a newer Drover migrated, the schema kept the same as
// SQLite's (one store logic and one row mapping serve both), and every acknowledged run kept
// through a SIGKILL of the server (the twin of sqlite.test.ts's crash test).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isDroverError } from '@drover/schemas';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { migratePostgres, pgMigrationsFolder } from './db/postgres.js';
import { openSqlite } from './db/sqlite.js';
import { startServer } from './server.js';
import { withEmptyDatabase } from './testPostgres.js';

const journal = JSON.parse(readFileSync(join(pgMigrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: { when: number; tag: string }[] };
const builtMigrator = pathToFileURL(fileURLToPath(new URL('../dist/db/postgres.js', import.meta.url))).href;
const builtServer = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgreSQL migrations', { timeout: 60_000 }, () => {
  it('three servers starting at once on an empty database migrate it once, and none fails', async () => {
    await withEmptyDatabase(async (url) => {
      // Each a process of its own, as replicas are, running the built migrator a server starts with.
      const migrate = () =>
        promisify(execFile)(process.execPath, [
          '--input-type=module',
          '-e',
          `const { migratePostgres } = await import(${JSON.stringify(builtMigrator)}); await migratePostgres(${JSON.stringify(url)});`,
        ]);
      const results = await Promise.allSettled([migrate(), migrate(), migrate()]);
      expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason)))).toEqual(['ok', 'ok', 'ok']);
      const applied = await query<{ created_at: string }>(url, 'SELECT created_at::text FROM drizzle.__drizzle_migrations ORDER BY id');
      expect(applied.map((row) => Number(row.created_at))).toEqual(journal.entries.map((entry) => entry.when));
      // Migrating again changes nothing.
      await migratePostgres(url);
      expect(await query(url, 'SELECT id FROM drizzle.__drizzle_migrations')).toHaveLength(journal.entries.length);
    });
  });

  it('refuses a database a newer Drover migrated, naming where its URL came from', async () => {
    await withEmptyDatabase(async (url) => {
      await migratePostgres(url);
      const newest = Math.max(...journal.entries.map((entry) => entry.when));
      await query(url, `INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('from-the-future', ${newest + 60_000})`);
      const error = await migratePostgres(url).catch((e: unknown) => e);
      expect(isDroverError(error, 'DATABASE_TOO_NEW')).toBe(true);
      expect((error as Error).message).toMatch(
        /^The database of DROVER_DATABASE_URL was migrated by a newer Drover \(migration of \S+Z, this version knows up to \S+Z\)/,
      );
    });
  });

  it('has the tables, columns, nullability and indexes of the SQLite schema', async () => {
    const home = mkdtempSync(join(tmpdir(), 'drover-schema-'));
    const sqlite = openSqlite(join(home, 'drover.db'), { checkpointIntervalMs: 0 });
    try {
      const client = sqlite.db.$client;
      const tables = (
        client.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%'").all() as {
          name: string;
        }[]
      ).map((t) => t.name);
      const sqliteColumns = tables.flatMap((table) =>
        (client.prepare(`SELECT name, "notnull", pk FROM pragma_table_info('${table}')`).all() as { name: string; notnull: number; pk: number }[]).map(
          (c) => `${table}.${c.name}${c.notnull || c.pk ? ' not null' : ''}`,
        ),
      );
      const sqliteIndexes = (
        client.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'").all() as { name: string }[]
      ).map((i) => i.name);
      await withEmptyDatabase(async (url) => {
        await migratePostgres(url);
        const pgColumns = (
          await query<{ table_name: string; column_name: string; is_nullable: string }>(
            url,
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'",
          )
        ).map((c) => `${c.table_name}.${c.column_name}${c.is_nullable === 'NO' ? ' not null' : ''}`);
        // A primary key is an index in PostgreSQL (`<table>_pkey`), an autoindex or the rowid in SQLite.
        const pgIndexes = (
          await query<{ indexname: string }>(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'")
        ).map((i) => i.indexname);
        expect(pgColumns.sort()).toEqual(sqliteColumns.sort());
        expect(pgIndexes.sort()).toEqual(sqliteIndexes.sort());
      });
    } finally {
      await sqlite.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('keeps every acknowledged run when the server process is SIGKILLed in the middle of creates', async () => {
    await withEmptyDatabase(async (url) => {
      // The built server in a process of its own, creating runs 8 at a time and printing each id once its create resolved.
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { startServer } = await import(${JSON.stringify(builtServer)});
const { pino } = await import('pino');
const server = await startServer({ postgresUrl: ${JSON.stringify(url)}, port: 0, logger: pino({ level: 'silent' }), services: { enabled: [] } });
await server.store.deployments.upsert({ flowName: 'etl', name: 'a' });
const loop = async () => { for (;;) process.stdout.write((await server.store.flowRuns.create({ deployment: 'etl/a' })).id + '\\n'); };
await Promise.all(Array.from({ length: 8 }, loop));`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('..', import.meta.url)) },
      );
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      const acknowledged = await new Promise<string[]>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
          const ids = out.split('\n').slice(0, -1);
          // Killed with creates in flight: some of them committed but unanswered, some not committed.
          if (ids.length >= 200) {
            child.kill('SIGKILL');
            resolve(ids);
          }
        });
        child.on('exit', (code, signal) => {
          if (signal !== 'SIGKILL') reject(new Error(`the server process exited early (${code}): ${stderr}`));
        });
      });
      expect(await exited).toBe('SIGKILL');

      const server = await startServer({ postgresUrl: url, port: 0, logger: pino({ level: 'silent' }), services: { enabled: [] } });
      try {
        const stored = await server.store.flowRuns.list({ page: { limit: 1000, offset: 0 } });
        expect(stored.length).toBeLessThan(1000); // the page holds them all
        const ids = new Set(stored.map((run) => run.id));
        expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
        expect(stored.every((run) => run.state.type === 'SCHEDULED')).toBe(true);
        // No half-written run: each one stored has exactly its one SCHEDULED state.
        const states = await query<{ runs: number; states: number }>(
          url,
          'SELECT count(DISTINCT flow_run_id)::int AS runs, count(*)::int AS states FROM flow_run_states',
        );
        expect(states).toEqual([{ runs: stored.length, states: stored.length }]);
      } finally {
        await server.close();
      }
    });
  });
});
