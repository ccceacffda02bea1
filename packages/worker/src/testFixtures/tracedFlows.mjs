// Flows of the tracing test: one that fails its first attempt, then starts a child run and waits for it.
import { flow, runDeployment } from '@drover/client';

export const parent = flow({ name: 'parent', retries: 1, retryDelaySeconds: 0 }, async (_parameters, ctx) => {
  if (ctx.attempt === 1) throw new Error('first attempt fails');
  const child = await runDeployment('quick/child', { timeout: 60 });
  return child.state.type;
});
