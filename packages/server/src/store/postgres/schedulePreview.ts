import { getDates } from '@drover/scheduling';
import { type SchedulePreview, SchedulePreviewInput } from '@drover/schemas';
import { loadDeployment, requireDeployment } from './deployments.js';
import type { PostgresContext } from './postgresContext.js';

/** The next `count` times of each of the deployment's schedules. */
export async function schedulePreview(ctx: PostgresContext, input: SchedulePreviewInput): Promise<SchedulePreview> {
  const { deployment: ref, count, start } = SchedulePreviewInput.parse(input);
  const deployment = await loadDeployment(ctx.db, await requireDeployment(ctx.db, ref), {
    now: ctx.clock.now(),
    missedHeartbeats: ctx.settings.missedHeartbeats,
  });
  const from = start ?? ctx.clock.now().toISOString();
  return deployment.schedules.map((s) => ({
    scheduleId: s.id,
    slug: s.slug,
    active: s.active,
    times: getDates(s.schedule, { n: count, start: from }).map((d) => d.toISOString()),
  }));
}
