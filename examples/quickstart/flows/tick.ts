import { flow } from '@drover/client';

// A flow without parameters, run by the scheduler every 10 seconds (see drover.yaml).
export const tick = flow({ name: 'tick' }, async (_parameters, ctx) => {
  const at = new Date().toISOString();
  ctx.logger.info(`Tick from run ${ctx.flowRunName} at ${at}`);
  return { at };
});
