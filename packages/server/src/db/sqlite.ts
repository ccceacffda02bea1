import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import { droverErrorOf } from '@drover/schemas';
import Database from 'better-sqlite3';
import { type Placeholder, sql } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.js';

/** The same folder from src/ (tests) and dist/ (built). */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url));

export type SqliteDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export interface SqliteHandle {
  readonly db: SqliteDb;
  readonly file: string;
  close(): Promise<void>;
}

export interface OpenSqliteOptions {
  /** Checkpoint the WAL from a worker thread every this many ms (0 turns it off; tests of short life don't need it). */
  checkpointIntervalMs?: number;
  /** A WAL longer than this many pages is started over (default `WAL_RESTART_PAGES`). */
  walRestartPages?: number;
}

/**
 * Opens (creating when absent) the database file and brings its schema up to date.
 *
 * - WAL with `synchronous=NORMAL`: a committed transaction survives a crash of the server process
 *   (it is in the WAL file); only a power loss or OS crash can lose the last transactions. That is
 *   the guarantee every accepted run needs, at about 2.5x the throughput of FULL here.
 * - Auto-checkpoints are off: SQLite would run them inside whichever commit crosses the threshold,
 *   stalling the event loop ~10 ms. A worker thread with its own connection checkpoints instead.
 * - `busy_timeout` lets that thread and other processes (the CLI) wait for the write lock.
 */
export function openSqlite(file: string, options: OpenSqliteOptions = {}): SqliteHandle {
  const created = file !== ':memory:' && !existsSync(file);
  const sqlite = new Database(file);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('wal_autocheckpoint = 0');
    sqlite.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    const db = drizzle({ client: sqlite, schema });
    refuseNewerDatabase(sqlite, file);
    migrate(db, { migrationsFolder });
    const checkpointer = startCheckpointer(sqlite, file, options.checkpointIntervalMs ?? 1000, options.walRestartPages ?? WAL_RESTART_PAGES);
    return {
      db,
      file,
      async close() {
        await checkpointer?.terminate();
        sqlite.pragma('wal_checkpoint(TRUNCATE)');
        sqlite.close();
      },
    };
  } catch (error) {
    sqlite.close();
    // A start that failed leaves no empty database behind to be mistaken for a real one next time.
    if (created) {
      for (const path of [file, `${file}-wal`, `${file}-shm`]) {
        try {
          rmSync(path, { force: true });
        } catch {
          // Best effort: the error to report is the one that stopped the start, not this one.
        }
      }
    }
    throw error;
  }
}

/** Refuses a database migrated by a newer Drover: this code would misread its tables. */
function refuseNewerDatabase(sqlite: Database.Database, file: string): void {
  const hasTable = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  if (!hasTable) return;
  const row = sqlite.prepare('SELECT max(created_at) AS newest FROM __drizzle_migrations').get() as { newest: number | null };
  const journal = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8')) as { entries: { when: number; tag: string }[] };
  const known = Math.max(...journal.entries.map((entry) => entry.when));
  if (row.newest !== null && row.newest > known) {
    throw droverErrorOf(
      'DATABASE_TOO_NEW',
      `The database ${file} was migrated by a newer Drover (migration of ${new Date(row.newest).toISOString()}, this version knows up to ${new Date(known).toISOString()}): upgrade Drover or point DROVER_HOME at another folder`,
      { file },
    );
  }
}

/**
 * A WAL longer than this many pages (64 MiB of 4 KiB pages) is started over. Under steady writes
 * the thread's PASSIVE checkpoint never reaches the end of the WAL before the next commit adds to
 * it, so SQLite never restarts the file and it grows without bound (3.2 GiB in one run of
 * bench/server.ts). Past this length the thread asks the main connection to checkpoint what is
 * left: between two of its own transactions that PASSIVE checkpoint reaches the end (the thread
 * has copied nearly all of it), so the next commit starts the WAL over. A RESTART checkpoint in
 * the thread would do it alone, but it takes the write lock, and a transaction of the main
 * connection that read before writing then fails at once with "database is locked".
 */
const WAL_RESTART_PAGES = 16_384;
/** A WAL that was started over is cut back to this size rather than keeping its longest length. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

// The thread loads better-sqlite3 by path, so it works from src/ (vitest) and dist/ alike.
const CHECKPOINT_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
setInterval(() => {
  try {
    const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
    if (log > workerData.restartPages) parentPort.postMessage('catch-up');
  } catch {}
}, workerData.intervalMs);
`;

function startCheckpointer(sqlite: Database.Database, file: string, intervalMs: number, restartPages: number): Thread | undefined {
  if (intervalMs <= 0 || file === ':memory:') return undefined;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const thread = new Thread(CHECKPOINT_THREAD, {
    eval: true,
    workerData: { driver, file, intervalMs, restartPages },
  });
  thread.on('message', () => {
    try {
      sqlite.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy or closing: the thread asks again on its next pass.
    }
  });
  thread.unref();
  return thread;
}

/** A transaction handle; every store helper that may run inside one takes an `Executor`. */
type SqliteTx = Parameters<Parameters<SqliteDb['transaction']>[0]>[0];
export type Executor = SqliteDb | SqliteTx;

/**
 * Statements built once per database and reused, for the hot paths. Each call of a Drizzle query
 * builder builds its SQL text and has SQLite compile it again, which costs several times what
 * running it does (most of a run's create, here); a prepared statement does both once.
 * Statements are prepared on the root `db`, whose one connection transactions also use, so they
 * run inside `db.transaction()` like `tx` queries do: pass `ctx.db`, not `tx`, to get them.
 */
export function preparedStatements<T>(build: (db: SqliteDb) => T): (db: SqliteDb) => T {
  const byDb = new WeakMap<SqliteDb, T>();
  return (db) => {
    let statements = byDb.get(db);
    if (statements === undefined) {
      statements = build(db);
      byDb.set(db, statements);
    }
    return statements;
  };
}

/**
 * A placeholder named after each key, for a prepared insert of those columns. A placeholder's
 * value goes through its column's encoder even when null, and a JSON column's encoder turns null
 * into the text 'null': leave nullable JSON columns out of prepared inserts (they start NULL).
 */
export function placeholders<K extends string>(keys: readonly K[]): Record<K, Placeholder> {
  return Object.fromEntries(keys.map((key) => [key, sql.placeholder(key)])) as unknown as Record<K, Placeholder>;
}

interface PendingWrite {
  readonly write: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: the writes that requests make in one turn of the event loop share one
 * transaction. A commit costs more than the writes in it (each writes its changed pages, ~13 per
 * created run, to the WAL), so under concurrent requests one commit for all of them costs a
 * fraction of one each. Each write runs in its own savepoint: one that throws is rolled back
 * alone and only its caller sees the error. Every caller's promise settles after the commit, so
 * nothing is answered before it is durable; a failed commit rejects them all and writes nothing.
 */
export class GroupCommit {
  #pending: PendingWrite[] = [];
  // Prepared once: better-sqlite3's `transaction(fn)` builds its wrappers on every call.
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #release: Database.Statement;
  readonly #rollbackTo: Database.Statement;

  constructor(private readonly sqlite: Database.Database) {
    this.#begin = sqlite.prepare('BEGIN IMMEDIATE');
    this.#commit = sqlite.prepare('COMMIT');
    this.#rollback = sqlite.prepare('ROLLBACK');
    this.#savepoint = sqlite.prepare('SAVEPOINT group_write');
    this.#release = sqlite.prepare('RELEASE group_write');
    this.#rollbackTo = sqlite.prepare('ROLLBACK TO group_write');
  }

  /** Runs `write` (synchronous, on the root connection) in the next group's transaction. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.push({ write, resolve: resolve as (value: unknown) => void, reject }) === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const group = this.#pending;
    this.#pending = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.#begin.run();
      for (const { write } of group) outcomes.push(group.length === 1 ? { ok: true, value: write() } : this.#inSavepoint(write));
      this.#commit.run();
    } catch (error) {
      // The transaction as a whole failed (BEGIN busy, COMMIT refused, or a write that SQLite
      // answered by rolling everything back): none of the writes is stored.
      if (this.sqlite.inTransaction) this.#rollback.run();
      for (const { reject } of group) reject(error);
      return;
    }
    for (const [index, { resolve, reject }] of group.entries()) {
      const outcome = outcomes[index] as { ok: boolean; value: unknown };
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.value);
    }
  };

  #inSavepoint(write: () => unknown): { ok: boolean; value: unknown } {
    this.#savepoint.run();
    try {
      const value = write();
      this.#release.run();
      return { ok: true, value };
    } catch (error) {
      if (!this.sqlite.inTransaction) throw error;
      this.#rollbackTo.run();
      this.#release.run();
      return { ok: false, value: error };
    }
  }
}
