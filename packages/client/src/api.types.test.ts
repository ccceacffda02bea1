// The client's declared results are what the router returns: a procedure whose output changes
// without the client, a client method without a procedure or a procedure without a method fails
// `tsc -b`, which CI runs before the tests. (Assignability, not equality: tRPC's inferred outputs
// spell some unions of @drover/schemas differently, e.g. pull steps, though the values are the same.) Its shipped .d.ts still names only @drover/schemas types (see
// scripts/checkShippedTypes.mjs).
import type { AppRouter } from '@drover/server';
import type { inferRouterOutputs } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import type { DroverClient } from './api.js';

type Outputs = inferRouterOutputs<AppRouter>;
type Namespace = 'flows' | 'deployments' | 'flowRuns' | 'workPools' | 'workQueues' | 'workers';
type Result<F> = F extends (...args: never[]) => Promise<infer R> ? R : never;

/** Each client method's result, by namespace and name. */
type ClientResults = { [N in Namespace]: { [M in keyof DroverClient[N]]: Result<DroverClient[N][M]> } };
/** The router's output for the same names; `never` where the router has no such procedure. */
type RouterResults = { [N in Namespace]: { [M in keyof DroverClient[N]]: M extends keyof Outputs[N] ? Outputs[N][M] : never } };

describe('DroverClient', () => {
  it('declares what the router returns, for every method', () => {
    expectTypeOf<RouterResults>().toExtend<ClientResults>();
    expectTypeOf<Outputs['health']>().toEqualTypeOf<Result<DroverClient['health']>>();
    expectTypeOf<Outputs['version']>().toEqualTypeOf<Result<DroverClient['version']>>();
  });

  it('has a method for every procedure', () => {
    expectTypeOf<{ [N in Namespace]: keyof Outputs[N] }>().toEqualTypeOf<{ [N in Namespace]: keyof DroverClient[N] }>();
  });
});
