// Flows the run benchmarks (client.ts, worker.ts) serve and deploy. Plain JavaScript, so a
// worker's job loads them without tsx, as a user's compiled flows would be.
//
// Each flow's first statement takes the time: the wall clock (`Date.now()`, comparable across
// processes) goes back as the run's result; in the benchmark's own process the flow also calls
// `globalThis.droverBenchFirstLine(runId)`, if set, so a served run's start is taken on the
// monotonic clock the trigger was.
import { flow } from '@drover/client';
import { z } from 'zod';

function firstLine(ctx) {
  globalThis.droverBenchFirstLine?.(ctx.flowRunId);
  return Date.now();
}

/** Does nothing: what a run costs Drover alone. */
export const noop = flow({ name: 'bench-noop' }, (_parameters, ctx) => ({ firstLineAt: firstLine(ctx) }));

/** Sleeps `ms` (the chain benchmark's 10 ms "task"). */
export const nap = flow({ name: 'bench-nap', parameters: z.object({ ms: z.number().int().min(0).max(60_000) }) }, async ({ ms }, ctx) => {
  const firstLineAt = firstLine(ctx);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { firstLineAt };
});
