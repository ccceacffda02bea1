import { droverErrorOf, type Flow, FlowCreate } from '@drover/schemas';
import { asc, eq } from 'drizzle-orm';
import { flows } from '../db/schema.js';
import type { Executor } from '../db/sqlite.js';
import { uuidv7 } from '../ids.js';
import { toFlow } from './rows.js';
import type { StoreContext } from './storeContext.js';

/** The flow with this name, created when new. */
export function ensureFlow(db: Executor, name: string, now: Date, tags: string[] = []): typeof flows.$inferSelect {
  const existing = db.select().from(flows).where(eq(flows.name, name)).get();
  if (existing) return existing;
  return db
    .insert(flows)
    .values({ id: uuidv7(now.getTime()), name, tags, created: now.toISOString() })
    .returning()
    .get();
}

export async function createOrReadFlow(ctx: StoreContext, input: FlowCreate): Promise<Flow> {
  const flow = FlowCreate.parse(input);
  const now = ctx.clock.now();
  return toFlow(ctx.db.transaction((tx) => ensureFlow(tx, flow.name, now, flow.tags)));
}

/**
 * The flow with this id, else with this name: a name may look like an id (`deadbeef-etl`, even a
 * whole UUID), so the shape of the text decides nothing.
 */
export async function readFlow(ctx: StoreContext, idOrName: string): Promise<Flow> {
  const row = ctx.db.select().from(flows).where(eq(flows.id, idOrName)).get() ?? ctx.db.select().from(flows).where(eq(flows.name, idOrName)).get();
  if (!row) throw droverErrorOf('FLOW_NOT_FOUND', `Flow "${idOrName}" not found`, { flow: idOrName });
  return toFlow(row);
}

export async function listFlows(ctx: StoreContext, page: { limit: number; offset: number }): Promise<Flow[]> {
  return ctx.db.select().from(flows).orderBy(asc(flows.name)).limit(page.limit).offset(page.offset).all().map(toFlow);
}
