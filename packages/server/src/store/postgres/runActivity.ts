import { type RunActivity, RunActivityQuery } from '@drover/schemas';
import { and, asc, count, gte, lt } from 'drizzle-orm';
import { flowRuns } from '../../db/pgSchema.js';
import { activityBuckets } from '../runActivity.js';
import { isoHour } from '../sqlDialect.js';
import type { PostgresContext } from './postgresContext.js';

/** Runs by current state in each hour of the window, by expected start time; hours with none are left out. */
export async function runActivity(ctx: PostgresContext, input: RunActivityQuery): Promise<RunActivity> {
  const query = RunActivityQuery.parse(input);
  const hour = isoHour(flowRuns.expectedStartTime);
  const rows = await ctx.db
    .select({ hour, state: flowRuns.stateType, runs: count() })
    .from(flowRuns)
    .where(and(gte(flowRuns.expectedStartTime, new Date(query.since).toISOString()), lt(flowRuns.expectedStartTime, new Date(query.until).toISOString())))
    .groupBy(hour, flowRuns.stateType)
    .orderBy(asc(hour));
  return activityBuckets(rows);
}
