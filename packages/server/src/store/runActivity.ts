import { type RunActivity, RunActivityQuery, type StateType } from '@drover/schemas';
import { and, asc, count, gte, lt } from 'drizzle-orm';
import { flowRuns } from '../db/schema.js';
import { isoHour } from './sqlDialect.js';
import type { StoreContext } from './storeContext.js';

/** Runs by current state in each hour of the window, by expected start time; hours with none are left out. */
export async function runActivity(ctx: StoreContext, input: RunActivityQuery): Promise<RunActivity> {
  const query = RunActivityQuery.parse(input);
  const hour = isoHour(flowRuns.expectedStartTime);
  const rows = ctx.db
    .select({ hour, state: flowRuns.stateType, runs: count() })
    .from(flowRuns)
    .where(and(gte(flowRuns.expectedStartTime, new Date(query.since).toISOString()), lt(flowRuns.expectedStartTime, new Date(query.until).toISOString())))
    .groupBy(hour, flowRuns.stateType)
    .orderBy(asc(hour))
    .all();
  return activityBuckets(rows);
}

/** Rows of (hour, state, runs), hour order, as the answer: one entry per hour with its counts by state. */
export function activityBuckets(rows: readonly { hour: string; state: StateType; runs: number }[]): RunActivity {
  const buckets = new Map<string, Partial<Record<StateType, number>>>();
  for (const row of rows) {
    const key = `${row.hour}:00:00.000Z`;
    const counts = buckets.get(key) ?? {};
    counts[row.state] = row.runs;
    buckets.set(key, counts);
  }
  return [...buckets].map(([hour, counts]) => ({ hour, counts }));
}
