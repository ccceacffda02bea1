// A flow that deploy() tests deploy: its entrypoint is computed by importing this file.
import { z } from 'zod';
import { flow } from '../flow.js';

export const report = flow({ name: 'report', parameters: z.object({ day: z.string() }) }, async ({ day }) => day);
