import { flow } from '@drover/client';
import { z } from 'zod';

// A flow is a typed async function. Its parameter schema becomes the deployment's, so the server
// refuses a run with bad parameters before any worker sees it.
export const hello = flow({ name: 'hello', parameters: z.object({ name: z.string().default('world') }), retries: 1 }, async ({ name }, ctx) => {
  ctx.logger.info(`Hello, ${name}!`);
  console.log('console output is captured into the run logs too');
  return { greeted: name };
});
