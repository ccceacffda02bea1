// Flows the warm engine tests run (warmPool.test.ts): each says where and how it ran.
import { flow } from '@drover/client';
import { z } from 'zod';

// Counts how often this module was evaluated in its process: a reused engine keeps it loaded.
let loads = 0;
loads++;
let calls = 0;

export const whereAmI = flow({ name: 'where-am-i' }, async (_parameters, ctx) => {
  calls++;
  console.log(`running ${ctx.flowRunName} in ${process.pid}`);
  return {
    pid: process.pid,
    cwd: process.cwd(),
    warmTest: process.env.WARM_TEST ?? null,
    runIdInEnv: process.env.DROVER_FLOW_RUN_ID === ctx.flowRunId,
    hasClaimToken: Boolean(process.env.DROVER_CLAIM_TOKEN),
    loads,
    calls,
  };
});

export const waits = flow(
  { name: 'waits', parameters: z.object({ ms: z.number() }) },
  ({ ms }, ctx) =>
    new Promise((resolve, reject) => {
      console.log(`waiting in ${process.pid}`);
      const timer = setTimeout(() => resolve(ms), ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    }),
);
