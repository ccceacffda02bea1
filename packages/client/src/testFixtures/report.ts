// A flow that deploy() tests deploy: its entrypoint is read from this file's source.
import { z } from 'zod';
import { flow } from '../flow.js';

export const report = flow({ name: 'report', parameters: z.object({ day: z.string() }) }, async ({ day }) => day);
