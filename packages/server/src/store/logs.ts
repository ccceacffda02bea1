import { droverErrorOf, LogBatch, LogQuery, type LogRecord, type LogsAppended } from '@drover/schemas';
import { and, asc, eq, gt, inArray } from 'drizzle-orm';
import { flowRuns, logs } from '../db/schema.js';
import { containsText } from './sqlDialect.js';
import type { StoreContext } from './storeContext.js';

/** Refuses a batch of log lines that names a run not `found` (FLOW_RUN_NOT_FOUND): none of them is stored. */
export function assertRunsFound(runIds: readonly string[], found: ReadonlySet<string>): void {
  const missing = runIds.find((id) => !found.has(id));
  if (missing) throw droverErrorOf('FLOW_RUN_NOT_FOUND', `Flow run ${missing} not found, so its logs were not stored`, { flowRunId: missing });
}

/** The rows of a batch of log lines, their times in the stored form. */
export function logRows(batch: ReturnType<typeof LogBatch.parse>) {
  return batch.map((line) => ({ ...line, timestamp: new Date(line.timestamp).toISOString() }));
}

/** Appends a batch of log lines (all or none); every run they name must exist. */
export async function appendLogs(ctx: StoreContext, input: LogBatch): Promise<LogsAppended> {
  const batch = LogBatch.parse(input);
  const runIds = [...new Set(batch.map((line) => line.flowRunId))];
  await ctx.commits.run(() => {
    const found = new Set(
      ctx.db
        .select({ id: flowRuns.id })
        .from(flowRuns)
        .where(inArray(flowRuns.id, runIds))
        .all()
        .map((r) => r.id),
    );
    assertRunsFound(runIds, found);
    ctx.db.insert(logs).values(logRows(batch)).run();
  });
  return { appended: batch.length };
}

/** A run's log lines after `afterId` (those containing `search` when given), oldest first; pass the last id back to read on. */
export async function readLogs(ctx: StoreContext, input: LogQuery): Promise<LogRecord[]> {
  const query = LogQuery.parse(input);
  return ctx.db
    .select()
    .from(logs)
    .where(
      and(eq(logs.flowRunId, query.flowRunId), gt(logs.id, query.afterId), query.search === undefined ? undefined : containsText(logs.message, query.search)),
    )
    .orderBy(asc(logs.id))
    .limit(query.limit)
    .all();
}
