// The SQLite file as an operator meets it: created in WAL with foreign keys, migrated in place,
// refused when a newer Drover wrote it, and keeping every committed run through a crash.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DroverError, isDroverError } from '@drover/schemas';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupCommit, migrationsFolder, openSqlite } from './db/sqlite.js';
import { type DroverServer, startServer } from './server.js';
import { upsertDeployment } from './store/deployments.js';
import { createFlowRun, listFlowRuns } from './store/flowRuns.js';
import { sqliteStoreOf, withApiServer } from './testHarness.js';

/** A fresh temp folder, removed after `run`. */
async function withFolder<T>(run: (folder: string) => Promise<T>): Promise<T> {
  const folder = mkdtempSync(join(tmpdir(), 'drover-sqlite-test-'));
  try {
    return await run(folder);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** A server on an existing database file, closed after `run`. */
async function withServerOn<T>(databaseFile: string, run: (server: DroverServer) => Promise<T>): Promise<T> {
  const server = await startServer({ databaseFile, port: 0, logger: pino({ level: 'silent' }), checkpointIntervalMs: 0, services: { enabled: [] } });
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

/** What `openSqlite` or `startServer` rejected with. */
async function failure(attempt: () => unknown): Promise<DroverError> {
  try {
    await attempt();
  } catch (error) {
    if (error instanceof DroverError) return error;
    throw error;
  }
  throw new Error('expected a DroverError, but the call succeeded');
}

const here = fileURLToPath(new URL('.', import.meta.url));

const newestKnownMigration = () => {
  const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] };
  return Math.max(...journal.entries.map((entry) => entry.when));
};

describe('the database file', () => {
  it('is created in WAL mode with foreign keys enforced', async () => {
    await withApiServer(async (server) => {
      expect(existsSync(server.databaseFile)).toBe(true);
      const sqlite = sqliteStoreOf(server).db.$client;
      expect(sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
      // WAL is a property of the file: another connection (the CLI, a backup) sees it too.
      const other = new Database(server.databaseFile, { readonly: true });
      try {
        expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
      } finally {
        other.close();
      }
      // The server's connection refuses a dangling reference...
      expect(() =>
        sqlite.prepare("INSERT INTO flow_run_states (flow_run_id, type, name, timestamp) VALUES ('nope', 'SCHEDULED', 'Scheduled', 'x')").run(),
      ).toThrow('FOREIGN KEY constraint failed');
      // ...and cascades: deleting a run deletes its states and logs.
      await server.api.deployments.upsert.mutate({ flowName: 'etl', name: 'a' });
      const run = await server.api.flowRuns.create.mutate({ deployment: 'etl/a' });
      await server.api.flowRuns.appendLogs.mutate([{ flowRunId: run.id, timestamp: run.created, message: 'hi' }]);
      await server.api.flowRuns.delete.mutate({ id: run.id });
      const left = sqlite.prepare('SELECT (SELECT count(*) FROM flow_run_states) AS states, (SELECT count(*) FROM logs) AS logs').get();
      expect(left).toEqual({ states: 0, logs: 0 });
    });
  });

  it('migrates an existing file in place and keeps its data', async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      const first = openSqlite(file, { checkpointIntervalMs: 0 });
      first.db.$client
        .prepare("INSERT INTO flows (id, name, tags, created) VALUES ('0190c0de-0000-7000-8000-000000000001', 'etl', '[]', '2026-01-01T00:00:00.000Z')")
        .run();
      await first.close();

      const second = openSqlite(file, { checkpointIntervalMs: 0 });
      try {
        const sqlite = second.db.$client;
        expect(sqlite.prepare('SELECT name FROM flows').all()).toEqual([{ name: 'etl' }]);
        const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
        expect(sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get()).toEqual({ n: journal.entries.length });
      } finally {
        await second.close();
      }
    });
  });

  it('leaves no empty database behind when a start on a new file fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-failed-start-'));
    try {
      const file = join(dir, 'drover.db');
      mkdirSync(`${file}-wal`); // WAL mode cannot create its file: the open fails after the database file was made
      expect(() => openSqlite(file, { checkpointIntervalMs: 0 })).toThrow();
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database migrated by a newer Drover, naming the file, and leaves it as it was', async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      await openSqlite(file, { checkpointIntervalMs: 0 }).close();
      const known = newestKnownMigration();
      const newer = known + 86_400_000;
      const raw = new Database(file);
      raw.prepare("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-the-future', ?)").run(newer);
      raw.close();
      const before = readFileSync(file);

      const message = `The database ${file} was migrated by a newer Drover (migration of ${new Date(newer).toISOString()}, this version knows up to ${new Date(known).toISOString()}): upgrade Drover or point DROVER_HOME at another folder`;
      const direct = await failure(() => openSqlite(file, { checkpointIntervalMs: 0 }));
      expect([direct.code, direct.message, direct.details]).toEqual(['DATABASE_TOO_NEW', message, { file }]);
      expect(isDroverError(direct, 'DATABASE_TOO_NEW')).toBe(true);
      const viaServer = await failure(() => startServer({ databaseFile: file, port: 0, logger: pino({ level: 'silent' }) }));
      expect([viaServer.code, viaServer.message]).toEqual(['DATABASE_TOO_NEW', message]);
      expect(readFileSync(file).equals(before)).toBe(true);
    });
  });

  it('accepts a database exactly as new as this version', async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      await openSqlite(file, { checkpointIntervalMs: 0 }).close();
      const raw = new Database(file);
      expect(raw.prepare('SELECT max(created_at) AS newest FROM __drizzle_migrations').get()).toEqual({ newest: newestKnownMigration() });
      raw.close();
      await openSqlite(file, { checkpointIntervalMs: 0 }).close();
    });
  });
});

describe('the WAL file', () => {
  it('stays bounded under steady writes, and never makes a write fail: past its limit the WAL is started over', async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      // 256 KiB limit, checked every 5 ms. Without the restart this WAL grows to all 60 MB written
      // (a passive checkpoint never catches up with the writes, so SQLite never starts it over).
      const handle = openSqlite(file, { checkpointIntervalMs: 5, walRestartPages: 64 });
      try {
        const sqlite = handle.db.$client;
        sqlite.exec('CREATE TABLE scratch (payload BLOB)');
        const insert = sqlite.prepare('INSERT INTO scratch VALUES (?)');
        const newest = sqlite.prepare('SELECT rowid FROM scratch ORDER BY rowid DESC LIMIT 1');
        const payload = Buffer.alloc(4000, 7);
        // Read, then write, as the store's transactions do: a checkpoint that took the write lock
        // meanwhile would make this upgrade fail at once with "database is locked".
        const batch = sqlite.transaction(() => {
          newest.get();
          for (let i = 0; i < 10; i++) insert.run(payload);
        });
        let largest = 0;
        for (let i = 0; i < 1500; i++) {
          batch();
          if (i % 10 === 0) largest = Math.max(largest, statSync(`${file}-wal`).size);
          // Requests arrive with gaps between them, as a server's do.
          await new Promise((resolve) => (i % 5 === 0 ? setTimeout(resolve, 1) : setImmediate(resolve)));
        }
        expect(sqlite.prepare('SELECT count(*) AS n FROM scratch').get()).toEqual({ n: 15_000 });
        expect(largest).toBeLessThan(30 * 1024 * 1024);
      } finally {
        await handle.close();
      }
    });
  });
});

describe('group commit', () => {
  /** A table of names on a fresh database, and a GroupCommit over it. */
  async function withGroup(run: (group: GroupCommit, sqlite: Database.Database) => Promise<void>): Promise<void> {
    await withFolder(async (folder) => {
      const sqlite = new Database(join(folder, 'group.db'));
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('busy_timeout = 0');
      sqlite.exec('CREATE TABLE names (name TEXT PRIMARY KEY)');
      try {
        await run(new GroupCommit(sqlite), sqlite);
      } finally {
        sqlite.close();
      }
    });
  }
  const insert = (sqlite: Database.Database, name: string) => () => sqlite.prepare('INSERT INTO names VALUES (?)').run(name).changes;
  const names = (sqlite: Database.Database) => (sqlite.prepare('SELECT name FROM names ORDER BY name').all() as { name: string }[]).map((r) => r.name);

  it('commits the writes of one event-loop turn together, rolling back only the one that threw', async () => {
    await withGroup(async (group, sqlite) => {
      const reader = new Database(sqlite.name, { readonly: true });
      let seenByOthers: string[] = [];
      const results = await Promise.allSettled([
        group.run(insert(sqlite, 'a')),
        group.run(() => {
          insert(sqlite, 'b')();
          // One transaction: the first write is not committed yet, so another connection sees nothing.
          seenByOthers = names(reader);
          throw new Error('refused after writing');
        }),
        group.run(insert(sqlite, 'a')), // sees the first write: the same transaction
        group.run(insert(sqlite, 'c')),
      ]);
      expect(seenByOthers).toEqual([]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
        1,
        'refused after writing',
        'UNIQUE constraint failed: names.name',
        1,
      ]);
      expect(names(sqlite)).toEqual(['a', 'c']);
      expect(names(reader)).toEqual(['a', 'c']);
      reader.close();
    });
  });

  it('settles no write before its commit, and a failed commit fails every write in it', async () => {
    await withGroup(async (group, sqlite) => {
      // Another connection holds the write lock, so the group's BEGIN IMMEDIATE fails (busy_timeout 0).
      const other = new Database(sqlite.name);
      other.prepare('BEGIN IMMEDIATE').run();
      let settled = false;
      const writes = Promise.allSettled([group.run(insert(sqlite, 'x')), group.run(insert(sqlite, 'y'))]).finally(() => {
        settled = true;
      });
      expect(settled).toBe(false);
      const results = await writes;
      expect(results.map((r) => r.status === 'rejected' && (r.reason as { code?: string }).code)).toEqual(['SQLITE_BUSY', 'SQLITE_BUSY']);
      other.prepare('ROLLBACK').run();
      other.close();
      expect(names(sqlite)).toEqual([]);
      // Writes that come later form a new group and succeed.
      expect(await Promise.all([group.run(insert(sqlite, 'x')), group.run(insert(sqlite, 'y'))])).toEqual([1, 1]);
      expect(names(sqlite)).toEqual(['x', 'y']);
    });
  });
});

describe('starting the server', () => {
  it('rejects a port already in use with ADDRESS_IN_USE', async () => {
    await withApiServer(async (running) => {
      await withFolder(async (folder) => {
        const error = await failure(() => startServer({ databaseFile: join(folder, 'drover.db'), port: running.port, logger: pino({ level: 'silent' }) }));
        expect([error.code, error.message, error.details]).toEqual([
          'ADDRESS_IN_USE',
          `Port ${running.port} on 127.0.0.1 is already in use (another Drover server?): stop it or choose another port with --port`,
          { host: '127.0.0.1', port: running.port },
        ]);
        expect((error.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
        // The failed start closed every connection it opened (the last one to close removes the WAL file)...
        expect([existsSync(join(folder, 'drover.db')), existsSync(join(folder, 'drover.db-wal'))]).toEqual([true, false]);
        // ...and the running server is unharmed.
        expect(await running.api.health.query()).toEqual({ status: 'ok' });
      });
    });
  });
});

describe('durability', () => {
  it('keeps runs across a close and reopen of the same file', async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      const ids = await withServerOn(file, async (server) => {
        await upsertDeployment(sqliteStoreOf(server), { flowName: 'etl', name: 'a' });
        const runs = await Promise.all(Array.from({ length: 20 }, () => createFlowRun(sqliteStoreOf(server), { deployment: 'etl/a' })));
        return runs.map((r) => r.id);
      });
      await withServerOn(file, async (server) => {
        expect((await listFlowRuns(sqliteStoreOf(server), {})).map((r) => r.id).sort()).toEqual([...ids].sort());
      });
    });
  });

  it('keeps every committed run when the server process is killed (SIGKILL, no close, WAL not checkpointed)', { timeout: 20_000 }, async () => {
    await withFolder(async (folder) => {
      const file = join(folder, 'drover.db');
      const script = join(folder, 'crash.mts');
      const require = createRequire(import.meta.url);
      const src = (path: string) => pathToFileURL(join(here, path)).href;
      writeFileSync(
        script,
        `
import { pino } from ${JSON.stringify(pathToFileURL(require.resolve('pino')).href)};
import { startServer } from ${JSON.stringify(src('server.ts'))};
import { upsertDeployment } from ${JSON.stringify(src('store/deployments.ts'))};
import { createFlowRun } from ${JSON.stringify(src('store/flowRuns.ts'))};
const server = await startServer({ databaseFile: ${JSON.stringify(file)}, port: 0, logger: pino({ level: 'silent' }), checkpointIntervalMs: 0, services: { enabled: [] } });
await upsertDeployment(server.store, { flowName: 'etl', name: 'a' });
const ids = [];
for (let i = 0; i < 50; i++) ids.push((await createFlowRun(server.store, { deployment: 'etl/a' })).id);
process.stdout.write(JSON.stringify(ids) + '\\n');
setInterval(() => {}, 1000);
`,
      );
      const tsx = pathToFileURL(require.resolve('tsx')).href;
      const child = spawn(process.execPath, ['--import', tsx, script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      let ids: string[];
      try {
        ids = await new Promise<string[]>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (chunk) => {
            out += chunk;
            if (out.includes('\n')) resolve(JSON.parse(out) as string[]);
          });
          child.on('exit', (code) => reject(new Error(`the crash script exited early (${code}): ${stderr}`)));
        });
        expect(ids).toHaveLength(50);
        // Everything committed is still in the WAL: nothing checkpointed it into the main file.
        expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
      } finally {
        child.kill('SIGKILL');
      }
      expect(await exited).toBe('SIGKILL');

      await withServerOn(file, async (server) => {
        const runs = await listFlowRuns(sqliteStoreOf(server), {});
        expect(runs.map((r) => r.id).sort()).toEqual([...ids].sort());
        expect(runs.every((r) => r.state.type === 'SCHEDULED')).toBe(true);
      });
    });
  });
});
