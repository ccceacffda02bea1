import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

const packages = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Each package's test config. Tests resolve `@drover/*` to the packages' sources, as tRPC's own
 * config does, so a change in one package is seen by the next one's tests without a build. What
 * users run, the built output, is still what every test's child process runs (the CLI, workers,
 * jobs), and the install test installs the packed tarballs.
 */
export function packageTestConfig(options: { runsBuiltCode?: boolean } = {}) {
  return defineProject({
    resolve: { alias: [{ find: /^@drover\/(schemas|scheduling|server|client|worker|cli)$/, replacement: `${packages}$1/src/index.ts` }] },
    test: {
      include: ['src/**/*.test.ts'],
      env: { TZ: 'UTC' },
      // Projects whose tests start the built code in child processes check first that it is current.
      globalSetup: options.runsBuiltCode ? [fileURLToPath(new URL('./vitest.builtCheck.ts', import.meta.url))] : [],
    },
  });
}
