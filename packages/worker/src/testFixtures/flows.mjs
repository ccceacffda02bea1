// Flows the worker's tests run as real jobs. Plain JavaScript: a job loads it without tsx, so
// hundreds of jobs start quickly.
import { flow } from '@drover/client';
import { z } from 'zod';

export const quick = flow({ name: 'quick' }, async (_parameters, ctx) => {
  console.log(`hello from ${ctx.flowRunName}`);
  ctx.logger.warn('a warning');
  return 'done';
});

export const sleepy = flow(
  { name: 'sleepy', parameters: z.object({ ms: z.number() }) },
  ({ ms }, ctx) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(ms), ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    }),
);

export const suicide = flow({ name: 'suicide' }, async () => {
  console.log('about to die');
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => {});
});

// Returns at once but leaves an interval running, as careless code does: the job must still end.
export const leaky = flow({ name: 'leaky' }, async () => {
  setInterval(() => {}, 1000);
  return 'left a timer';
});
