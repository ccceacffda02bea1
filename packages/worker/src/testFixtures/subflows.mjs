// A parent flow that runs a child deployment with runDeployment, for the subflow tests.
import { flow, runDeployment } from '@drover/client';
import { z } from 'zod';

export const parent = flow({ name: 'parent', parameters: z.object({ childMs: z.number(), childFails: z.boolean() }) }, async ({ childMs, childFails }) => {
  const child = await runDeployment('child/child', { parameters: { ms: childMs, fail: childFails } });
  return { child: child.id };
});

export const child = flow({ name: 'child', parameters: z.object({ ms: z.number(), fail: z.boolean() }) }, async ({ ms, fail }, ctx) => {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(ctx.signal.reason);
    });
  });
  if (fail) throw new Error('the child failed on purpose');
  return 'ok';
});
