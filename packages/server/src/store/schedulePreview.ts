import { DeploymentRef, Id, Timestamp } from '@drover/schemas';
import { getDates } from '@drover/scheduling';
import { z } from 'zod';
import type { StoreContext } from './context.js';
import { loadDeployment, requireDeployment } from './deployments.js';

export const SchedulePreviewInput = z.strictObject({
  deployment: DeploymentRef,
  count: z.number().int().min(1).max(1000).default(5),
  /** From this instant (inclusive); the server's now when absent. */
  start: Timestamp.optional(),
});

export const SchedulePreview = z.array(
  z.object({ scheduleId: Id, slug: z.string().nullable(), active: z.boolean(), times: z.array(Timestamp) }),
);
export type SchedulePreview = z.infer<typeof SchedulePreview>;

/** The next `count` times of each of the deployment's schedules. */
export async function schedulePreview(ctx: StoreContext, input: z.input<typeof SchedulePreviewInput>): Promise<SchedulePreview> {
  const { deployment: ref, count, start } = SchedulePreviewInput.parse(input);
  const deployment = loadDeployment(ctx.db, requireDeployment(ctx.db, ref));
  const from = start ?? ctx.clock.now().toISOString();
  return deployment.schedules.map((s) => ({
    scheduleId: s.id,
    slug: s.slug,
    active: s.active,
    times: getDates(s.schedule, { n: count, start: from }).map((d) => d.toISOString()),
  }));
}
