// The PostgreSQL schema and its migrations, on the machine's PostgreSQL: replicas that start
// together on an empty database, a database a newer Drover migrated, and the schema kept the same
// as SQLite's (one store logic and one row mapping serve both).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isDroverError } from '@drover/schemas';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratePostgres, pgMigrationsFolder } from './db/postgres.js';
import { openSqlite } from './db/sqlite.js';
import { withEmptyDatabase } from './testPostgres.js';

const journal = JSON.parse(readFileSync(join(pgMigrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: { when: number; tag: string }[] };
const builtMigrator = pathToFileURL(fileURLToPath(new URL('../dist/db/postgres.js', import.meta.url))).href;

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
});
