// Flows the client's tests deploy and run through the engine, loaded by entrypoint like user code.
import { z } from 'zod';
import { flow } from '../index.js';

export const add = flow({ name: 'add', parameters: z.object({ a: z.number(), b: z.number().default(1) }) }, async ({ a, b }, ctx) => {
  console.log(`adding ${a} and ${b}`);
  ctx.logger.warn('about to return');
  return { sum: a + b };
});

export const explode = flow({ name: 'explode' }, async () => {
  throw new Error('kaboom');
});

export const notAFlow = 42;
