// Types of flows.mjs (plain JavaScript, so a worker's job loads it without tsx), for the benchmarks that import it.
import type { Flow } from '@drover/client';

export declare const noop: Flow<undefined, { firstLineAt: number }>;
export declare const nap: Flow<import('zod').ZodObject<{ ms: import('zod').ZodNumber }>, { firstLineAt: number }>;
