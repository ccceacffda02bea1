import { droverErrorOf, type Flow, FlowCreate } from '@drover/schemas';
import { type Column, desc, eq, or, type SQL, sql } from 'drizzle-orm';
import { flows } from '../../db/pgSchema.js';
import type { PgExecutor } from '../../db/postgres.js';
import { uuidv7 } from '../../ids.js';
import { toFlow } from '../rows.js';
import type { PostgresContext } from './postgresContext.js';

type FlowRow = typeof flows.$inferSelect;

/**
 * `column` for ORDER BY in byte order, as SQLite's BINARY collation sorts: names sort the same in
 * both stores whatever the database's default collation (`en_US` would put "a" before "B").
 */
export function inByteOrder(column: Column): SQL {
  return sql`${column} COLLATE "C"`;
}

/**
 * The flow with this name, created when new. Safe when several servers create it at once: the
 * insert that loses on the unique name does nothing, and the select after it (a new snapshot in
 * READ COMMITTED) sees the winner's row.
 */
export async function ensureFlow(db: PgExecutor, name: string, now: Date, tags: string[] = []): Promise<FlowRow> {
  for (;;) {
    const [existing] = await db.select().from(flows).where(eq(flows.name, name));
    if (existing) return existing;
    const [inserted] = await db
      .insert(flows)
      .values({ id: uuidv7(now.getTime()), name, tags, created: now.toISOString() })
      .onConflictDoNothing({ target: flows.name })
      .returning();
    if (inserted) return inserted;
  }
}

export async function createOrReadFlow(ctx: PostgresContext, input: FlowCreate): Promise<Flow> {
  const flow = FlowCreate.parse(input);
  const now = ctx.clock.now();
  return toFlow(await ensureFlow(ctx.db, flow.name, now, flow.tags));
}

/**
 * The flow with this id, else with this name: a name may look like an id (`deadbeef-etl`, even a
 * whole UUID), so the shape of the text decides nothing.
 */
export async function readFlow(ctx: PostgresContext, idOrName: string): Promise<Flow> {
  const [row] = await ctx.db
    .select()
    .from(flows)
    .where(or(eq(flows.id, idOrName), eq(flows.name, idOrName)))
    .orderBy(desc(eq(flows.id, idOrName)))
    .limit(1);
  if (!row) throw droverErrorOf('FLOW_NOT_FOUND', `Flow "${idOrName}" not found`, { flow: idOrName });
  return toFlow(row);
}

export async function listFlows(ctx: PostgresContext, page: { limit: number; offset: number }): Promise<Flow[]> {
  const rows = await ctx.db.select().from(flows).orderBy(inByteOrder(flows.name)).limit(page.limit).offset(page.offset);
  return rows.map(toFlow);
}
