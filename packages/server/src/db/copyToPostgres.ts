/**
 * `drover server migrate-db`: moves a whole SQLite database into an empty PostgreSQL one, for a
 * team outgrowing one machine. Both schemas have the same tables, columns and TypeScript row
 * shapes (pgSchema.ts), so each row is read through the SQLite tables' Drizzle decoders and written
 * through PostgreSQL's encoders unchanged: booleans, JSON and timestamps convert on the way.
 */
import { existsSync } from 'node:fs';
import { droverErrorOf } from '@drover/schemas';
import { asc, count, getTableColumns, gt, sql } from 'drizzle-orm';
import * as pgSchema from './pgSchema.js';
import { openPostgres, type PgTx } from './postgres.js';
import * as schema from './schema.js';
import { openSqlite, type SqliteDb } from './sqlite.js';

/** Every table, parents before children, so each row's foreign keys exist when it is written. */
const TABLES = [
  ['flows', schema.flows, pgSchema.flows],
  ['work_pools', schema.workPools, pgSchema.workPools],
  ['work_queues', schema.workQueues, pgSchema.workQueues],
  ['workers', schema.workers, pgSchema.workers],
  ['deployments', schema.deployments, pgSchema.deployments],
  ['deployment_schedules', schema.deploymentSchedules, pgSchema.deploymentSchedules],
  ['flow_runs', schema.flowRuns, pgSchema.flowRuns],
  ['flow_run_states', schema.flowRunStates, pgSchema.flowRunStates],
  ['logs', schema.logs, pgSchema.logs],
] as const;

/** Tables whose `id` PostgreSQL generates (identity): copied ids are kept, and the sequence moved past them. */
const IDENTITY_TABLES = new Set(['flow_run_states', 'logs']);

/** Rows per INSERT: a flow_runs row has ~30 columns, and a statement takes at most 65,535 parameters. */
const BATCH_ROWS = 1000;

export interface CopyProgress {
  readonly table: string;
  /** Rows copied so far, over every table, of `total`. */
  readonly copied: number;
  readonly total: number;
}

/** How many rows of each table were copied (and found in PostgreSQL afterwards). */
export type CopyCounts = Record<string, number>;

/**
 * Copies every row of the SQLite database `fromFile` into the PostgreSQL database `toUrl` (brought
 * to the current schema first) in one transaction: all of it, verified by counting each table on
 * both sides, or nothing. Refuses a target that holds any row (DATABASE_NOT_EMPTY) and a source
 * file that does not exist.
 */
export async function copySqliteToPostgres(fromFile: string, toUrl: string, onProgress?: (progress: CopyProgress) => void): Promise<CopyCounts> {
  if (!existsSync(fromFile)) {
    throw droverErrorOf('VALIDATION_ERROR', `Invalid --from "${fromFile}": expected an existing SQLite database file`, { source: '--from', value: fromFile });
  }
  const source = openSqlite(fromFile, { checkpointIntervalMs: 0 });
  try {
    const target = await openPostgres(toUrl, '--to');
    try {
      const counts = sourceCounts(source.db);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      await target.db.transaction(async (tx) => {
        await refuseNonEmpty(tx);
        let copied = 0;
        for (const [name, from, to] of TABLES) {
          onProgress?.({ table: name, copied, total });
          const key = getTableColumns(from).id;
          let after: string | number | undefined;
          for (;;) {
            const rows = source.db
              .select()
              .from(from)
              .where(after === undefined ? undefined : gt(key, after))
              .orderBy(asc(key))
              .limit(BATCH_ROWS)
              .all() as { id: string | number }[];
            if (rows.length === 0) break;
            const insert = tx.insert(to);
            await (IDENTITY_TABLES.has(name) ? insert.overridingSystemValue() : insert).values(rows as never);
            after = (rows[rows.length - 1] as { id: string | number }).id;
            copied += rows.length;
            onProgress?.({ table: name, copied, total });
          }
          if (IDENTITY_TABLES.has(name)) {
            await tx.execute(sql.raw(`SELECT setval(pg_get_serial_sequence('${name}', 'id'), coalesce(max(id), 0) + 1, false) FROM ${name}`));
          }
          const [stored] = await tx.select({ n: count() }).from(to);
          if (stored?.n !== counts[name]) {
            throw droverErrorOf('INTERNAL', `Copying ${name} stored ${stored?.n} rows of ${counts[name]}: nothing was kept`, { table: name });
          }
        }
      });
      return counts;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

function sourceCounts(db: SqliteDb): CopyCounts {
  return Object.fromEntries(TABLES.map(([name, from]) => [name, db.select({ n: count() }).from(from).get()?.n ?? 0]));
}

async function refuseNonEmpty(tx: PgTx): Promise<void> {
  for (const [name, , to] of TABLES) {
    const [row] = await tx.select({ n: count() }).from(to);
    if ((row?.n ?? 0) > 0) {
      throw droverErrorOf(
        'DATABASE_NOT_EMPTY',
        `The target database already holds data (${row?.n} rows in ${name}): migrate-db copies into an empty database only, so nothing is merged or overwritten; create a new database and pass its URL to --to`,
        { table: name, rows: row?.n },
      );
    }
  }
}
