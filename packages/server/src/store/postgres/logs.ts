import { LogBatch, LogQuery, type LogRecord, type LogsAppended } from '@drover/schemas';
import { and, asc, eq, gt } from 'drizzle-orm';
import { flowRuns, logs } from '../../db/pgSchema.js';
import { assertRunsFound, logRows } from '../logs.js';
import { type PostgresContext, transaction } from './postgresContext.js';
import { containsText, inList } from './sqlDialect.js';

/** Appends a batch of log lines (all or none); every run they name must exist. */
export async function appendLogs(ctx: PostgresContext, input: LogBatch): Promise<LogsAppended> {
  const batch = LogBatch.parse(input);
  const runIds = [...new Set(batch.map((line) => line.flowRunId))];
  await transaction(ctx, async (tx) => {
    // FOR KEY SHARE: a run deleted by another server meanwhile cannot leave these lines behind.
    const found = new Set((await tx.select({ id: flowRuns.id }).from(flowRuns).where(inList(flowRuns.id, runIds)).for('key share')).map((r) => r.id));
    assertRunsFound(runIds, found);
    await tx.insert(logs).values(logRows(batch));
  });
  return { appended: batch.length };
}

/** A run's log lines after `afterId` (those containing `search` when given), oldest first; pass the last id back to read on. */
export async function readLogs(ctx: PostgresContext, input: LogQuery): Promise<LogRecord[]> {
  const query = LogQuery.parse(input);
  return ctx.db
    .select()
    .from(logs)
    .where(
      and(eq(logs.flowRunId, query.flowRunId), gt(logs.id, query.afterId), query.search === undefined ? undefined : containsText(logs.message, query.search)),
    )
    .orderBy(asc(logs.id))
    .limit(query.limit);
}
